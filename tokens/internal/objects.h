// Small, checked wrappers over the Cryptoki object calls: templates that own
// their values, C_FindObjects* with a guaranteed C_FindObjectsFinal, and
// typed attribute reads.
#ifndef KEYHOLD_TOKENS_INTERNAL_OBJECTS_H_
#define KEYHOLD_TOKENS_INTERNAL_OBJECTS_H_

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "tokens/internal/cryptoki.h"

namespace keyhold::pkcs11 {

// A CK_ATTRIBUTE array whose values live as long as the template.
class Template {
 public:
  Template& Bool(CK_ATTRIBUTE_TYPE type, bool value);
  Template& Ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value);
  Template& Bytes(CK_ATTRIBUTE_TYPE type, std::span<const uint8_t> value);
  Template& String(CK_ATTRIBUTE_TYPE type, absl::string_view value);

  CK_ATTRIBUTE* data() { return attrs_.data(); }
  CK_ULONG size() const { return attrs_.size(); }

 private:
  std::deque<std::vector<uint8_t>> values_;  // deque: stable addresses
  std::vector<CK_ATTRIBUTE> attrs_;
};

struct ObjectView {
  CK_FUNCTION_LIST* ck;
  CK_SESSION_HANDLE session;
  CK_OBJECT_HANDLE object;
};

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(
    CK_FUNCTION_LIST* ck, CK_SESSION_HANDLE session, Template& match);

// Reads a variable-length attribute. A sensitive or unknown attribute is an
// error carrying the CK_RV (or CKR_ATTRIBUTE_SENSITIVE when the module
// answers CK_UNAVAILABLE_INFORMATION without an error).
absl::StatusOr<std::vector<uint8_t>> GetBytes(const ObjectView& obj,
                                              CK_ATTRIBUTE_TYPE type);
absl::StatusOr<CK_ULONG> GetUlong(const ObjectView& obj, CK_ATTRIBUTE_TYPE type);
absl::StatusOr<bool> GetBool(const ObjectView& obj, CK_ATTRIBUTE_TYPE type);

}  // namespace keyhold::pkcs11

#endif  // KEYHOLD_TOKENS_INTERNAL_OBJECTS_H_
