#include "agent/ca/certificate_builder.h"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/ca/signing.h"
#include "tokens/openssl_error.h"
#include "tokens/pem.h"

namespace keyhold::agent::ca {

namespace {

absl::StatusOr<Asn1IntegerPtr> SerialInteger(const std::string& serial) {
  BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()),
                         static_cast<int>(serial.size()), nullptr));
  Asn1IntegerPtr integer(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!integer) return OpenSslError("encoding the serial number");
  return integer;
}

absl::StatusOr<Asn1TimePtr> Time(absl::Time when) {
  Asn1TimePtr t(ASN1_TIME_set(nullptr, absl::ToTimeT(when)));
  if (!t) return OpenSslError("encoding a time");
  return t;
}

// Adds one extension from OpenSSL's config syntax. Only fixed text and
// names from a validated profile reach here; nothing from a request.
absl::Status AddConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(absl::StrCat("adding ", OBJ_nid2sn(nid), " = ", value));
  }
  return absl::OkStatus();
}

std::string BasicConstraints(const CertificateProfile& profile) {
  if (!profile.is_ca) return "critical,CA:FALSE";
  if (profile.path_length) return absl::StrCat("critical,CA:TRUE,pathlen:", *profile.path_length);
  return "critical,CA:TRUE";
}

std::string KeyUsage(const CertificateProfile& profile, EVP_PKEY* key) {
  std::vector<std::string> usage = profile.key_usage;
  if (profile.rsa_key_encipherment && EVP_PKEY_is_a(key, "RSA") &&
      std::find(usage.begin(), usage.end(), "keyEncipherment") == usage.end()) {
    usage.push_back("keyEncipherment");
  }
  return absl::StrCat("critical,", absl::StrJoin(usage, ","));
}

absl::Status AddSubjectAltNames(X509* cert, const std::vector<SubjectAltName>& names) {
  if (names.empty()) return absl::OkStatus();
  absl::StatusOr<GENERAL_NAMES*> general = ToGeneralNames(names);
  if (!general.ok()) return general.status();
  const int added = X509_add1_ext_i2d(cert, NID_subject_alt_name, *general, /*crit=*/0,
                                      X509V3_ADD_DEFAULT);
  GENERAL_NAMES_free(*general);
  if (added != 1) return OpenSslError("adding subjectAltName");
  return absl::OkStatus();
}

// Copies the algorithm and key bits of spec.public_key_info when given;
// else encodes spec.public_key.
absl::Status SetPublicKey(X509* cert, const CertificateSpec& spec) {
  if (spec.public_key_info == nullptr) {
    if (X509_set_pubkey(cert, spec.public_key) != 1) return OpenSslError("setting the public key");
    return absl::OkStatus();
  }
  const ASN1_OBJECT* algorithm = nullptr;
  const unsigned char* bits = nullptr;
  int bits_len = 0;
  X509_ALGOR* algor = nullptr;
  if (X509_PUBKEY_get0_param(nullptr, &bits, &bits_len, &algor,
                             spec.public_key_info) != 1 || algor == nullptr) {
    return OpenSslError("reading the request's public key");
  }
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(&algorithm, &param_type, &param, algor);
  // set0 takes ownership of copies of each part.
  Asn1ObjectPtr object(OBJ_dup(algorithm));
  void* param_copy = nullptr;
  if (param_type == V_ASN1_OBJECT) {
    param_copy = OBJ_dup(static_cast<const ASN1_OBJECT*>(param));
  } else if (param_type == V_ASN1_SEQUENCE) {
    param_copy = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(param));
  } else if (param_type != V_ASN1_UNDEF && param_type != V_ASN1_NULL) {
    return absl::InvalidArgumentError("the request's key algorithm has unexpected parameters");
  }
  auto* key_bits = static_cast<unsigned char*>(OPENSSL_memdup(bits, static_cast<size_t>(bits_len)));
  if (!object || (param_type > V_ASN1_NULL && param_copy == nullptr) || key_bits == nullptr) {
    OPENSSL_free(key_bits);
    return OpenSslError("copying the request's public key");
  }
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), object.get(), param_type, param_copy,
                             key_bits, bits_len) != 1) {
    OPENSSL_free(key_bits);
    if (param_type == V_ASN1_OBJECT) ASN1_OBJECT_free(static_cast<ASN1_OBJECT*>(param_copy));
    if (param_type == V_ASN1_SEQUENCE) ASN1_STRING_free(static_cast<ASN1_STRING*>(param_copy));
    return OpenSslError("setting the public key");
  }
  object.release();  // owned by the certificate now, as are the others
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<X509Ptr> BuildCertificate(const CertificateSpec& spec, const SigningCa& ca) {
  if (spec.subject == nullptr || spec.public_key == nullptr || spec.profile == nullptr ||
      ca.key == nullptr) {
    return absl::InternalError("BuildCertificate: incomplete specification");
  }
  X509Ptr cert(X509_new_ex(ca.libctx, nullptr));
  if (!cert) return OpenSslError("X509_new_ex");
  X509* x = cert.get();
  absl::StatusOr<Asn1IntegerPtr> serial = SerialInteger(spec.serial);
  if (!serial.ok()) return serial.status();
  absl::StatusOr<Asn1TimePtr> not_before = Time(spec.not_before);
  if (!not_before.ok()) return not_before.status();
  absl::StatusOr<Asn1TimePtr> not_after = Time(spec.not_after);
  if (!not_after.ok()) return not_after.status();
  const X509_NAME* issuer_name =
      ca.certificate != nullptr ? X509_get_subject_name(ca.certificate) : spec.subject;
  if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial->get()) != 1 ||
      X509_set_issuer_name(x, issuer_name) != 1 || X509_set1_notBefore(x, not_before->get()) != 1 ||
      X509_set1_notAfter(x, not_after->get()) != 1 ||
      X509_set_subject_name(x, spec.subject) != 1) {
    return OpenSslError("filling in the certificate");
  }
  if (absl::Status s = SetPublicKey(x, spec); !s.ok()) return s;

  // A self-signed certificate is its own issuer for the SKI/AKI context.
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.certificate != nullptr ? const_cast<X509*>(ca.certificate) : x, x,
                 nullptr, nullptr, 0);
  const CertificateProfile& profile = *spec.profile;
  if (absl::Status s = AddConfExtension(x, &ctx, NID_basic_constraints, BasicConstraints(profile));
      !s.ok()) {
    return s;
  }
  if (!profile.key_usage.empty()) {
    if (absl::Status s = AddConfExtension(x, &ctx, NID_key_usage,
                                          KeyUsage(profile, spec.public_key));
        !s.ok()) {
      return s;
    }
  }
  if (!profile.extended_key_usage.empty()) {
    if (absl::Status s = AddConfExtension(x, &ctx, NID_ext_key_usage,
                                          absl::StrJoin(profile.extended_key_usage, ","));
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = AddConfExtension(x, &ctx, NID_subject_key_identifier, "hash"); !s.ok()) {
    return s;
  }
  if (absl::Status s = AddConfExtension(x, &ctx, NID_authority_key_identifier, "keyid:always");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = AddSubjectAltNames(x, spec.subject_alt_names); !s.ok()) return s;

  absl::StatusOr<EvpMdCtxPtr> signing = SigningContext(ca.libctx, ca.key);
  if (!signing.ok()) return signing.status();
  if (X509_sign_ctx(x, signing->get()) <= 0) {
    return OpenSslError("signing the certificate with the CA key", absl::StatusCode::kUnavailable);
  }
  return cert;
}

