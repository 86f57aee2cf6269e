#include "agent/tls/http_response_parser.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace keyhold::agent::tls {
namespace {

// A chunk-size line: hex digits and extensions nobody needs at length.
constexpr size_t kMaxChunkSizeLine = 1024;

absl::Status HeadersTooLarge() {
  return absl::ResourceExhaustedError(
      absl::StrCat("the HTTP response headers exceed ",
                   HttpResponseParser::kMaxHeaderBytes, " bytes"));
}

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("malformed HTTP response from the server: ", what));
}

bool ParseDecimal(absl::string_view text, uint64_t& value) {
  if (text.empty() || text.size() > 19) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(text, &value);
}

bool ParseHex(absl::string_view text, uint64_t& value) {
  if (text.empty() || text.size() > 15) return false;
  value = 0;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (!absl::ascii_isxdigit(u)) return false;
    const int digit =
        absl::ascii_isdigit(u) ? c - '0' : absl::ascii_tolower(u) - 'a' + 10;
    value = value * 16 + static_cast<uint64_t>(digit);
  }
  return true;
}

// RFC 9112 6.3: the last transfer coding decides whether the body is
// chunked.
bool LastCodingIsChunked(absl::string_view transfer_encoding) {
  absl::string_view last = transfer_encoding;
  if (size_t comma = last.rfind(','); comma != absl::string_view::npos) {
    last.remove_prefix(comma + 1);
  }
  return absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(last), "chunked");
}

}  // namespace

absl::Status HttpResponseParser::Feed(absl::string_view bytes) {
  if (state_ == State::kComplete) return absl::OkStatus();
  buffer_.append(bytes.data(), bytes.size());
  return Parse();
}

absl::Status HttpResponseParser::FinishAtEof() {
  if (state_ == State::kComplete) return absl::OkStatus();
  if (state_ == State::kBodyToEof) {
    state_ = State::kComplete;
    return absl::OkStatus();
  }
  if (state_ == State::kHead && !have_status_line_ && buffer_.empty()) {
    return absl::DataLossError(
        "the server closed the connection without an HTTP response");
  }
  return absl::DataLossError(
      "the server closed the connection before the HTTP response was "
      "complete");
}

bool HttpResponseParser::NextLine(std::string& line) {
  const size_t end = buffer_.find('\n');
  if (end == std::string::npos) return false;
  size_t length = end;
  if (length > 0 && buffer_[length - 1] == '\r') --length;
  line.assign(buffer_, 0, length);
  buffer_.erase(0, end + 1);
  return true;
}

absl::Status HttpResponseParser::Parse() {
  std::string line;
  while (state_ != State::kComplete) {
    switch (state_) {
      case State::kHead:
      case State::kTrailers: {
        if (!NextLine(line)) {
          if (head_bytes_ + buffer_.size() > kMaxHeaderBytes) {
            return HeadersTooLarge();
          }
          return absl::OkStatus();
        }
        head_bytes_ += line.size() + 2;
        if (head_bytes_ > kMaxHeaderBytes) return HeadersTooLarge();
        if (state_ == State::kTrailers) {
          // Trailer fields are read past, not kept.
          if (line.empty()) state_ = State::kComplete;
          continue;
        }
        absl::Status s = !have_status_line_ ? ParseStatusLine(line)
                         : !line.empty()    ? ParseHeaderLine(line)
                                            : StartBody();
        if (!s.ok()) return s;
        continue;
      }
      case State::kChunkSize: {
        if (!NextLine(line)) {
          if (buffer_.size() > kMaxChunkSizeLine) {
            return Malformed("a chunk-size line is too long");
          }
          return absl::OkStatus();
        }
        if (absl::Status s = ParseChunkSize(line); !s.ok()) return s;
        continue;
      }
      case State::kLengthBody:
      case State::kChunkData: {
        if (buffer_.empty()) return absl::OkStatus();
        const size_t take =
            static_cast<size_t>(std::min<uint64_t>(remaining_, buffer_.size()));
        if (absl::Status s =
                AppendBody(absl::string_view(buffer_).substr(0, take));
            !s.ok()) {
          return s;
        }
        buffer_.erase(0, take);
        remaining_ -= take;
        if (remaining_ == 0) {
          state_ = state_ == State::kLengthBody ? State::kComplete
                                                : State::kChunkDataEnd;
        }
        continue;
      }
      case State::kChunkDataEnd: {
        if (!NextLine(line)) {
          if (buffer_.size() > 2)
            return Malformed("chunk data overruns its size");
          return absl::OkStatus();
        }
        if (!line.empty()) return Malformed("chunk data overruns its size");
        state_ = State::kChunkSize;
        continue;
      }
      case State::kBodyToEof: {
        absl::Status s = AppendBody(buffer_);
        buffer_.clear();
        return s;
      }
      case State::kComplete:
        break;
    }
  }
  return absl::OkStatus();
}

