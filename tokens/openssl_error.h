#ifndef KEYHOLD_TOKENS_OPENSSL_ERROR_H_
#define KEYHOLD_TOKENS_OPENSSL_ERROR_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"

namespace keyhold {

// Drains this thread's OpenSSL error queue into one line ("a; b; c"), or
// "no OpenSSL error recorded" when the queue is empty.
std::string DrainOpenSslErrors();

// A status of `code` whose message is `what` followed by the drained OpenSSL
// error queue, so the cause reaches the caller instead of a log line.
absl::Status OpenSslError(absl::string_view what,
                          absl::StatusCode code = absl::StatusCode::kInternal);

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_OPENSSL_ERROR_H_
