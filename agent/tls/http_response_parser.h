// An incremental HTTP/1.x response parser: bytes go in as the tunnel
// delivers them, a complete HttpResponse comes out. Bodies framed by
// Content-Length, chunked transfer coding, or the end of the connection;
// interim 1xx responses are skipped. Not thread-safe (one per exchange).
//
// Errors: DATA_LOSS for a malformed or truncated response,
// RESOURCE_EXHAUSTED past the header or body limit.
#ifndef KEYHOLD_AGENT_TLS_HTTP_RESPONSE_PARSER_H_
#define KEYHOLD_AGENT_TLS_HTTP_RESPONSE_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "agent/tls/http_message.h"

namespace keyhold::agent::tls {

class HttpResponseParser {
 public:
  // `head_request`: the response to HEAD has no body whatever it says.
  HttpResponseParser(bool head_request, size_t max_body)
      : head_request_(head_request), max_body_(max_body) {}

  // Consumes `bytes`. Bytes after a complete response are ignored.
  absl::Status Feed(absl::string_view bytes);

  // The connection ended: completes a body that runs to the end;
  // anything else incomplete is DATA_LOSS.
  absl::Status FinishAtEof();

  bool complete() const { return state_ == State::kComplete; }
  // The response; call once complete() is true.
  HttpResponse TakeResponse() { return std::move(response_); }

  // Header block limit (status line, headers, chunked trailers).
  static constexpr size_t kMaxHeaderBytes = 64 * 1024;

 private:
  enum class State {
    kHead,          // Status line and headers.
    kLengthBody,    // Content-Length bytes.
    kChunkSize,     // A chunk-size line.
    kChunkData,     // chunk_remaining_ bytes.
    kChunkDataEnd,  // The CRLF after chunk data.
    kTrailers,      // Trailer lines up to the empty one.
    kBodyToEof,     // Everything until the connection ends.
    kComplete,
  };

  absl::Status Parse();
  // The next line from buffer_ (without CR LF) into `line`; false when no
  // complete line is buffered yet.
  bool NextLine(std::string& line);
  absl::Status ParseStatusLine(absl::string_view line);
  absl::Status ParseHeaderLine(absl::string_view line);
  absl::Status StartBody();
  absl::Status ParseChunkSize(absl::string_view line);
  absl::Status AppendBody(absl::string_view bytes);

  const bool head_request_;
  const size_t max_body_;
  State state_ = State::kHead;
  bool have_status_line_ = false;
  std::string buffer_;      // Received, not yet consumed.
  size_t head_bytes_ = 0;   // Header block bytes consumed so far.
  uint64_t remaining_ = 0;  // Content-Length or chunk bytes still due.
  HttpResponse response_;
};

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_HTTP_RESPONSE_PARSER_H_
