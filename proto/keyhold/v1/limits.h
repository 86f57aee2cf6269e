// Limits of the keyhold.v1 API that both ends must agree on.
#ifndef KEYHOLD_PROTO_KEYHOLD_V1_LIMITS_H_
#define KEYHOLD_PROTO_KEYHOLD_V1_LIMITS_H_

#include <cstddef>

namespace keyhold::v1 {

// The largest request message keyholdd accepts; larger ones are refused
// with RESOURCE_EXHAUSTED (docs/agent.md).
inline constexpr size_t kMaxRequestBytes = 256 * 1024;

}  // namespace keyhold::v1

#endif  // KEYHOLD_PROTO_KEYHOLD_V1_LIMITS_H_
