// The DER AlgorithmIdentifier (RFC 5280 §4.1.1.2) that names a signature
// algorithm in certificates, CSRs and CRLs. The provider hands it to OpenSSL
// as the signature context's "algorithm-id", which X509_sign_ctx,
// X509_REQ_sign_ctx and X509_CRL_sign_ctx copy into what they sign.
#ifndef KEYHOLD_TOKENS_PROVIDER_ALGORITHM_ID_H_
#define KEYHOLD_TOKENS_PROVIDER_ALGORITHM_ID_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "tokens/signer.h"

namespace keyhold {

// - RSA PKCS#1 v1.5: sha{224,256,384,512}WithRSAEncryption, NULL parameters
//   (RFC 4055 §5).
// - RSA-PSS: id-RSASSA-PSS with RSASSA-PSS-params spelled out: hash and MGF1
//   hash (with NULL parameters, as RFC 4055 §2.1 lists them and OpenSSL
//   writes them) and the salt length; fields equal to their DEFAULT are
//   omitted, as DER requires (RFC 4055 §3.1). The salt length must be the
//   concrete value (>= 0) the signature uses.
// - ECDSA: ecdsa-with-SHA{224,256,384,512}, parameters absent (RFC 5758 §3.2).
// - Ed25519: id-Ed25519, parameters absent (RFC 8410 §3).
absl::StatusOr<std::vector<uint8_t>> SignatureAlgorithmIdentifier(
    const SignatureAlgorithm& algorithm);

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_PROVIDER_ALGORITHM_ID_H_
