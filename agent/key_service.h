// keyhold.v1.KeyService over the agent's token. Each handler: find the
// caller, check the request, check policy, do the work, write one audit
// line, translate the status once.
#ifndef KEYHOLD_AGENT_KEY_SERVICE_H_
#define KEYHOLD_AGENT_KEY_SERVICE_H_

#include "agent/audit.h"
#include "agent/connection_registry.h"
#include "agent/key_catalog.h"
#include "agent/policy.h"
#include "agent/signer_cache.h"
#include "agent/token_work.h"
#include "keyhold/v1/key_service.grpc.pb.h"
#include "tokens/token.h"

namespace keyhold::agent {

// Limits on untrusted request fields.
inline constexpr size_t kMaxCertificateBytes = 64 * 1024;
inline constexpr size_t kMaxSignInputBytes = 64 * 1024;

class KeyServiceImpl final
    : public keyhold::v1::KeyService::WithCallbackMethod_Sign<keyhold::v1::KeyService::Service> {
 public:
  // `sign_workers`: threads at most for Sign calls that do not run on
  // gRPC's callback threads (the token's session count is the useful limit).
  KeyServiceImpl(Token& token, const Config& config, KeyCatalog& catalog,
                 const Policy& policy, AuditLog& audit, const ConnectionRegistry& connections,
                 int sign_workers)
      : token_(token), config_(config), catalog_(catalog), policy_(policy),
        audit_(audit), connections_(connections), signers_(token),
        sign_runner_({.max_workers = sign_workers}) {}

  grpc::Status GenerateKey(grpc::ServerContext* context,
                           const keyhold::v1::GenerateKeyRequest* request,
                           keyhold::v1::Key* response) override;
  grpc::Status ListKeys(grpc::ServerContext* context,
                        const keyhold::v1::ListKeysRequest* request,
                        keyhold::v1::ListKeysResponse* response) override;
  grpc::Status GetKey(grpc::ServerContext* context, const keyhold::v1::GetKeyRequest* request,
                      keyhold::v1::Key* response) override;
  grpc::Status DeleteKey(grpc::ServerContext* context,
                         const keyhold::v1::DeleteKeyRequest* request,
                         keyhold::v1::DeleteKeyResponse* response) override;
  grpc::Status ImportCertificate(grpc::ServerContext* context,
                                 const keyhold::v1::ImportCertificateRequest* request,
                                 keyhold::v1::Key* response) override;
  // A callback handler: runs the signature on the gRPC thread that read the
  // request when the key is known to sign fast and no other callback thread
  // is busy signing, on a worker otherwise (ADR 0006).
  grpc::ServerUnaryReactor* Sign(grpc::CallbackServerContext* context,
                                 const keyhold::v1::SignRequest* request,
                                 keyhold::v1::SignResponse* response) override;

 private:
  absl::StatusOr<KeyInfo> Resolve(const keyhold::v1::KeySelector& selector);
  // The key's cache entry, or null.
  std::shared_ptr<const SignerCache::Entry> CachedSigner(const keyhold::v1::KeySelector& selector);
  // Like Resolve, with the key's signer, from the cache when possible.
  absl::StatusOr<std::shared_ptr<const SignerCache::Entry>> ResolveSigner(
      const keyhold::v1::KeySelector& selector, bool use_cache);
  absl::Status Describe(const KeyInfo& key, bool with_protection, keyhold::v1::Key* out);
  // The signature itself. `cached` is the key's cache entry as Sign found
  // it when the cache stood at `mark` (null: none); it spares a second
  // lookup unless the token changed meanwhile.
  grpc::Status SignNow(grpc::ServerContextBase* context, const keyhold::v1::SignRequest& request,
                       std::shared_ptr<const SignerCache::Entry> cached, uint64_t mark,
                       keyhold::v1::SignResponse* response);
  // Runs `body` for the caller of `context`, audits, translates.
  grpc::Status Handle(grpc::ServerContextBase* context, const char* operation,
                      const std::function<absl::Status(const Caller&, AuditEvent&)>& body);

  Token& token_;
  const Config& config_;
  KeyCatalog& catalog_;
  const Policy& policy_;
  AuditLog& audit_;
  const ConnectionRegistry& connections_;
  SignerCache signers_;
  // Last: destroyed first, its workers joined while the rest still exists.
  TokenWorkRunner sign_runner_;
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_KEY_SERVICE_H_
