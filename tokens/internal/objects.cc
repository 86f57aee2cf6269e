#include "tokens/internal/objects.h"

#include <cstring>

#include "absl/strings/string_view.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace keyhold::pkcs11 {

Template& Template::Bytes(CK_ATTRIBUTE_TYPE type,
                          std::span<const uint8_t> value) {
  std::vector<uint8_t>& stored = values_.emplace_back(value.begin(), value.end());
  attrs_.push_back(CK_ATTRIBUTE{type, stored.data(),
                                static_cast<CK_ULONG>(stored.size())});
  return *this;
}

Template& Template::Bool(CK_ATTRIBUTE_TYPE type, bool value) {
  const CK_BBOOL b = value ? CK_TRUE : CK_FALSE;
  return Bytes(type, {&b, sizeof(b)});
}

Template& Template::Ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
  return Bytes(type, {reinterpret_cast<const uint8_t*>(&value), sizeof(value)});
}

Template& Template::String(CK_ATTRIBUTE_TYPE type, absl::string_view value) {
  return Bytes(type, {reinterpret_cast<const uint8_t*>(value.data()),
                      value.size()});
}

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(
    CK_FUNCTION_LIST* ck, CK_SESSION_HANDLE session, Template& match) {
  CK_RV rv = ck->C_FindObjectsInit(session, match.data(), match.size());
  if (rv != CKR_OK) return CkError(rv, "C_FindObjectsInit");
  absl::Cleanup final = [&] { ck->C_FindObjectsFinal(session); };
  std::vector<CK_OBJECT_HANDLE> found;
  CK_OBJECT_HANDLE batch[64];
  for (;;) {
    CK_ULONG n = 0;
    rv = ck->C_FindObjects(session, batch, 64, &n);
    if (rv != CKR_OK) return CkError(rv, "C_FindObjects");
    if (n == 0) break;
    found.insert(found.end(), batch, batch + n);
  }
  return found;
}

absl::StatusOr<std::vector<uint8_t>> GetBytes(const ObjectView& obj,
                                              CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE attr{type, nullptr, 0};
  CK_RV rv = obj.ck->C_GetAttributeValue(obj.session, obj.object, &attr, 1);
  if (rv != CKR_OK) {
    return CkError(rv, absl::StrCat("C_GetAttributeValue(0x", absl::Hex(type), ")"));
  }
  if (attr.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return CkError(CKR_ATTRIBUTE_SENSITIVE,
                   absl::StrCat("C_GetAttributeValue(0x", absl::Hex(type), ")"));
  }
  std::vector<uint8_t> value(attr.ulValueLen);
  attr.pValue = value.data();
  rv = obj.ck->C_GetAttributeValue(obj.session, obj.object, &attr, 1);
  if (rv != CKR_OK) {
    return CkError(rv, absl::StrCat("C_GetAttributeValue(0x", absl::Hex(type), ")"));
  }
  value.resize(attr.ulValueLen);
  return value;
}

absl::StatusOr<CK_ULONG> GetUlong(const ObjectView& obj, CK_ATTRIBUTE_TYPE type) {
  absl::StatusOr<std::vector<uint8_t>> bytes = GetBytes(obj, type);
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() != sizeof(CK_ULONG)) {
    return absl::InternalError(
        absl::StrCat("attribute 0x", absl::Hex(type), " has an odd size"));
  }
  CK_ULONG value;
  std::memcpy(&value, bytes->data(), sizeof(value));
  return value;
}

absl::StatusOr<bool> GetBool(const ObjectView& obj, CK_ATTRIBUTE_TYPE type) {
  absl::StatusOr<std::vector<uint8_t>> bytes = GetBytes(obj, type);
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() != sizeof(CK_BBOOL)) {
    return absl::InternalError(
        absl::StrCat("attribute 0x", absl::Hex(type), " has an odd size"));
  }
  return (*bytes)[0] != CK_FALSE;
}

}  // namespace keyhold::pkcs11
