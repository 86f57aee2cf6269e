// The frame every gRPC handler of the agent runs in: look up the caller of
// the connection, run the body, write one audit line, translate the status
// once.
#ifndef KEYHOLD_AGENT_AUDITED_CALL_H_
#define KEYHOLD_AGENT_AUDITED_CALL_H_

#include <functional>
#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "agent/audit.h"
#include "agent/caller.h"
#include "agent/connection_registry.h"

namespace keyhold::agent {

// `operation` is the audit line's operation ("KeyService.Sign"). The body
// fills in the event's key and detail; its status is the event's result.
grpc::Status RunAuditedCall(const ConnectionRegistry& connections, AuditLog& audit,
                            grpc::ServerContextBase* context, std::string operation,
                            const std::function<absl::Status(const Caller&, AuditEvent&)>& body);

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_AUDITED_CALL_H_
