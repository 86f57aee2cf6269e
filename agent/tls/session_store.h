// The TLS sessions one client context was given by its server, kept for
// resumption: a repeat connection offers one and, when the server accepts,
// skips the certificate exchange — and with it the token signature.
//
// TLS 1.3 tickets are handed out once each (RFC 8446 C.4: reuse lets a
// network observer link connections); the server sends fresh ones after
// every handshake. TLS 1.2 sessions are offered until they expire.
//
// Thread-safe: sessions arrive from OpenSSL callbacks on whichever thread
// drives the connection.
#ifndef KEYHOLD_AGENT_TLS_SESSION_STORE_H_
#define KEYHOLD_AGENT_TLS_SESSION_STORE_H_

#include <openssl/ssl.h>

#include <cstddef>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::tls {

using SslSessionPtr = OpenSslPtr<SSL_SESSION, SSL_SESSION_free>;

class SessionStore {
 public:
  // Keeps at most `capacity` sessions, newest first.
  explicit SessionStore(size_t capacity = 4) : capacity_(capacity) {}
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Keeps `session` if it can be resumed; drops the oldest beyond capacity.
  void Add(SslSessionPtr session);

  // The newest unexpired session to offer (a reference of the caller's
  // own), or null. A TLS 1.3 ticket leaves the store; a TLS 1.2 session
  // stays.
  SslSessionPtr Take();

  size_t size() const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<SslSessionPtr> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_SESSION_STORE_H_
