// The one place the CA picks how a token key signs what it builds
// (certificates, CRLs, CSRs): SHA-256 with RSA PKCS#1 v1.5 and with P-256,
// SHA-384 with P-384, SHA-512 with P-521, PureEdDSA with Ed25519.
#ifndef KEYHOLD_AGENT_CA_SIGNING_H_
#define KEYHOLD_AGENT_CA_SIGNING_H_

#include <openssl/types.h>

#include "absl/status/statusor.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {

// An EVP_MD_CTX initialised for signing with `key` in `libctx`, ready for
// X509_sign_ctx, X509_REQ_sign_ctx or X509_CRL_sign_ctx.
absl::StatusOr<EvpMdCtxPtr> SigningContext(OSSL_LIB_CTX* libctx, EVP_PKEY* key);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_SIGNING_H_
