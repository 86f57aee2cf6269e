#include "agent/agent_service.h"

#include "agent/grpc_status.h"

#ifndef KEYHOLD_VERSION
#define KEYHOLD_VERSION "unknown"
#endif

namespace keyhold::agent {

grpc::Status AgentServiceImpl::Status(grpc::ServerContext*, const keyhold::v1::StatusRequest*,
                                      keyhold::v1::StatusResponse* response) {
  response->set_version(KEYHOLD_VERSION);
  response->set_uptime_seconds(
      static_cast<uint64_t>(absl::ToInt64Seconds(absl::Now() - started_)));
  keyhold::v1::TokenStatus* token = response->mutable_token();
  const TokenInfo& info = token_.info();
  token->set_label(info.label);
  token->set_serial(info.serial);
  token->set_model(info.model);
  token->set_manufacturer(info.manufacturer);
  for (const std::string& name : token_.mechanisms().Names()) token->add_mechanisms(name);
  absl::StatusOr<bool> logged_in = token_.LoggedIn();
  token->set_logged_in(logged_in.ok() && *logged_in);
  absl::StatusOr<std::vector<KeyInfo>> keys = token_.ListKeys();
  if (!keys.ok()) return ToGrpcStatus(keys.status());
  token->set_key_count(static_cast<uint32_t>(keys->size()));
  return grpc::Status::OK;
}

}  // namespace keyhold::agent