absl::Status HttpResponseParser::ParseStatusLine(absl::string_view line) {
  // HTTP-version SP status-code SP [reason-phrase]
  std::vector<absl::string_view> parts =
      absl::StrSplit(line, absl::MaxSplits(' ', 2));
  if (parts.size() < 2 || !absl::StartsWith(parts[0], "HTTP/1.") ||
      parts[0].size() != 8 || parts[1].size() != 3) {
    return Malformed(absl::StrCat("bad status line \"",
                                  absl::CEscape(line.substr(0, 80)), "\""));
  }
  uint64_t status = 0;
  if (!ParseDecimal(parts[1], status) || status < 100) {
    return Malformed(absl::StrCat("bad status code \"", parts[1], "\""));
  }
  response_.version = std::string(parts[0]);
  response_.status = static_cast<int>(status);
  response_.reason = parts.size() == 3 ? std::string(parts[2]) : "";
  have_status_line_ = true;
  return absl::OkStatus();
}

absl::Status HttpResponseParser::ParseHeaderLine(absl::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    return Malformed("obsolete header line folding");
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || !IsHttpToken(line.substr(0, colon))) {
    return Malformed(absl::StrCat("bad header line \"",
                                  absl::CEscape(line.substr(0, 80)), "\""));
  }
  response_.headers.push_back(
      {std::string(line.substr(0, colon)),
       std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)))});
  return absl::OkStatus();
}

absl::Status HttpResponseParser::StartBody() {
  const int status = response_.status;
  if (status < 200) {
    if (status == 101) return Malformed("unrequested protocol switch (101)");
    // Interim response (100 Continue, 103 Early Hints): the real one follows.
    response_ = HttpResponse{};
    have_status_line_ = false;
    head_bytes_ = 0;
    return absl::OkStatus();
  }
  if (head_request_ || status == 204 || status == 304) {
    state_ = State::kComplete;
    return absl::OkStatus();
  }
  std::optional<std::string> length;
  bool chunked = false;
  bool has_transfer_encoding = false;
  for (const HttpHeader& header : response_.headers) {
    if (absl::EqualsIgnoreCase(header.name, "Transfer-Encoding")) {
      has_transfer_encoding = true;
      chunked = LastCodingIsChunked(header.value);
    } else if (absl::EqualsIgnoreCase(header.name, "Content-Length")) {
      if (length.has_value() && *length != header.value) {
        return Malformed("conflicting Content-Length headers");
      }
      length = header.value;
    }
  }
  if (has_transfer_encoding) {
    // Transfer-Encoding overrides Content-Length (RFC 9112 6.3).
    state_ = chunked ? State::kChunkSize : State::kBodyToEof;
    return absl::OkStatus();
  }
  if (length.has_value()) {
    if (!ParseDecimal(*length, remaining_)) {
      return Malformed(absl::StrCat("bad Content-Length \"", *length, "\""));
    }
    if (remaining_ > max_body_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the response body (", remaining_,
                       " bytes) exceeds the limit of ", max_body_, " bytes"));
    }
    state_ = remaining_ == 0 ? State::kComplete : State::kLengthBody;
    return absl::OkStatus();
  }
  state_ = State::kBodyToEof;
  return absl::OkStatus();
}

absl::Status HttpResponseParser::ParseChunkSize(absl::string_view line) {
  // chunk-size [ chunk-ext ]
  absl::string_view size = line.substr(0, line.find(';'));
  size = absl::StripAsciiWhitespace(size);
  if (!ParseHex(size, remaining_)) {
    return Malformed(absl::StrCat("bad chunk size \"",
                                  absl::CEscape(line.substr(0, 40)), "\""));
  }
  if (remaining_ == 0) {
    state_ = State::kTrailers;
  } else if (response_.body.size() + remaining_ > max_body_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the response body exceeds the limit of ", max_body_, " bytes"));
  } else {
    state_ = State::kChunkData;
  }
  return absl::OkStatus();
}

absl::Status HttpResponseParser::AppendBody(absl::string_view bytes) {
  if (response_.body.size() + bytes.size() > max_body_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the response body exceeds the limit of ", max_body_, " bytes"));
  }
  response_.body.append(bytes.data(), bytes.size());
  return absl::OkStatus();
}

}  // namespace keyhold::agent::tls