absl::StatusOr<X509CrlPtr> BuildCrl(const CrlSpec& spec, const SigningCa& ca) {
  if (ca.certificate == nullptr || ca.key == nullptr) {
    return absl::InternalError("BuildCrl: no CA certificate or key");
  }
  X509CrlPtr crl(X509_CRL_new_ex(ca.libctx, nullptr));
  if (!crl) return OpenSslError("X509_CRL_new_ex");
  absl::StatusOr<Asn1TimePtr> this_update = Time(spec.this_update);
  if (!this_update.ok()) return this_update.status();
  absl::StatusOr<Asn1TimePtr> next_update = Time(spec.next_update);
  if (!next_update.ok()) return next_update.status();
  if (X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.certificate)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), this_update->get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update->get()) != 1) {
    return OpenSslError("filling in the CRL");
  }
  for (const RevokedEntry& entry : spec.revoked) {
    X509RevokedPtr revoked(X509_REVOKED_new());
    absl::StatusOr<Asn1IntegerPtr> serial = SerialInteger(entry.serial);
    if (!serial.ok()) return serial.status();
    absl::StatusOr<Asn1TimePtr> when = Time(entry.revoked_at);
    if (!when.ok()) return when.status();
    if (!revoked || X509_REVOKED_set_serialNumber(revoked.get(), serial->get()) != 1 ||
        X509_REVOKED_set_revocationDate(revoked.get(), when->get()) != 1) {
      return OpenSslError("adding a CRL entry");
    }
    if (entry.reason != RevocationReason::kUnspecified) {
      OpenSslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free> code(ASN1_ENUMERATED_new());
      if (!code || ASN1_ENUMERATED_set(code.get(), static_cast<int>(entry.reason)) != 1 ||
          X509_REVOKED_add1_ext_i2d(revoked.get(), NID_crl_reason, code.get(), 0, 0) != 1) {
        return OpenSslError("adding a CRL reason code");
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), revoked.get()) != 1) {
      return OpenSslError("adding a CRL entry");
    }
    revoked.release();  // owned by the CRL now
  }
  if (X509_CRL_sort(crl.get()) != 1) return OpenSslError("sorting the CRL");

  BignumPtr number_bn(BN_new());
  if (!number_bn || BN_set_word(number_bn.get(), spec.number) != 1) {
    return OpenSslError("encoding the CRL number");
  }
  Asn1IntegerPtr number(BN_to_ASN1_INTEGER(number_bn.get(), nullptr));
  if (!number || X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return OpenSslError("adding the CRL number");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, const_cast<X509*>(ca.certificate), nullptr, nullptr, crl.get(), 0);
  X509ExtensionPtr aki(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!aki || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return OpenSslError("adding the CRL's authorityKeyIdentifier");
  }

  absl::StatusOr<EvpMdCtxPtr> signing = SigningContext(ca.libctx, ca.key);
  if (!signing.ok()) return signing.status();
  if (X509_CRL_sign_ctx(crl.get(), signing->get()) <= 0) {
    return OpenSslError("signing the CRL with the CA key", absl::StatusCode::kUnavailable);
  }
  return crl;
}

absl::StatusOr<std::string> CertificateToPem(const X509* certificate) {
  return ToPem(PEM_write_bio_X509, certificate, "certificate");
}

absl::StatusOr<std::string> CrlToPem(const X509_CRL* crl) {
  return ToPem(PEM_write_bio_X509_CRL, crl, "CRL");
}

absl::StatusOr<std::string> CertificateToDer(const X509* certificate) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(certificate, &der);
  if (len <= 0) return OpenSslError("encoding the certificate");
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<X509Ptr> CertificateFromDer(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return OpenSslError("decoding a stored certificate");
  return cert;
}

}  // namespace keyhold::agent::ca
