#include "agent/tls/http_message.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace keyhold::agent::tls {
namespace {

constexpr absl::string_view kReservedHeaders[] = {
    "Content-Length", "Transfer-Encoding", "Connection"};

bool HasControlCharacters(absl::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

bool IsOriginForm(absl::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

// Methods whose requests carry a body by convention: they get a
// Content-Length even when it is zero.
bool ExpectsBody(absl::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

std::string HostHeader(absl::string_view host, uint16_t port) {
  const bool ipv6 = absl::StrContains(host, ':');
  std::string value = ipv6 ? absl::StrCat("[", host, "]") : std::string(host);
  if (port != 443) absl::StrAppend(&value, ":", port);
  return value;
}

}  // namespace

bool IsHttpToken(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) continue;
    if (absl::string_view("!#$%&'*+-.^_`|~").find(c) ==
        absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::optional<absl::string_view> HttpResponse::Header(
    absl::string_view name) const {
  for (const HttpHeader& header : headers) {
    if (absl::EqualsIgnoreCase(header.name, name)) return header.value;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> SerializeHttpRequest(const HttpRequestSpec& spec,
                                                 absl::string_view host,
                                                 uint16_t port) {
  if (!IsHttpToken(spec.method)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", spec.method, "\" is not an HTTP method"));
  }
  if (!IsOriginForm(spec.path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request path must start with '/' and hold no spaces or control "
        "characters: \"",
        absl::CEscape(spec.path), "\""));
  }
  bool has_host = false;
  for (const HttpHeader& header : spec.headers) {
    if (!IsHttpToken(header.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", absl::CEscape(header.name), "\" is not an HTTP header name"));
    }
    if (HasControlCharacters(header.value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the value of header ", header.name, " holds a line break or NUL"));
    }
    for (absl::string_view reserved : kReservedHeaders) {
      if (absl::EqualsIgnoreCase(header.name, reserved)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "header ", header.name, " is set by keyhold, not by the caller"));
      }
    }
    if (absl::EqualsIgnoreCase(header.name, "Host")) has_host = true;
  }

  std::string request =
      absl::StrCat(spec.method, " ", spec.path, " HTTP/1.1\r\n");
  if (!has_host) {
    absl::StrAppend(&request, "Host: ", HostHeader(host, port), "\r\n");
  }
  if (!spec.body.empty() || ExpectsBody(spec.method)) {
    absl::StrAppend(&request, "Content-Length: ", spec.body.size(), "\r\n");
  }
  absl::StrAppend(&request, "Connection: close\r\n");
  for (const HttpHeader& header : spec.headers) {
    absl::StrAppend(&request, header.name, ": ", header.value, "\r\n");
  }
  absl::StrAppend(&request, "\r\n", spec.body);
  return request;
}

}  // namespace keyhold::agent::tls
