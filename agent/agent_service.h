#ifndef KEYHOLD_AGENT_AGENT_SERVICE_H_
#define KEYHOLD_AGENT_AGENT_SERVICE_H_

#include "absl/time/time.h"
#include "keyhold/v1/agent_service.grpc.pb.h"
#include "tokens/token.h"

namespace keyhold::agent {

// keyhold.v1.AgentService: version, uptime and the token's state. Open to
// any caller that can connect to the socket; it reveals no key material.
class AgentServiceImpl final : public keyhold::v1::AgentService::Service {
 public:
  explicit AgentServiceImpl(Token& token) : token_(token), started_(absl::Now()) {}

  grpc::Status Status(grpc::ServerContext* context, const keyhold::v1::StatusRequest* request,
                      keyhold::v1::StatusResponse* response) override;

 private:
  Token& token_;
  const absl::Time started_;
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_AGENT_SERVICE_H_
