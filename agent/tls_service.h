// keyhold.v1.TlsService over the agent's token: mTLS client connections
// made by the agent with tls-client keys (agent/tls/ does the networking).
// Checks who may use the key and which targets it may dial, merges the
// call's settings with a named [tls_profile], and audits every handshake.
//
// Both methods use gRPC's callback API and the service's one event loop:
// an exchange in progress or an open tunnel costs no thread, so slow
// partners cannot exhaust the agent's threads (and stall its other calls).
#ifndef KEYHOLD_AGENT_TLS_SERVICE_H_
#define KEYHOLD_AGENT_TLS_SERVICE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/audit.h"
#include "agent/config.h"
#include "agent/connection_registry.h"
#include "agent/policy.h"
#include "agent/token_cache.h"
#include "agent/tls/client_context_cache.h"
#include "agent/tls/event_loop.h"
#include "agent/tls/handshake_facts.h"
#include "agent/tls/tls_settings.h"
#include "keyhold/v1/tls_service.grpc.pb.h"
#include "tokens/provider/provider.h"
#include "tokens/token.h"

namespace keyhold::agent {

class TlsServiceImpl final
    : public keyhold::v1::TlsService::WithCallbackMethod_Request<
          keyhold::v1::TlsService::WithCallbackMethod_Connect<keyhold::v1::TlsService::Service>> {
 public:
  // Loads the keyhold provider into a library context of the service's own
  // and starts the event loop.
  static absl::StatusOr<std::unique_ptr<TlsServiceImpl>> Create(
      Token& token, const Config& config, const Policy& policy, AuditLog& audit,
      const ConnectionRegistry& connections);
  ~TlsServiceImpl() override;

  grpc::ServerUnaryReactor* Request(grpc::CallbackServerContext* context,
                                    const keyhold::v1::HttpRequest* request,
                                    keyhold::v1::HttpResponse* response) override;
  grpc::ServerBidiReactor<keyhold::v1::ConnectRequest, keyhold::v1::ConnectResponse>* Connect(
      grpc::CallbackServerContext* context) override;

  // A tls-client key as handshakes use it: one EVP_PKEY per key for the
  // service's life (its pointer is the key's identity for session
  // resumption), and the certificate stored next to it.
  struct ClientKey {
    KeyInfo key;
    EvpPkeyPtr pkey;
    X509Ptr stored_certificate;  // null when the token has none
  };

  // What one call dials with. `settings` borrows from `key` and `chain`.
  struct Prepared {
    std::shared_ptr<const ClientKey> key;
    std::vector<X509Ptr> chain;  // certificates given in the call
    tls::TlsSettings settings;
  };
  // Resolves and checks everything about a call's TlsOptions: target
  // syntax, the key and the caller's right to it, the key's targets, the
  // profile, the chain and trust anchors. Fills the audit event's key.
  absl::StatusOr<Prepared> Prepare(const Caller& caller, const keyhold::v1::TlsOptions& options,
                                   AuditEvent& event);

  tls::EventLoop& loop() { return *loop_; }
  tls::ClientContextCache& contexts() { return contexts_; }
  AuditLog& audit() { return audit_; }
  const ConnectionRegistry& connections() const { return connections_; }

 private:
  TlsServiceImpl(Token& token, const Config& config, const Policy& policy, AuditLog& audit,
                 const ConnectionRegistry& connections)
      : token_(token), config_(config), policy_(policy), audit_(audit),
        connections_(connections) {}

  absl::StatusOr<std::shared_ptr<const ClientKey>> KeyFor(const std::string& label);

  Token& token_;
  const Config& config_;
  const Policy& policy_;
  AuditLog& audit_;
  const ConnectionRegistry& connections_;
  // Destruction order: the loop first (it closes every tunnel), then the
  // contexts and keys, then the provider, then its library context.
  OsslLibCtxPtr libctx_;
  std::unique_ptr<KeyholdProvider> provider_;
  TokenCache<ClientKey> keys_{token_};
  tls::ClientContextCache contexts_;
  std::unique_ptr<tls::EventLoop> loop_;
};

void FactsToProto(const tls::HandshakeFacts& facts, keyhold::v1::HandshakeFacts* out);
// " protocol=TLSv1.3 resumed=no peer=\"CN=..\"" for audit lines.
std::string FactsSummary(const tls::HandshakeFacts& facts);

// "host:port" / "[v6]:port" → host and port. INVALID_ARGUMENT otherwise.
absl::Status ParseTarget(const std::string& target, std::string& host, uint16_t& port);

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_TLS_SERVICE_H_
