// Everything one client handshake needs: the target, the client identity (a
// key whose private half stays in its token and the certificate chain to
// present), how to verify the server, protocol limits, and timeouts. Plain
// data: ClientContextCache turns it into an SSL_CTX, Tunnel into a
// connection.
#ifndef KEYHOLD_AGENT_TLS_TLS_SETTINGS_H_
#define KEYHOLD_AGENT_TLS_TLS_SETTINGS_H_

#include <openssl/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace keyhold::agent::tls {

enum class TlsVersion { kTls12, kTls13 };

// "1.2" / "1.3" (the CLI and config spelling); "TLSv1.2" / "TLSv1.3" too.
absl::StatusOr<TlsVersion> ParseTlsVersion(absl::string_view text);
// "TLSv1.2" / "TLSv1.3": OpenSSL's spelling, as HandshakeFacts reports it.
absl::string_view TlsVersionName(TlsVersion version);
// TLS1_2_VERSION / TLS1_3_VERSION.
int OpenSslProtocolVersion(TlsVersion version);

// Where the certificates that may vouch for the server come from. Sources
// add up; at least one is required (there is no implicit default, so a
// caller who forgot to say cannot end up trusting the whole system store).
struct TrustAnchors {
  std::string pem_bundle = "";  // Concatenated PEM certificates.
  std::string file = "";        // A PEM file, read when the context is built.
  bool system_store = false;    // OpenSSL's default verify paths.

  bool empty() const {
    return pem_bundle.empty() && file.empty() && !system_store;
  }
};

// InfiniteDuration disables a timeout.
struct TlsTimeouts {
  // TCP connect, across every address the host resolves to. Name
  // resolution happens before and is not covered (see Tunnel::Open).
  absl::Duration connect = absl::Seconds(10);
  // From TCP connected to handshake done.
  absl::Duration handshake = absl::Seconds(10);
  // No application bytes in either direction for this long closes an
  // established tunnel.
  absl::Duration idle = absl::Minutes(5);
};

struct TlsSettings {
  // The peer to dial: a DNS name or an IP literal ("::1", no brackets).
  std::string host = "";
  uint16_t port = 0;
  // Sent as SNI and checked against the server certificate. Empty: `host`.
  // No SNI is sent when the name is an IP literal (RFC 6066), but the
  // certificate must still name that IP.
  std::string sni = "";

  // The client identity. `client_key` is usually a keyhold provider key
  // (MakeSignerPkey) whose signatures the token makes, and `libctx` the
  // library context its provider is loaded in (null: OpenSSL's default,
  // for ordinary keys). Borrowed: the key and certificates need only live
  // during the call that receives these settings; contexts take their own
  // references. The key's identity is its pointer (see ClientContextCache).
  OSSL_LIB_CTX* libctx = nullptr;
  EVP_PKEY* client_key = nullptr;
  // Leaf first, then intermediates; the leaf must be for `client_key`.
  std::vector<X509*> certificate_chain = {};

  TrustAnchors trust = {};
  // Check that the server certificate names server_name(). Only a config
  // profile may turn this off, for a named target; the chain is verified
  // against `trust` regardless.
  bool verify_hostname = true;

  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  // ALPN protocols in preference order ("h2", "http/1.1"); empty: no ALPN.
  std::vector<std::string> alpn = {};
  // OpenSSL syntax. cipher_list restricts TLS 1.2 ("ECDHE+AESGCM"),
  // ciphersuites TLS 1.3 ("TLS_AES_256_GCM_SHA384"). Empty: OpenSSL's
  // defaults.
  std::string cipher_list = "";
  std::string ciphersuites = "";

  TlsTimeouts timeouts = {};

  // `sni`, or `host` when `sni` is empty.
  const std::string& server_name() const { return sni.empty() ? host : sni; }
  // "host:port" ("[::1]:443" for IPv6 literals), for messages and logs.
  std::string target() const;
};

// INVALID_ARGUMENT naming the first setting that cannot work. Does not
// touch the network, the key or the trust files.
absl::Status ValidateTlsSettings(const TlsSettings& settings);

// True for IPv4 and IPv6 literals.
bool IsIpLiteral(absl::string_view host);

// A name to dial or to verify: dot-separated labels of 1 to 63 letters,
// digits, '-' (not first or last) and '_' (found in real host names),
// 253 bytes at most.
bool IsHostName(absl::string_view name);

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_TLS_SETTINGS_H_
