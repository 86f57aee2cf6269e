// A token key as an EVP_PKEY of the keyhold provider in `libctx`: OpenSSL
// (X509_sign_ctx, SSL_CTX_use_PrivateKey) signs with it through a Signer,
// the private key staying on the token.
#ifndef KEYHOLD_AGENT_TOKEN_PKEY_H_
#define KEYHOLD_AGENT_TOKEN_PKEY_H_

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "tokens/openssl_ptr.h"
#include "tokens/provider/provider.h"
#include "tokens/token.h"

namespace keyhold::agent {

inline absl::StatusOr<EvpPkeyPtr> TokenKeyPkey(OSSL_LIB_CTX* libctx, Token& token,
                                               const KeyInfo& key) {
  absl::StatusOr<std::unique_ptr<Signer>> signer = token.NewSigner(key);
  if (!signer.ok()) return signer.status();
  return MakeSignerPkey(libctx, std::shared_ptr<Signer>(*std::move(signer)));
}

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_TOKEN_PKEY_H_
