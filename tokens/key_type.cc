#include "tokens/key_type.h"

#include <array>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace keyhold {
namespace {

constexpr std::array<KeyType, 6> kAllTypes = {
    KeyType::kEcP256,  KeyType::kEcP384,  KeyType::kRsa2048,
    KeyType::kRsa3072, KeyType::kRsa4096, KeyType::kEd25519};

}  // namespace

absl::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcP256: return "ec-p256";
    case KeyType::kEcP384: return "ec-p384";
    case KeyType::kRsa2048: return "rsa-2048";
    case KeyType::kRsa3072: return "rsa-3072";
    case KeyType::kRsa4096: return "rsa-4096";
    case KeyType::kEd25519: return "ed25519";
  }
  return "unknown";
}

absl::StatusOr<KeyType> ParseKeyType(absl::string_view name) {
  for (KeyType type : kAllTypes) {
    if (KeyTypeName(type) == name) return type;
  }
  std::vector<absl::string_view> names;
  for (KeyType type : kAllTypes) names.push_back(KeyTypeName(type));
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown key type \"", name, "\"; expected one of ",
      absl::StrJoin(names, ", ")));
}

std::span<const KeyType> AllKeyTypes() { return kAllTypes; }

KeyFamily FamilyOf(KeyType type) {
  switch (type) {
    case KeyType::kEcP256:
    case KeyType::kEcP384:
      return KeyFamily::kEc;
    case KeyType::kEd25519:
      return KeyFamily::kEd25519;
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
    case KeyType::kRsa4096:
      return KeyFamily::kRsa;
  }
  return KeyFamily::kRsa;
}

int RsaBits(KeyType type) {
  switch (type) {
    case KeyType::kRsa2048: return 2048;
    case KeyType::kRsa3072: return 3072;
    case KeyType::kRsa4096: return 4096;
    default: return 0;
  }
}

absl::string_view EcGroupName(KeyType type) {
  switch (type) {
    case KeyType::kEcP256: return "prime256v1";
    case KeyType::kEcP384: return "secp384r1";
    default: return "";
  }
}

}  // namespace keyhold
