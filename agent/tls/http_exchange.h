// One HTTP/1.1 request over one mTLS tunnel: dial, handshake with the
// client key, send the request, read the response (Content-Length, chunked
// or to the end of the connection), close. The asynchronous form serves
// the gRPC layer; Fetch waits for the result.
#ifndef KEYHOLD_AGENT_TLS_HTTP_EXCHANGE_H_
#define KEYHOLD_AGENT_TLS_HTTP_EXCHANGE_H_

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/tls/client_context_cache.h"
#include "agent/tls/event_loop.h"
#include "agent/tls/http_message.h"
#include "agent/tls/tls_settings.h"

namespace keyhold::agent::tls {

using HttpResponseCallback =
    absl::AnyInvocable<void(absl::StatusOr<HttpResponse>) &&>;

// Starts the exchange. An error here (bad settings or request, a host that
// does not resolve — resolution runs on the calling thread) means nothing
// started and `done` is destroyed unrun. Otherwise `done` runs exactly once
// on the loop thread with the response (any HTTP status) or why there is
// none: the tunnel's statuses (DNS, refused, handshake, verification,
// reset), DATA_LOSS for a malformed or truncated response,
// RESOURCE_EXHAUSTED past request.max_response_body, DEADLINE_EXCEEDED
// after `timeout` overall.
absl::Status StartHttpExchange(EventLoop& loop, ClientContextCache& contexts,
                               const TlsSettings& settings,
                               const HttpRequestSpec& request,
                               absl::Duration timeout,
                               HttpResponseCallback done);

// StartHttpExchange, waiting for `done`. Never call it on the loop thread
// (FAILED_PRECONDITION): the loop would wait for itself.
absl::StatusOr<HttpResponse> Fetch(EventLoop& loop,
                                   ClientContextCache& contexts,
                                   const TlsSettings& settings,
                                   const HttpRequestSpec& request,
                                   absl::Duration timeout);

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_HTTP_EXCHANGE_H_
