// Turns a failed TLS operation into a status that names what happened: the
// alert the server sent, the verification error, a version mismatch, a
// reset. Runs on the thread that made the failing SSL call, before that
// thread's OpenSSL error queue is touched again.
//
// Codes: FAILED_PRECONDITION when retrying cannot help (verification,
// version mismatch, a certificate or handshake alert from the server);
// UNAVAILABLE for the connection itself (reset, closed early, other alerts).
#ifndef KEYHOLD_AGENT_TLS_TLS_ERROR_H_
#define KEYHOLD_AGENT_TLS_TLS_ERROR_H_

#include <openssl/ssl.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace keyhold::agent::tls {

// The last alerts other than close_notify a connection received and sent,
// as OpenSSL's info callback reports them ((level << 8) | description).
struct AlertLog {
  int received = -1;  // -1: none
  int sent = -1;
};

// Records `ssl`'s alerts in `log`, which must outlive the SSL's use.
void RecordAlerts(SSL* ssl, AlertLog* log);

// Where a failure happened, for the message.
struct FailureContext {
  absl::string_view target;         // "host:port"
  absl::string_view expected_name;  // The name verified; empty: none.
  absl::string_view version_range;  // "TLSv1.2 to TLSv1.3"
};

// The status for SSL_do_handshake returning `ssl_error` (SSL_get_error);
// `saved_errno` is errno right after the call.
absl::Status HandshakeFailure(SSL* ssl, int ssl_error, int saved_errno,
                              const AlertLog& alerts,
                              const FailureContext& context);

// The status for SSL_read, SSL_write or SSL_shutdown failing after the
// handshake (in TLS 1.3 a server that rejects the client certificate says
// so here, after the client saw the handshake complete).
absl::Status ConnectionFailure(int ssl_error, int saved_errno,
                               const AlertLog& alerts,
                               const FailureContext& context);

// True when the pending OpenSSL error is "unexpected eof while reading":
// the peer closed TCP without a close_notify.
bool IsUnexpectedEof(int ssl_error);

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_TLS_ERROR_H_
