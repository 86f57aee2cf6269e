// One SSL_CTX for client handshakes with one key towards one target under
// one set of settings, and the sessions its server gave it. Connections
// made from it (NewConnection) offer a stored session, so a repeat
// connection resumes without a token signature.
//
// The SSL_CTX is made in the key's library context (SSL_CTX_new_ex with
// TlsSettings::libctx), as a keyhold provider key requires.
//
// Thread-safe after construction: SSL_CTX is shared read-only, the session
// store locks. Every SSL made from a context must be freed before the
// context (Tunnel holds a shared_ptr to its context for that reason).
#ifndef KEYHOLD_AGENT_TLS_CLIENT_CONTEXT_H_
#define KEYHOLD_AGENT_TLS_CLIENT_CONTEXT_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/tls/session_store.h"
#include "agent/tls/tls_settings.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::tls {

class ClientContext {
 public:
  // INVALID_ARGUMENT for bad settings, a cipher string OpenSSL rejects, or
  // a key that does not fit the leaf certificate; NOT_FOUND / INVALID_ARGUMENT
  // for unreadable or empty trust anchors.
  static absl::StatusOr<std::unique_ptr<ClientContext>> New(
      const TlsSettings& settings);

  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // A client SSL in connect state: SNI, the name to verify, and a stored
  // session to offer.
  absl::StatusOr<SslPtr> NewConnection() const;

  SSL_CTX* ssl_ctx() const { return ctx_.get(); }
  SessionStore& sessions() const { return sessions_; }
  // The name checked in the server certificate (empty: no name check).
  const std::string& expected_name() const { return expected_name_; }
  // "TLSv1.3 only", "TLSv1.2 to TLSv1.3": for error messages.
  const std::string& version_range() const { return version_range_; }

 private:
  ClientContext(SslCtxPtr ctx, std::string sni, std::string expected_name,
                std::string version_range)
      : ctx_(std::move(ctx)),
        sni_(std::move(sni)),
        expected_name_(std::move(expected_name)),
        version_range_(std::move(version_range)) {}

  // SSL_CTX_sess_set_new_cb: files the session with its context's store.
  static int OnNewSession(SSL* ssl, SSL_SESSION* session);

  const SslCtxPtr ctx_;
  const std::string sni_;            // Empty: send none.
  const std::string expected_name_;  // Empty: verify_hostname is off.
  const std::string version_range_;
  // Locks itself; const connections still take and add sessions.
  mutable SessionStore sessions_;
};

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_CLIENT_CONTEXT_H_
