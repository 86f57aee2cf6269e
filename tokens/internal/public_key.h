// Public keys on the token <-> OpenSSL: the CKA_EC_PARAMS we generate with,
// and the EVP_PKEY (default provider, public only) rebuilt from a public
// key object's attributes.
#ifndef KEYHOLD_TOKENS_INTERNAL_PUBLIC_KEY_H_
#define KEYHOLD_TOKENS_INTERNAL_PUBLIC_KEY_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "tokens/internal/cryptoki.h"
#include "tokens/key_type.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::pkcs11 {

// DER OBJECT IDENTIFIER of the curve, for CKA_EC_PARAMS (EC and Ed25519).
std::vector<uint8_t> EcParamsFor(KeyType type);

struct TokenPublicKey {
  EvpPkeyPtr pkey;
  KeyType type;
};

// Reads the public key object `object` (CKO_PUBLIC_KEY) and rebuilds it.
// Keys of types keyhold does not support give UNIMPLEMENTED.
absl::StatusOr<TokenPublicKey> ReadPublicKey(CK_FUNCTION_LIST* ck,
                                             CK_SESSION_HANDLE session,
                                             CK_OBJECT_HANDLE object);

}  // namespace keyhold::pkcs11

#endif  // KEYHOLD_TOKENS_INTERNAL_PUBLIC_KEY_H_
