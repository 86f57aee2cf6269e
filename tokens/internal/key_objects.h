// Finding a key's objects (private, public, certificate) by CKA_ID or
// label, and describing them as KeyInfo. Shared by Token's key and
// certificate operations.
#ifndef KEYHOLD_TOKENS_INTERNAL_KEY_OBJECTS_H_
#define KEYHOLD_TOKENS_INTERNAL_KEY_OBJECTS_H_

#include <span>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "tokens/internal/public_key.h"
#include "tokens/internal/token_state.h"
#include "tokens/token.h"

namespace keyhold::pkcs11 {

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindById(
    CK_FUNCTION_LIST* ck, CK_SESSION_HANDLE session, CK_OBJECT_CLASS cls,
    std::span<const uint8_t> id);

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindByLabel(
    CK_FUNCTION_LIST* ck, CK_SESSION_HANDLE session, CK_OBJECT_CLASS cls,
    absl::string_view label);

// The public key matching a private key's CKA_ID, rebuilt as an EVP_PKEY.
absl::StatusOr<TokenPublicKey> PublicKeyById(CK_FUNCTION_LIST* ck,
                                             CK_SESSION_HANDLE session,
                                             std::span<const uint8_t> id);

// KeyInfo for the private key object `private_key`.
absl::StatusOr<KeyInfo> DescribeKey(const TokenState& state,
                                    CK_SESSION_HANDLE session,
                                    CK_OBJECT_HANDLE private_key);

// RFC 7512 URI of a private key object on `token`.
std::string KeyUri(const CK_TOKEN_INFO& token, std::span<const uint8_t> id,
                   absl::string_view label);

}  // namespace keyhold::pkcs11

#endif  // KEYHOLD_TOKENS_INTERNAL_KEY_OBJECTS_H_
