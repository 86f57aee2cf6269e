#include "client/provider/key_reference.h"

#include <openssl/pem.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tokens/openssl_ptr.h"
#include "tokens/pem.h"

namespace keyhold::provider_module {
namespace {

constexpr absl::string_view kVersionLine = "version: 1";

absl::string_view FamilyName(KeyFamily family) {
  switch (family) {
    case KeyFamily::kRsa: return "rsa";
    case KeyFamily::kEc: return "ec";
    case KeyFamily::kEd25519: return "ed25519";
  }
  return "";
}

// Labels as the agent allows them: [A-Za-z0-9._-]{1,64}.
bool IsValidLabel(absl::string_view label) {
  if (label.empty() || label.size() > 64) return false;
  for (char c : label) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0xf]);
  }
  return hex;
}

absl::StatusOr<std::string> HexDecode(absl::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a key id is 1 to 128 bytes of hex, an even number of digits: \"",
        hex, "\""));
  }
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = nibble(hex[i]);
    const int low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("not a hex key id: \"", hex, "\""));
    }
    bytes.push_back(static_cast<char>(high << 4 | low));
  }
  return bytes;
}

absl::StatusOr<KeyLocator> ParseKeyholdUri(absl::string_view uri) {
  const std::string prefix = absl::StrCat(kUriScheme, ":");
  if (!absl::StartsWith(uri, prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a keyhold: URI: \"", uri, "\""));
  }
  absl::string_view rest = uri.substr(prefix.size());
  KeyLocator locator;
  if (absl::ConsumePrefix(&rest, "id=")) {
    absl::StatusOr<std::string> id = HexDecode(rest);
    if (!id.ok()) return id.status();
    locator.id = *std::move(id);
    return locator;
  }
  absl::ConsumePrefix(&rest, "label=");
  if (!IsValidLabel(rest)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", uri,
        "\" is not keyhold:LABEL (LABEL is 1-64 of A-Z a-z 0-9 . _ -) or "
        "keyhold:id=HEX"));
  }
  locator.label = std::string(rest);
  return locator;
}

std::string KeyReferencePem(const KeyReference& reference) {
  const std::string body =
      absl::StrCat(kVersionLine, "\nlabel: ", reference.label,
                   "\nid: ", HexEncode(reference.id),
                   "\nfamily: ", FamilyName(reference.family), "\n");
  absl::StatusOr<std::string> pem = DerToPem(kKeyReferencePemName, body);
  return pem.ok() ? *std::move(pem) : "";
}

absl::StatusOr<KeyReference> ParseKeyReferenceBody(absl::string_view body) {
  std::vector<absl::string_view> lines =
      absl::StrSplit(body, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kVersionLine) {
    return absl::InvalidArgumentError(
        "not a version 1 keyhold key reference");
  }
  KeyReference reference;
  bool have_family = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> field =
        absl::StrSplit(lines[i], absl::MaxSplits(": ", 1));
    if (field.first == "label") {
      if (!IsValidLabel(field.second)) {
        return absl::InvalidArgumentError("key reference: bad label");
      }
      reference.label = std::string(field.second);
    } else if (field.first == "id") {
      absl::StatusOr<std::string> id = HexDecode(field.second);
      if (!id.ok()) return id.status();
      reference.id = *std::move(id);
    } else if (field.first == "family") {
      have_family = true;
      if (field.second == "rsa") {
        reference.family = KeyFamily::kRsa;
      } else if (field.second == "ec") {
        reference.family = KeyFamily::kEc;
      } else if (field.second == "ed25519") {
        reference.family = KeyFamily::kEd25519;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "key reference: unknown key family \"", field.second, "\""));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "key reference: unknown field \"", field.first, "\""));
    }
  }
  if (reference.id.empty() || !have_family) {
    return absl::InvalidArgumentError(
        "key reference: the id and family lines are required");
  }
  return reference;
}

}  // namespace keyhold::provider_module
