#include "tests/testing/test_pki.h"

#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tokens/openssl_error.h"

namespace keyhold::testing {
namespace {

constexpr long kBackdateSeconds = 3600;
constexpr long kLifetimeSeconds = 24 * 3600;

absl::StatusOr<EvpMdCtxPtr> StartSigning(const SigningKey& signer) {
  if (signer.key == nullptr) {
    return absl::InvalidArgumentError("no signing key");
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const bool pure = EVP_PKEY_is_a(signer.key, "ED25519");
  EVP_PKEY_CTX* pctx = nullptr;
  if (ctx == nullptr ||
      EVP_DigestSignInit_ex(ctx.get(), &pctx,
                            pure ? nullptr : signer.digest.c_str(),
                            signer.libctx, nullptr, signer.key, nullptr) != 1) {
    return OpenSslError("starting to sign");
  }
  if (signer.rsa_pss &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return OpenSslError("choosing RSA-PSS");
  }
  return ctx;
}

absl::StatusOr<X509NamePtr> NameWithCommonName(std::string_view common_name) {
  X509NamePtr name(X509_NAME_new());
  if (name == nullptr ||
      X509_NAME_add_entry_by_txt(
          name.get(), "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(common_name.data()),
          static_cast<int>(common_name.size()), -1, 0) != 1) {
    return OpenSslError("building a name");
  }
  return name;
}

absl::Status SetRandomSerial(X509* certificate) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslError("serial");
  bytes[0] &= 0x7F;  // positive
  bytes[0] |= 0x01;  // and exactly 16 bytes long
  BignumPtr number(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  Asn1IntegerPtr serial(
      number == nullptr ? nullptr : BN_to_ASN1_INTEGER(number.get(), nullptr));
  if (serial == nullptr ||
      X509_set_serialNumber(certificate, serial.get()) != 1) {
    return OpenSslError("setting the serial");
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* certificate, X509* issuer, int nid,
                          const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, certificate, nullptr, nullptr, 0);
  X509ExtensionPtr extension(
      X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  if (extension == nullptr ||
      X509_add_ext(certificate, extension.get(), -1) != 1) {
    return OpenSslError(absl::StrCat("adding ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

// Everything a certificate needs except extensions and the signature.
absl::StatusOr<X509Ptr> CertificateSkeleton(X509_NAME* issuer_name,
                                            std::string_view common_name,
                                            EVP_PKEY* subject_key) {
  X509Ptr certificate(X509_new());
  if (certificate == nullptr || X509_set_version(certificate.get(), 2) != 1) {
    return OpenSslError("new certificate");
  }
  if (absl::Status s = SetRandomSerial(certificate.get()); !s.ok()) return s;
  absl::StatusOr<X509NamePtr> subject = NameWithCommonName(common_name);
  if (!subject.ok()) return subject.status();
  if (X509_set_subject_name(certificate.get(), subject->get()) != 1 ||
      X509_set_issuer_name(certificate.get(), issuer_name != nullptr
                                                  ? issuer_name
                                                  : subject->get()) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(certificate.get()),
                      -kBackdateSeconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(certificate.get()),
                      kLifetimeSeconds) == nullptr) {
    return OpenSslError("naming the certificate");
  }
  // For a keyhold key this exports the public half to the default
  // provider's encoder.
  if (X509_set_pubkey(certificate.get(), subject_key) != 1) {
    return OpenSslError("setting the certificate's public key");
  }
  return certificate;
}

absl::Status SignCertificate(X509* certificate, const SigningKey& signer) {
  absl::StatusOr<EvpMdCtxPtr> ctx = StartSigning(signer);
  if (!ctx.ok()) return ctx.status();
  if (X509_sign_ctx(certificate, ctx->get()) <= 0) {
    return OpenSslError("signing the certificate");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EvpPkeyPtr> GenerateTestKey(OSSL_LIB_CTX* libctx, KeyType type) {
  EVP_PKEY* key = nullptr;
  switch (FamilyOf(type)) {
    case KeyFamily::kRsa:
      key = EVP_PKEY_Q_keygen(libctx, nullptr, "RSA",
                              static_cast<size_t>(RsaBits(type)));
      break;
    case KeyFamily::kEc:
      key = EVP_PKEY_Q_keygen(libctx, nullptr, "EC",
                              std::string(EcGroupName(type)).c_str());
      break;
    case KeyFamily::kEd25519:
      key = EVP_PKEY_Q_keygen(libctx, nullptr, "ED25519");
      break;
  }
  if (key == nullptr) {
    return OpenSslError(
        absl::StrCat("generating a ", KeyTypeName(type), " key"));
  }
  return EvpPkeyPtr(key);
}

absl::StatusOr<X509Ptr> MakeCaCertificate(const SigningKey& signer,
                                          std::string_view common_name) {
  absl::StatusOr<X509Ptr> certificate =
      CertificateSkeleton(nullptr, common_name, signer.key);
  if (!certificate.ok()) return certificate.status();
  X509* cert = certificate->get();
  for (const auto& [nid, value] : std::vector<std::pair<int, std::string>>{
           {NID_basic_constraints, "critical,CA:TRUE"},
           {NID_key_usage, "critical,keyCertSign,cRLSign"},
           {NID_subject_key_identifier, "hash"}}) {
    if (absl::Status s = AddExtension(cert, cert, nid, value); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = SignCertificate(cert, signer); !s.ok()) return s;
  return certificate;
}

absl::StatusOr<CertificateAuthority> MakeCertificateAuthority(
    OSSL_LIB_CTX* libctx, std::string_view common_name) {
  absl::StatusOr<EvpPkeyPtr> key = GenerateTestKey(libctx, KeyType::kEcP256);
  if (!key.ok()) return key.status();
  absl::StatusOr<X509Ptr> certificate =
      MakeCaCertificate({.key = key->get(), .libctx = libctx}, common_name);
  if (!certificate.ok()) return certificate.status();
  return CertificateAuthority{*std::move(key), *std::move(certificate)};
}

absl::StatusOr<X509Ptr> IssueCertificate(X509* issuer_certificate,
                                         const SigningKey& issuer,
                                         EVP_PKEY* subject_key,
                                         const LeafProfile& profile) {
  absl::StatusOr<X509Ptr> certificate =
      CertificateSkeleton(X509_get_subject_name(issuer_certificate),
                          profile.common_name, subject_key);
  if (!certificate.ok()) return certificate.status();
  X509* cert = certificate->get();
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, profile.purpose == CertificatePurpose::kServer
                              ? "serverAuth"
                              : "clientAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  if (!profile.dns_names.empty()) {
    std::vector<std::string> names;
    for (const std::string& dns : profile.dns_names) {
      names.push_back("DNS:" + dns);
    }
    extensions.emplace_back(NID_subject_alt_name, absl::StrJoin(names, ","));
  }
  for (const auto& [nid, value] : extensions) {
    if (absl::Status s = AddExtension(cert, issuer_certificate, nid, value);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = SignCertificate(cert, issuer); !s.ok()) return s;
  return certificate;
}

absl::StatusOr<X509ReqPtr> MakeCertificateRequest(
    const SigningKey& signer, std::string_view common_name) {
  X509ReqPtr request(X509_REQ_new());
  absl::StatusOr<X509NamePtr> subject = NameWithCommonName(common_name);
  if (!subject.ok()) return subject.status();
  if (request == nullptr || X509_REQ_set_version(request.get(), 0) != 1 ||
      X509_REQ_set_subject_name(request.get(), subject->get()) != 1 ||
      X509_REQ_set_pubkey(request.get(), signer.key) != 1) {
    return OpenSslError("building the CSR");
  }
  absl::StatusOr<EvpMdCtxPtr> ctx = StartSigning(signer);
  if (!ctx.ok()) return ctx.status();
  if (X509_REQ_sign_ctx(request.get(), ctx->get()) <= 0) {
    return OpenSslError("signing the CSR");
  }
  return request;
}

absl::StatusOr<X509CrlPtr> MakeCrl(X509* issuer_certificate,
                                   const SigningKey& issuer,
                                   const std::vector<X509*>& revoked) {
  X509CrlPtr crl(X509_CRL_new());
  Asn1TimePtr last_update(X509_gmtime_adj(nullptr, -kBackdateSeconds));
  Asn1TimePtr next_update(X509_gmtime_adj(nullptr, kLifetimeSeconds));
  if (crl == nullptr || last_update == nullptr || next_update == nullptr ||
      X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(
          crl.get(), X509_get_subject_name(issuer_certificate)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return OpenSslError("building the CRL");
  }
  for (X509* certificate : revoked) {
    X509RevokedPtr entry(X509_REVOKED_new());
    if (entry == nullptr ||
        X509_REVOKED_set_serialNumber(
            entry.get(), X509_get_serialNumber(certificate)) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), last_update.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) {
      return OpenSslError("adding a CRL entry");
    }
    entry.release();  // Now owned by the CRL.
  }
  if (X509_CRL_sort(crl.get()) != 1) return OpenSslError("sorting the CRL");
  absl::StatusOr<EvpMdCtxPtr> ctx = StartSigning(issuer);
  if (!ctx.ok()) return ctx.status();
  if (X509_CRL_sign_ctx(crl.get(), ctx->get()) <= 0) {
    return OpenSslError("signing the CRL");
  }
  return crl;
}

absl::Status VerifyCertificate(X509* leaf, X509* ca, X509_CRL* crl) {
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr ||
      X509_STORE_add_cert(store.get(), ca) != 1 ||
      (crl != nullptr && X509_STORE_add_crl(store.get(), crl) != 1)) {
    return OpenSslError("building the trust store");
  }
  if (crl != nullptr) X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1) {
    return OpenSslError("starting verification");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate does not verify: ", X509_verify_cert_error_string(error)));
  }
  return absl::OkStatus();
}

}  // namespace keyhold::testing
