#include "agent/agent.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <atomic>
#include <iostream>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/keyhold/v1/limits.h"

namespace keyhold::agent {
namespace {

// Token operations are bounded by the session pool; the server has more
// threads than that, so health checks and status calls always find one
// even when every session is busy with a slow token.
constexpr size_t kMaxTokenSessions = 32;
constexpr int kMaxServerThreads = 128;

absl::Status PrepareStateDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create state directory ", dir, ": ", std::strerror(errno)));
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " is not a directory"));
  }
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state directory ", dir, " belongs to uid ", st.st_uid, ", not to the agent (uid ",
        geteuid(), ")"));
  }
  if ((st.st_mode & 0077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state directory ", dir, " is open to other users; run: chmod 0700 ", dir));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(Config config) {
  std::unique_ptr<Agent> agent(new Agent(std::move(config)));
  const Config& cfg = agent->config_;
  if (absl::Status s = PrepareStateDir(cfg.state_dir); !s.ok()) return s;

  absl::StatusOr<std::unique_ptr<AuditLog>> audit = AuditLog::Open(
      cfg.audit_log.empty() ? cfg.state_dir + "/audit.log" : cfg.audit_log, cfg.audit_journald);
  if (!audit.ok()) return audit.status();
  agent->audit_ = *std::move(audit);

  absl::StatusOr<std::unique_ptr<KeyCatalog>> catalog = KeyCatalog::Open(cfg.state_dir);
  if (!catalog.ok()) return catalog.status();
  agent->catalog_ = *std::move(catalog);

  TokenConfig token_config;
  token_config.module_path = cfg.token.module;
  token_config.uri = cfg.token.uri;
  token_config.pin = cfg.token.pin;
  token_config.max_sessions = kMaxTokenSessions;
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(token_config);
  if (!token.ok()) {
    agent->audit_->Record({nullptr, "agent.token_open", "", "", cfg.token.uri, token.status()});
    return token.status();
  }
  agent->token_ = *std::move(token);

  absl::StatusOr<std::unique_ptr<Listener>> listener = Listener::FromSystemd();
  if (absl::IsNotFound(listener.status())) {
    listener = Listener::Bind(cfg.socket, cfg.socket_group);
  }
  if (!listener.ok()) return listener.status();
  agent->listener_ = *std::move(listener);

  agent->policy_ = std::make_unique<Policy>(agent->config_, *agent->catalog_);
  agent->key_service_ = std::make_unique<KeyServiceImpl>(
      *agent->token_, agent->config_, *agent->catalog_, *agent->policy_, *agent->audit_,
      agent->connections_, static_cast<int>(kMaxTokenSessions));
  agent->agent_service_ = std::make_unique<AgentServiceImpl>(*agent->token_);
  absl::StatusOr<std::unique_ptr<CaServiceImpl>> ca_service = CaServiceImpl::Create(
      *agent->token_, agent->config_, *agent->catalog_, *agent->policy_, *agent->audit_,
      agent->connections_);
  if (!ca_service.ok()) return ca_service.status();
  agent->ca_service_ = *std::move(ca_service);
  absl::StatusOr<std::unique_ptr<TlsServiceImpl>> tls_service = TlsServiceImpl::Create(
      *agent->token_, agent->config_, *agent->policy_, *agent->audit_, agent->connections_);
  if (!tls_service.ok()) return tls_service.status();
  agent->tls_service_ = *std::move(tls_service);
  return agent;
}

Agent::~Agent() {
  if (listener_) listener_->Stop();
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
}

absl::Status Agent::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  grpc::ResourceQuota quota("keyholdd");
  quota.SetMaxThreads(kMaxServerThreads);
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(static_cast<int>(keyhold::v1::kMaxRequestBytes));
  // The sync server runs each call on a polling thread and lets threads
  // beyond MAX_POLLERS exit when they go idle; with the default (2), a
  // burst of concurrent calls creates and destroys a thread per call.
  // Keeping enough pollers for the token's sessions makes them reused.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 4);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              static_cast<int>(kMaxTokenSessions));
  builder.RegisterService(key_service_.get());
  builder.RegisterService(agent_service_.get());
  builder.RegisterService(ca_service_.get());
  builder.RegisterService(tls_service_.get());
  // No listening ports: connections arrive through OnConnection.
  server_ = builder.BuildAndStart();
  if (!server_) return absl::InternalError("cannot start the gRPC server");
  server_->GetHealthCheckService()->SetServingStatus(true);
  listener_->Start([this](int fd) { OnConnection(fd); });
  audit_->Record({nullptr, "agent.start", "", "", listener_->description(), absl::OkStatus()});
  return absl::OkStatus();
}

void Agent::OnConnection(int fd) {
  absl::StatusOr<Caller> caller = CallerOfSocket(fd);
  if (!caller.ok()) {
    std::cerr << "keyholdd: dropping connection: " << caller.status().message() << "\n";
    close(fd);
    return;
  }
  connections_.Add(fd, *std::move(caller));
  grpc::AddInsecureChannelFromFd(server_.get(), fd);
}

void Agent::Shutdown(absl::Duration grace) {
  listener_->Stop();
  server_->GetHealthCheckService()->SetServingStatus(false);
  // gRPC's Shutdown waits for calls in flight (up to `grace`) and then for
  // every client to hang up, which an idle client may never do. Once no
  // call is left, idle connections are cut.
  std::atomic<bool> done{false};
  std::thread drain([this, grace, &done] {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(absl::ToInt64Milliseconds(grace)));
    done = true;
  });
  const absl::Time settle = absl::Now() + absl::Milliseconds(200);
  bool disconnected = false;
  while (!done) {
    if (!disconnected && absl::Now() > settle && connections_.active_calls() == 0) {
      connections_.DisconnectAll();
      disconnected = true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  drain.join();
  audit_->Record({nullptr, "agent.stop", "", "", "", absl::OkStatus()});
}

}  // namespace keyhold::agent
