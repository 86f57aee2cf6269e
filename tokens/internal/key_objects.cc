#include "tokens/internal/key_objects.h"

#include <p11-kit/uri.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/internal/module.h"
#include "tokens/internal/objects.h"

namespace keyhold::pkcs11 {

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindById(
    CK_FUNCTION_LIST* ck, CK_SESSION_HANDLE session, CK_OBJECT_CLASS cls,
    std::span<const uint8_t> id) {
  Template match;
  match.Ulong(CKA_CLASS, cls).Bytes(CKA_ID, id);
  return FindObjects(ck, session, match);
}

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindByLabel(
    CK_FUNCTION_LIST* ck, CK_SESSION_HANDLE session, CK_OBJECT_CLASS cls,
    absl::string_view label) {
  Template match;
  match.Ulong(CKA_CLASS, cls).String(CKA_LABEL, label);
  return FindObjects(ck, session, match);
}

absl::StatusOr<TokenPublicKey> PublicKeyById(CK_FUNCTION_LIST* ck,
                                             CK_SESSION_HANDLE session,
                                             std::span<const uint8_t> id) {
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> pubs =
      FindById(ck, session, CKO_PUBLIC_KEY, id);
  if (!pubs.ok()) return pubs.status();
  if (pubs->empty()) {
    return absl::NotFoundError(
        "the key has no public key object on the token (keyhold keeps one "
        "next to every key it generates)");
  }
  return ReadPublicKey(ck, session, pubs->front());
}

absl::StatusOr<KeyInfo> DescribeKey(const TokenState& state,
                                    CK_SESSION_HANDLE session,
                                    CK_OBJECT_HANDLE private_key) {
  ObjectView obj{state.ck(), session, private_key};
  absl::StatusOr<std::vector<uint8_t>> id = GetBytes(obj, CKA_ID);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::vector<uint8_t>> label = GetBytes(obj, CKA_LABEL);
  if (!label.ok()) return label.status();
  absl::StatusOr<TokenPublicKey> pub = PublicKeyById(state.ck(), session, *id);
  if (!pub.ok()) return pub.status();
  KeyInfo info;
  info.label.assign(label->begin(), label->end());
  info.id = *std::move(id);
  info.type = pub->type;
  info.uri = KeyUri(state.raw_info(), info.id, info.label);
  return info;
}

std::string KeyUri(const CK_TOKEN_INFO& token, std::span<const uint8_t> id,
                   absl::string_view label) {
  P11KitUri* uri = p11_kit_uri_new();
  const CK_TOKEN_INFO padded = BlankPadded(token);
  std::memcpy(p11_kit_uri_get_token_info(uri), &padded, sizeof(padded));
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE attrs[] = {
      {CKA_CLASS, &cls, sizeof(cls)},
      {CKA_ID, const_cast<uint8_t*>(id.data()), id.size()},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
  };
  p11_kit_uri_set_attributes(uri, attrs, 3);
  char* text = nullptr;
  std::string out;
  if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &text) ==
      P11_KIT_URI_OK) {
    out = text;
    std::free(text);
  }
  p11_kit_uri_free(uri);
  return out;
}

}  // namespace keyhold::pkcs11
