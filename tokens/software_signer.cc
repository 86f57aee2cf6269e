#include "tokens/software_signer.h"

#include <string>

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/openssl_error.h"

namespace keyhold {
namespace {

absl::StatusOr<EvpPkeyPtr> GenerateKey(KeyType type) {
  const char* algorithm = nullptr;
  switch (FamilyOf(type)) {
    case KeyFamily::kRsa: algorithm = "RSA"; break;
    case KeyFamily::kEc: algorithm = "EC"; break;
    case KeyFamily::kEd25519: algorithm = "ED25519"; break;
  }
  EvpPkeyCtxPtr ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, algorithm, "provider=default"));
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) <= 0) {
    return OpenSslError(
        absl::StrCat("preparing ", KeyTypeName(type), " key generation"));
  }
  if (FamilyOf(type) == KeyFamily::kRsa &&
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), RsaBits(type)) <= 0) {
    return OpenSslError("setting RSA key size");
  }
  if (FamilyOf(type) == KeyFamily::kEc &&
      EVP_PKEY_CTX_set_group_name(
          ctx.get(), std::string(EcGroupName(type)).c_str()) <= 0) {
    return OpenSslError("setting EC group");
  }
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &key) <= 0) {
    return OpenSslError(absl::StrCat("generating ", KeyTypeName(type), " key"));
  }
  return EvpPkeyPtr(key);
}

// Round-trips the SubjectPublicKeyInfo so the copy cannot carry private
// parts, whatever the source key holds.
absl::StatusOr<EvpPkeyPtr> PublicCopy(EVP_PKEY* key) {
  const int length = i2d_PUBKEY(key, nullptr);
  if (length <= 0) return OpenSslError("encoding public key");
  std::vector<uint8_t> der(static_cast<size_t>(length));
  uint8_t* out = der.data();
  if (i2d_PUBKEY(key, &out) != length) {
    return OpenSslError("encoding public key");
  }
  const uint8_t* in = der.data();
  EvpPkeyPtr copy(d2i_PUBKEY(nullptr, &in, length));
  if (copy == nullptr) return OpenSslError("decoding public key");
  return copy;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SoftwareSigner>> SoftwareSigner::Generate(
    KeyType type) {
  absl::StatusOr<EvpPkeyPtr> private_key = GenerateKey(type);
  if (!private_key.ok()) return private_key.status();
  absl::StatusOr<EvpPkeyPtr> public_key = PublicCopy(private_key->get());
  if (!public_key.ok()) return public_key.status();
  return std::unique_ptr<SoftwareSigner>(
      new SoftwareSigner(*std::move(private_key), *std::move(public_key)));
}

absl::StatusOr<std::vector<uint8_t>> SoftwareSigner::Sign(
    const SignatureAlgorithm& algorithm, std::span<const uint8_t> input) {
  if (absl::Status s = CheckSignInput(public_key_.get(), algorithm, input);
      !s.ok()) {
    return s;
  }
  if (algorithm.scheme == SignatureScheme::kEd25519) return SignMessage(input);
  return SignDigest(algorithm, input);
}

absl::StatusOr<std::vector<uint8_t>> SoftwareSigner::SignDigest(
    const SignatureAlgorithm& algorithm, std::span<const uint8_t> digest) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, private_key_.get(),
                                               "provider=default"));
  if (ctx == nullptr || EVP_PKEY_sign_init(ctx.get()) <= 0) {
    return OpenSslError("preparing to sign");
  }

  // OSSL_PARAM wants mutable strings; these outlive the params array.
  std::string digest_name(HashName(algorithm.hash));
  std::string mgf1_name(HashName(algorithm.mgf1_hash));
  std::string pad_mode = algorithm.scheme == SignatureScheme::kRsaPss
                             ? OSSL_PKEY_RSA_PAD_MODE_PSS
                             : OSSL_PKEY_RSA_PAD_MODE_PKCSV15;
  int salt_length = algorithm.pss_salt_length;

  std::vector<OSSL_PARAM> params;
  params.push_back(OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                                    digest_name.data(), 0));
  if (algorithm.scheme != SignatureScheme::kEcdsa) {
    params.push_back(OSSL_PARAM_construct_utf8_string(
        OSSL_SIGNATURE_PARAM_PAD_MODE, pad_mode.data(), 0));
  }
  if (algorithm.scheme == SignatureScheme::kRsaPss) {
    params.push_back(OSSL_PARAM_construct_utf8_string(
        OSSL_SIGNATURE_PARAM_MGF1_DIGEST, mgf1_name.data(), 0));
    params.push_back(OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
                                              &salt_length));
  }
  params.push_back(OSSL_PARAM_construct_end());
  if (EVP_PKEY_CTX_set_params(ctx.get(), params.data()) <= 0) {
    return OpenSslError(
        absl::StrCat("configuring ", SchemeName(algorithm.scheme), " signing"));
  }

  size_t length = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &length, digest.data(),
                    digest.size()) <= 0) {
    return OpenSslError("sizing signature");
  }
  std::vector<uint8_t> signature(length);
  if (EVP_PKEY_sign(ctx.get(), signature.data(), &length, digest.data(),
                    digest.size()) <= 0) {
    return OpenSslError(absl::StrCat(SchemeName(algorithm.scheme), " signing"));
  }
  signature.resize(length);
  return signature;
}

absl::StatusOr<std::vector<uint8_t>> SoftwareSigner::SignMessage(
    std::span<const uint8_t> message) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr,
                            "provider=default", private_key_.get(),
                            nullptr) <= 0) {
    return OpenSslError("preparing Ed25519 signing");
  }
  size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, message.data(),
                     message.size()) <= 0) {
    return OpenSslError("sizing Ed25519 signature");
  }
  std::vector<uint8_t> signature(length);
  if (EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(),
                     message.size()) <= 0) {
    return OpenSslError("Ed25519 signing");
  }
  signature.resize(length);
  return signature;
}

}  // namespace keyhold
