#include "agent/proto_convert.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace keyhold::agent {

namespace v1 = ::keyhold::v1;

absl::StatusOr<KeyType> KeyTypeFromProto(v1::KeyType type) {
  switch (type) {
    case v1::KEY_TYPE_EC_P256: return KeyType::kEcP256;
    case v1::KEY_TYPE_EC_P384: return KeyType::kEcP384;
    case v1::KEY_TYPE_RSA_2048: return KeyType::kRsa2048;
    case v1::KEY_TYPE_RSA_3072: return KeyType::kRsa3072;
    case v1::KEY_TYPE_RSA_4096: return KeyType::kRsa4096;
    case v1::KEY_TYPE_ED25519: return KeyType::kEd25519;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "type: unknown or unspecified key type ", static_cast<int>(type)));
  }
}

v1::KeyType KeyTypeToProto(KeyType type) {
  switch (type) {
    case KeyType::kEcP256: return v1::KEY_TYPE_EC_P256;
    case KeyType::kEcP384: return v1::KEY_TYPE_EC_P384;
    case KeyType::kRsa2048: return v1::KEY_TYPE_RSA_2048;
    case KeyType::kRsa3072: return v1::KEY_TYPE_RSA_3072;
    case KeyType::kRsa4096: return v1::KEY_TYPE_RSA_4096;
    case KeyType::kEd25519: return v1::KEY_TYPE_ED25519;
  }
  return v1::KEY_TYPE_UNSPECIFIED;
}

absl::StatusOr<KeyPurpose> PurposeFromProto(v1::KeyPurpose purpose) {
  switch (purpose) {
    case v1::KEY_PURPOSE_CA: return KeyPurpose::kCa;
    case v1::KEY_PURPOSE_TLS_CLIENT: return KeyPurpose::kTlsClient;
    case v1::KEY_PURPOSE_SIGN: return KeyPurpose::kSign;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "purpose: unknown or unspecified key purpose ", static_cast<int>(purpose),
          "; use ca, tls-client or sign"));
  }
}

v1::KeyPurpose PurposeToProto(KeyPurpose purpose) {
  switch (purpose) {
    case KeyPurpose::kCa: return v1::KEY_PURPOSE_CA;
    case KeyPurpose::kTlsClient: return v1::KEY_PURPOSE_TLS_CLIENT;
    case KeyPurpose::kSign: return v1::KEY_PURPOSE_SIGN;
  }
  return v1::KEY_PURPOSE_UNSPECIFIED;
}

absl::StatusOr<HashAlgorithm> HashFromProto(v1::DigestAlgorithm digest,
                                            absl::string_view field) {
  switch (digest) {
    case v1::DIGEST_ALGORITHM_SHA224: return HashAlgorithm::kSha224;
    case v1::DIGEST_ALGORITHM_SHA256: return HashAlgorithm::kSha256;
    case v1::DIGEST_ALGORITHM_SHA384: return HashAlgorithm::kSha384;
    case v1::DIGEST_ALGORITHM_SHA512: return HashAlgorithm::kSha512;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": unknown or unspecified digest algorithm ", static_cast<int>(digest)));
  }
}

absl::StatusOr<SignatureAlgorithm> SignatureAlgorithmFromRequest(
    const v1::SignRequest& request, KeyType key_type) {
  SignatureAlgorithm alg;
  const KeyFamily family = FamilyOf(key_type);
  v1::SignatureScheme scheme = request.scheme();
  if (scheme == v1::SIGNATURE_SCHEME_DEFAULT) {
    scheme = family == KeyFamily::kRsa  ? v1::SIGNATURE_SCHEME_RSA_PKCS1
             : family == KeyFamily::kEc ? v1::SIGNATURE_SCHEME_ECDSA
                                        : v1::SIGNATURE_SCHEME_ED25519;
  }
  switch (scheme) {
    case v1::SIGNATURE_SCHEME_RSA_PKCS1: alg.scheme = SignatureScheme::kRsaPkcs1; break;
    case v1::SIGNATURE_SCHEME_RSA_PSS: alg.scheme = SignatureScheme::kRsaPss; break;
    case v1::SIGNATURE_SCHEME_ECDSA: alg.scheme = SignatureScheme::kEcdsa; break;
    case v1::SIGNATURE_SCHEME_ED25519: alg.scheme = SignatureScheme::kEd25519; break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("scheme: unknown signature scheme ", static_cast<int>(scheme)));
  }
  if (alg.scheme == SignatureScheme::kEd25519) return alg;
  absl::StatusOr<HashAlgorithm> hash = HashFromProto(request.digest_algorithm(), "digest_algorithm");
  if (!hash.ok()) return hash.status();
  alg.hash = *hash;
  if (alg.scheme == SignatureScheme::kRsaPss) {
    alg.mgf1_hash = alg.hash;
    if (request.mgf1_digest() != v1::DIGEST_ALGORITHM_UNSPECIFIED) {
      absl::StatusOr<HashAlgorithm> mgf1 = HashFromProto(request.mgf1_digest(), "mgf1_digest");
      if (!mgf1.ok()) return mgf1.status();
      alg.mgf1_hash = *mgf1;
    }
    if (request.pss_salt_length() < 0) {
      return absl::InvalidArgumentError("pss_salt_length: must not be negative");
    }
    alg.pss_salt_length = request.has_pss_salt_length()
                              ? request.pss_salt_length()
                              : static_cast<int>(DigestSize(alg.hash));
  }
  return alg;
}

}  // namespace keyhold::agent
