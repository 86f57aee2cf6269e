// Conversions between the API's enums and keyhold's own types. Unknown or
// unspecified values are INVALID_ARGUMENT naming the field.
#ifndef KEYHOLD_AGENT_PROTO_CONVERT_H_
#define KEYHOLD_AGENT_PROTO_CONVERT_H_

#include "absl/status/statusor.h"
#include "agent/config.h"
#include "keyhold/v1/key_service.pb.h"
#include "keyhold/v1/keys.pb.h"
#include "tokens/key_type.h"
#include "tokens/signer.h"

namespace keyhold::agent {

absl::StatusOr<KeyType> KeyTypeFromProto(keyhold::v1::KeyType type);
keyhold::v1::KeyType KeyTypeToProto(KeyType type);

absl::StatusOr<KeyPurpose> PurposeFromProto(keyhold::v1::KeyPurpose purpose);
keyhold::v1::KeyPurpose PurposeToProto(KeyPurpose purpose);

absl::StatusOr<HashAlgorithm> HashFromProto(keyhold::v1::DigestAlgorithm digest,
                                            absl::string_view field);

// The signature algorithm a SignRequest asks for, checked against the key's
// family (defaults: PKCS#1 v1.5 for RSA, ECDSA for EC, Ed25519).
absl::StatusOr<SignatureAlgorithm> SignatureAlgorithmFromRequest(
    const keyhold::v1::SignRequest& request, KeyType key_type);

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_PROTO_CONVERT_H_
