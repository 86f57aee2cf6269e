#include "agent/audited_call.h"

#include "agent/grpc_status.h"

namespace keyhold::agent {

grpc::Status RunAuditedCall(const ConnectionRegistry& connections, AuditLog& audit,
                            grpc::ServerContextBase* context, std::string operation,
                            const std::function<absl::Status(const Caller&, AuditEvent&)>& body) {
  ConnectionRegistry::ActiveCall active(connections);
  // Looked up first, while this call keeps its connection (and fd) alive.
  absl::StatusOr<Caller> caller = connections.Lookup(context->peer());
  AuditEvent event;
  event.operation = std::move(operation);
  if (!caller.ok()) {
    event.result = caller.status();
    audit.Record(event);
    return ToGrpcStatus(caller.status());
  }
  event.caller = &*caller;
  event.result = body(*caller, event);
  audit.Record(event);
  return ToGrpcStatus(event.result);
}

}  // namespace keyhold::agent
