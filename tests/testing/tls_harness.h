// An in-memory TLS handshake for tests of client keys: the client side
// uses the caller's key and certificate (a keyhold provider key, token- or
// software-backed, or any other EVP_PKEY); the server side is plain
// OpenSSL (default provider, its own library context) and REQUIRES a client
// certificate. Both ends run in the calling thread over a BIO pair: no
// sockets, no ports, no network.
#ifndef KEYHOLD_TESTS_TESTING_TLS_HARNESS_H_
#define KEYHOLD_TESTS_TESTING_TLS_HARNESS_H_

#include <string>

#include <openssl/ssl.h>

#include "absl/status/statusor.h"

namespace keyhold::testing {

struct TlsClientIdentity {
  // The library context the client's SSL_CTX is made in: for a keyhold
  // key, the one its provider is loaded in. Null: the default context.
  OSSL_LIB_CTX* libctx = nullptr;
  EVP_PKEY* key = nullptr;
  X509* certificate = nullptr;
};

struct TlsServerSettings {
  // Pinned as both minimum and maximum: TLS1_2_VERSION or TLS1_3_VERSION.
  int tls_version = TLS1_3_VERSION;
  // The server accepts only client certificates issued by this CA.
  X509* client_ca = nullptr;
  // Signature algorithms the server accepts from the client, in OpenSSL's
  // list syntax ("RSA+SHA256:ECDSA+SHA256", "rsa_pss_rsae_sha256"). Empty:
  // OpenSSL's defaults.
  std::string client_sigalgs = "";
};

// What the server saw.
struct HandshakeResult {
  int version = 0;  // TLS1_2_VERSION, TLS1_3_VERSION
  std::string cipher = "";
  // The client's CertificateVerify: signature type (EVP_PKEY_RSA for
  // PKCS#1 v1.5, EVP_PKEY_RSA_PSS, EVP_PKEY_EC, EVP_PKEY_ED25519) and
  // digest (NID_sha256, ...; NID_undef for Ed25519).
  int client_signature_type = 0;
  int client_signature_digest = 0;
  std::string client_common_name = "";
};

// Runs one full handshake plus one application-data round trip. The
// server has a fresh EC P-256 key and certificate (CN and SAN "localhost")
// from a fresh CA that the client trusts; the client checks the name.
// Fails with both sides' OpenSSL errors and the server's verify result
// when the client's key does not fit its certificate, the server rejects
// the client, or the handshake breaks.
absl::StatusOr<HandshakeResult> HandshakeWithClientKey(
    const TlsClientIdentity& client, const TlsServerSettings& server);

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_TESTING_TLS_HARNESS_H_
