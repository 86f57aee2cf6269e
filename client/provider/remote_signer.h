// A Signer whose private key is held by keyholdd: PublicKey() is the key's
// SubjectPublicKeyInfo from KeyService.GetKey, Sign() is KeyService.Sign
// with the digest. The agent enforces the key's policy on every call.
#ifndef KEYHOLD_CLIENT_PROVIDER_REMOTE_SIGNER_H_
#define KEYHOLD_CLIENT_PROVIDER_REMOTE_SIGNER_H_

#include <memory>
#include <span>
#include <vector>

#include <openssl/types.h>

#include "absl/status/statusor.h"
#include "client/provider/agent_connection.h"
#include "keyhold/v1/keys.pb.h"
#include "tokens/openssl_ptr.h"
#include "tokens/signer.h"

namespace keyhold::provider_module {

class RemoteSigner : public Signer {
 public:
  // Asks the agent for `selector`'s key (GetKey) and parses its public key
  // into a default-provider key in `libctx`. `connection` must outlive the
  // signer (AgentConnection::Shared ones live forever).
  static absl::StatusOr<std::shared_ptr<RemoteSigner>> New(
      AgentConnection* connection, const v1::KeySelector& selector,
      OSSL_LIB_CTX* libctx);

  EVP_PKEY* PublicKey() const override { return public_key_.get(); }
  absl::StatusOr<std::vector<uint8_t>> Sign(
      const SignatureAlgorithm& algorithm,
      std::span<const uint8_t> input) override;

  // The key as GetKey described it (label, id, type, certificate PEM).
  const v1::Key& key() const { return key_; }

 private:
  RemoteSigner(AgentConnection* connection, v1::Key key, EvpPkeyPtr public_key)
      : connection_(connection),
        key_(std::move(key)),
        public_key_(std::move(public_key)) {}

  AgentConnection* const connection_;
  const v1::Key key_;
  const EvpPkeyPtr public_key_;
};

}  // namespace keyhold::provider_module

#endif  // KEYHOLD_CLIENT_PROVIDER_REMOTE_SIGNER_H_
