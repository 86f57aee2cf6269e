#include "tokens/signer.h"

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace keyhold {

size_t DigestSize(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha224: return 28;
    case HashAlgorithm::kSha256: return 32;
    case HashAlgorithm::kSha384: return 48;
    case HashAlgorithm::kSha512: return 64;
  }
  return 0;
}

absl::string_view HashName(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha224: return "SHA224";
    case HashAlgorithm::kSha256: return "SHA256";
    case HashAlgorithm::kSha384: return "SHA384";
    case HashAlgorithm::kSha512: return "SHA512";
  }
  return "unknown";
}

absl::StatusOr<HashAlgorithm> HashFromName(absl::string_view name) {
  std::string n = absl::AsciiStrToUpper(name);
  if (n == "SHA224" || n == "SHA2-224" || n == "SHA-224") return HashAlgorithm::kSha224;
  if (n == "SHA256" || n == "SHA2-256" || n == "SHA-256") return HashAlgorithm::kSha256;
  if (n == "SHA384" || n == "SHA2-384" || n == "SHA-384") return HashAlgorithm::kSha384;
  if (n == "SHA512" || n == "SHA2-512" || n == "SHA-512") return HashAlgorithm::kSha512;
  return absl::InvalidArgumentError(absl::StrCat(
      "digest \"", name,
      "\" is not supported for signing; use SHA-224, SHA-256, SHA-384 or "
      "SHA-512"));
}

absl::string_view SchemeName(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kRsaPkcs1: return "RSA PKCS#1 v1.5";
    case SignatureScheme::kRsaPss: return "RSA-PSS";
    case SignatureScheme::kEcdsa: return "ECDSA";
    case SignatureScheme::kEd25519: return "Ed25519";
  }
  return "unknown";
}

absl::Status CheckSignInput(const EVP_PKEY* public_key,
                            const SignatureAlgorithm& algorithm,
                            std::span<const uint8_t> input) {
  const char* want = nullptr;
  switch (algorithm.scheme) {
    case SignatureScheme::kRsaPkcs1:
    case SignatureScheme::kRsaPss: want = "RSA"; break;
    case SignatureScheme::kEcdsa: want = "EC"; break;
    case SignatureScheme::kEd25519: want = "ED25519"; break;
  }
  if (!EVP_PKEY_is_a(public_key, want)) {
    return absl::InvalidArgumentError(absl::StrCat(
        SchemeName(algorithm.scheme), " needs an ", want, " key, this key is ",
        EVP_PKEY_get0_type_name(public_key)));
  }
  if (algorithm.scheme == SignatureScheme::kEd25519) {
    if (input.empty()) {
      return absl::InvalidArgumentError("Ed25519 message is empty");
    }
    return absl::OkStatus();
  }
  if (input.size() != DigestSize(algorithm.hash)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "digest is ", input.size(), " bytes; ", HashName(algorithm.hash),
        " digests are ", DigestSize(algorithm.hash), " bytes"));
  }
  if (algorithm.scheme == SignatureScheme::kRsaPss) {
    const int max_salt = EVP_PKEY_get_size(public_key) -
                         static_cast<int>(DigestSize(algorithm.hash)) - 2;
    if (algorithm.pss_salt_length < 0 || algorithm.pss_salt_length > max_salt) {
      return absl::InvalidArgumentError(absl::StrCat(
          "RSA-PSS salt length ", algorithm.pss_salt_length,
          " is outside 0..", max_salt, " for this key"));
    }
  }
  return absl::OkStatus();
}

}  // namespace keyhold
