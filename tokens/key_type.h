#ifndef KEYHOLD_TOKENS_KEY_TYPE_H_
#define KEYHOLD_TOKENS_KEY_TYPE_H_

#include <span>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"

namespace keyhold {

// The key types keyhold generates. Names are the CLI/config spelling.
enum class KeyType { kEcP256, kEcP384, kRsa2048, kRsa3072, kRsa4096, kEd25519 };

enum class KeyFamily { kRsa, kEc, kEd25519 };

// "ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519".
absl::string_view KeyTypeName(KeyType type);
absl::StatusOr<KeyType> ParseKeyType(absl::string_view name);
std::span<const KeyType> AllKeyTypes();

KeyFamily FamilyOf(KeyType type);
// RSA modulus bits; 0 for non-RSA types.
int RsaBits(KeyType type);
// OpenSSL group name ("prime256v1", "secp384r1"); empty for non-EC types.
absl::string_view EcGroupName(KeyType type);

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_KEY_TYPE_H_
