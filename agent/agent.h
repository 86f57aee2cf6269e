// keyholdd assembled: token, key catalog, policy, audit log, gRPC server
// (KeyService, CertificateAuthorityService, AgentService, grpc.health.v1,
// reflection) and the listener
// that hands each accepted unix connection, with its peer credentials, to
// gRPC.
#ifndef KEYHOLD_AGENT_AGENT_H_
#define KEYHOLD_AGENT_AGENT_H_

#include <memory>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/agent_service.h"
#include "agent/audit.h"
#include "agent/ca_service.h"
#include "agent/config.h"
#include "agent/connection_registry.h"
#include "agent/key_catalog.h"
#include "agent/key_service.h"
#include "agent/listener.h"
#include "agent/policy.h"
#include "agent/tls_service.h"
#include "tokens/token.h"

namespace keyhold::agent {

class Agent {
 public:
  // Opens the token (logs in), the state directory, the audit log, and the
  // socket (systemd's if passed, else config.socket). Serves nothing yet.
  static absl::StatusOr<std::unique_ptr<Agent>> Create(Config config);
  ~Agent();

  // Starts serving. Returns once connections are being accepted.
  absl::Status Start();

  // Stops accepting, removes the socket file, lets in-flight calls finish
  // for up to `grace`, then cancels the rest.
  void Shutdown(absl::Duration grace);

  const std::string& listening_on() const { return listener_->description(); }

 private:
  explicit Agent(Config config) : config_(std::move(config)) {}
  void OnConnection(int fd);

  const Config config_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<KeyCatalog> catalog_;
  std::unique_ptr<Token> token_;
  std::unique_ptr<Policy> policy_;
  ConnectionRegistry connections_;
  std::unique_ptr<KeyServiceImpl> key_service_;
  std::unique_ptr<AgentServiceImpl> agent_service_;
  std::unique_ptr<CaServiceImpl> ca_service_;
  std::unique_ptr<TlsServiceImpl> tls_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Listener> listener_;
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_AGENT_H_
