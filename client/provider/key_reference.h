// How applications name an agent-held key for the provider module:
//  - a URI, "keyhold:LABEL" or "keyhold:id=HEX" (the OSSL_STORE scheme);
//  - a PEM key reference file (`keyhold key show LABEL --reference`):
//
//      -----BEGIN KEYHOLD KEY REFERENCE-----
//      base64 of the text "version: 1\nlabel: L\nid: HEX\nfamily: ec\n"
//      -----END KEYHOLD KEY REFERENCE-----
//
//    It holds no secret: whoever uses it still needs the agent's permission
//    (the caller's uid) for every signature. `family` lets a decoder decline
//    a reference for another key family without asking the agent.
#ifndef KEYHOLD_CLIENT_PROVIDER_KEY_REFERENCE_H_
#define KEYHOLD_CLIENT_PROVIDER_KEY_REFERENCE_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "tokens/key_type.h"

namespace keyhold::provider_module {

inline constexpr char kKeyReferencePemName[] = "KEYHOLD KEY REFERENCE";
inline constexpr char kUriScheme[] = "keyhold";

// Names a key by label or by id (raw CKA_ID bytes); exactly one is set.
struct KeyLocator {
  std::string label;
  std::string id;
};

struct KeyReference {
  std::string label;
  std::string id;  // Raw CKA_ID bytes; never empty.
  KeyFamily family = KeyFamily::kEc;
};

// "keyhold:LABEL" or "keyhold:id=HEX" (also "keyhold:label=LABEL").
absl::StatusOr<KeyLocator> ParseKeyholdUri(absl::string_view uri);

// The PEM file (with its BEGIN/END lines).
std::string KeyReferencePem(const KeyReference& reference);
// The reference in a PEM block's decoded body (the text above).
absl::StatusOr<KeyReference> ParseKeyReferenceBody(absl::string_view body);

std::string HexEncode(absl::string_view bytes);
absl::StatusOr<std::string> HexDecode(absl::string_view hex);

}  // namespace keyhold::provider_module

#endif  // KEYHOLD_CLIENT_PROVIDER_KEY_REFERENCE_H_
