// What a finished client handshake established, for the caller (the
// Connect reply, `keyhold request -v`) and the audit line.
#ifndef KEYHOLD_AGENT_TLS_HANDSHAKE_FACTS_H_
#define KEYHOLD_AGENT_TLS_HANDSHAKE_FACTS_H_

#include <openssl/ssl.h>

#include <string>

#include "absl/status/statusor.h"

namespace keyhold::agent::tls {

struct HandshakeFacts {
  std::string protocol = "";  // "TLSv1.2", "TLSv1.3"
  std::string cipher = "";    // OpenSSL's name: "TLS_AES_256_GCM_SHA384"
  std::string alpn = "";      // The protocol the server chose; empty: none.
  // True when the server accepted a stored session: no certificates were
  // exchanged and the client key made no signature.
  bool session_reused = false;
  std::string peer_address = "";  // The address connected to: "127.0.0.1:443"
  // The server's leaf certificate subject, RFC 2253 ("CN=api.example,O=..").
  std::string peer_subject = "";
  // The chain the server sent, leaf first, as concatenated PEM.
  std::string peer_chain_pem = "";
  // X509_verify_cert_error_string of the verification result: "ok".
  std::string verify_result = "";
};

// Reads the facts from an SSL whose handshake has completed.
absl::StatusOr<HandshakeFacts> DescribeHandshake(SSL* ssl,
                                                 std::string peer_address);

// The RFC 2253 form of `name` ("CN=localhost,O=keyhold").
std::string NameToString(const X509_NAME* name);

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_HANDSHAKE_FACTS_H_
