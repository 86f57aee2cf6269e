// The one place an absl::Status becomes a grpc::Status (same codes, the
// message as is; payloads such as the CK_RV stay inside the agent).
#ifndef KEYHOLD_AGENT_GRPC_STATUS_H_
#define KEYHOLD_AGENT_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace keyhold::agent {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_GRPC_STATUS_H_
