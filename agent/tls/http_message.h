// One HTTP/1.1 request as the agent sends it over an mTLS tunnel, and the
// response it hands back. The request always ends the connection
// (Connection: close): one tunnel, one exchange.
#ifndef KEYHOLD_AGENT_TLS_HTTP_MESSAGE_H_
#define KEYHOLD_AGENT_TLS_HTTP_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/tls/handshake_facts.h"

namespace keyhold::agent::tls {

struct HttpHeader {
  std::string name;
  std::string value;

  bool operator==(const HttpHeader&) const = default;
};

inline constexpr size_t kDefaultMaxResponseBody = size_t{16} << 20;

struct HttpRequestSpec {
  std::string method = "GET";
  // Origin form: starts with '/', may carry a query.
  std::string path = "/";
  // Sent as given, after the ones keyhold sets. A Host header here
  // replaces the default (host[:port]); Content-Length, Transfer-Encoding
  // and Connection are keyhold's to set and refused here.
  std::vector<HttpHeader> headers = {};
  std::string body = "";
  // Larger response bodies fail the exchange with RESOURCE_EXHAUSTED.
  size_t max_response_body = kDefaultMaxResponseBody;
};

struct HttpResponse {
  std::string version = "";  // "HTTP/1.1"
  int status = 0;
  std::string reason = "";
  std::vector<HttpHeader> headers = {};  // In order, names as sent.
  std::string body = "";                 // Decoded (no chunk framing).
  HandshakeFacts handshake = {};

  // The first header called `name` (ASCII case-insensitive).
  std::optional<absl::string_view> Header(absl::string_view name) const;
};

// The request's bytes; `host` is the server's name (TlsSettings::
// server_name(), so a dial to an IP with SNI still names the virtual host).
// INVALID_ARGUMENT for a method that is not a token,
// a path that is not origin form, header names that are not tokens, CR, LF
// or NUL in any value (no header injection), or a header keyhold sets.
absl::StatusOr<std::string> SerializeHttpRequest(const HttpRequestSpec& spec,
                                                 absl::string_view host,
                                                 uint16_t port);

// RFC 9110 token characters.
bool IsHttpToken(absl::string_view text);

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_HTTP_MESSAGE_H_
