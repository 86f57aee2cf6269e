#include "tests/testing/tls_harness.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/test_pki.h"
#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::testing {
namespace {

constexpr char kServerName[] = "localhost";
// A handshake is a handful of flights; more rounds than this means stuck.
constexpr int kMaxRounds = 32;

absl::Status PinVersion(SSL_CTX* ctx, int version) {
  if (SSL_CTX_set_min_proto_version(ctx, version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, version) != 1) {
    return OpenSslError(absl::StrCat("pinning TLS version ", version));
  }
  return absl::OkStatus();
}

absl::StatusOr<SslCtxPtr> MakeServerContext(OSSL_LIB_CTX* libctx,
                                            X509* certificate, EVP_PKEY* key,
                                            const TlsServerSettings& settings) {
  if (settings.client_ca == nullptr) {
    return absl::InvalidArgumentError("the server needs a client CA");
  }
  SslCtxPtr ctx(SSL_CTX_new_ex(libctx, nullptr, TLS_server_method()));
  if (ctx == nullptr) return OpenSslError("server SSL_CTX");
  if (absl::Status s = PinVersion(ctx.get(), settings.tls_version); !s.ok()) {
    return s;
  }
  if (SSL_CTX_use_certificate(ctx.get(), certificate) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key) != 1) {
    return OpenSslError("server certificate and key");
  }
  SSL_CTX_set_verify(
      ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()),
                          settings.client_ca) != 1 ||
      SSL_CTX_add_client_CA(ctx.get(), settings.client_ca) != 1) {
    return OpenSslError("trusting the client CA");
  }
  if (!settings.client_sigalgs.empty() &&
      SSL_CTX_set1_client_sigalgs_list(ctx.get(),
                                       settings.client_sigalgs.c_str()) != 1) {
    return OpenSslError(
        absl::StrCat("client sigalgs \"", settings.client_sigalgs, "\""));
  }
  return ctx;
}

absl::StatusOr<SslCtxPtr> MakeClientContext(const TlsClientIdentity& client,
                                            X509* server_ca, int version) {
  SslCtxPtr ctx(SSL_CTX_new_ex(client.libctx, nullptr, TLS_client_method()));
  if (ctx == nullptr) return OpenSslError("client SSL_CTX");
  if (absl::Status s = PinVersion(ctx.get(), version); !s.ok()) return s;
  // The certificate first: SSL_CTX_use_PrivateKey then checks that the key
  // fits it (X509_check_private_key), as applications loading a pair do.
  if (SSL_CTX_use_certificate(ctx.get(), client.certificate) != 1) {
    return OpenSslError("client certificate");
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), client.key) != 1) {
    return OpenSslError("client key does not fit the client certificate");
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), server_ca) != 1) {
    return OpenSslError("trusting the server CA");
  }
  return ctx;
}

enum class Progress { kDone, kWaiting, kFailed };

Progress Step(SSL* ssl) {
  const int result = SSL_do_handshake(ssl);
  if (result == 1) return Progress::kDone;
  const int error = SSL_get_error(ssl, result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    return Progress::kWaiting;
  }
  return Progress::kFailed;
}

std::string ServerVerifyResult(SSL* server) {
  return X509_verify_cert_error_string(SSL_get_verify_result(server));
}

absl::Status RunHandshake(SSL* client, SSL* server) {
  Progress client_state = Progress::kWaiting;
  Progress server_state = Progress::kWaiting;
  for (int round = 0; round < kMaxRounds; ++round) {
    if (client_state != Progress::kDone) client_state = Step(client);
    if (client_state == Progress::kFailed) {
      return OpenSslError("client handshake failed",
                          absl::StatusCode::kAborted);
    }
    if (server_state != Progress::kDone) server_state = Step(server);
    if (server_state == Progress::kFailed) {
      const std::string verify = ServerVerifyResult(server);
      return OpenSslError(
          absl::StrCat("server rejected the handshake (client certificate "
                       "verification: ",
                       verify, ")"),
          absl::StatusCode::kAborted);
    }
    if (client_state == Progress::kDone && server_state == Progress::kDone) {
      return absl::OkStatus();
    }
  }
  return absl::DeadlineExceededError("handshake did not finish");
}

// Sends `message` from one end and reads it at the other. In TLS 1.3 this is
// also where the client learns of a server that rejected its certificate
// after the client considered the handshake finished.
absl::Status Transfer(SSL* from, SSL* to, std::string_view message,
                      absl::string_view direction) {
  size_t written = 0;
  if (SSL_write_ex(from, message.data(), message.size(), &written) != 1 ||
      written != message.size()) {
    return OpenSslError(absl::StrCat(direction, ": write failed"),
                        absl::StatusCode::kAborted);
  }
  char buffer[64];
  size_t read = 0;
  if (SSL_read_ex(to, buffer, sizeof(buffer), &read) != 1) {
    return OpenSslError(absl::StrCat(direction, ": read failed"),
                        absl::StatusCode::kAborted);
  }
  if (std::string_view(buffer, read) != message) {
    return absl::DataLossError(absl::StrCat(direction, ": message garbled"));
  }
  return absl::OkStatus();
}

HandshakeResult Describe(SSL* server) {
  HandshakeResult result;
  result.version = SSL_version(server);
  result.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(server));
  SSL_get_peer_signature_type_nid(server, &result.client_signature_type);
  SSL_ctrl(server, SSL_CTRL_GET_PEER_SIGNATURE_NID, 0,
           &result.client_signature_digest);
  if (X509* peer = SSL_get0_peer_certificate(server); peer != nullptr) {
    char name[256] = "";
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName,
                                  name, sizeof(name)) > 0) {
      result.client_common_name = name;
    }
  }
  return result;
}

}  // namespace

absl::StatusOr<HandshakeResult> HandshakeWithClientKey(
    const TlsClientIdentity& client, const TlsServerSettings& server) {
  if (client.key == nullptr || client.certificate == nullptr) {
    return absl::InvalidArgumentError("the client needs a key and certificate");
  }
  ERR_clear_error();

  // The server lives in a library context of its own, untouched by
  // whatever providers the client's context has.
  OsslLibCtxPtr server_libctx(OSSL_LIB_CTX_new());
  if (server_libctx == nullptr) return OpenSslError("server library context");
  absl::StatusOr<CertificateAuthority> server_ca =
      MakeCertificateAuthority(server_libctx.get(), "keyhold test server CA");
  if (!server_ca.ok()) return server_ca.status();
  absl::StatusOr<EvpPkeyPtr> server_key =
      GenerateTestKey(server_libctx.get(), KeyType::kEcP256);
  if (!server_key.ok()) return server_key.status();
  absl::StatusOr<X509Ptr> server_certificate = IssueCertificate(
      server_ca->certificate.get(),
      {.key = server_ca->key.get(), .libctx = server_libctx.get()},
      server_key->get(),
      {.common_name = kServerName,
       .purpose = CertificatePurpose::kServer,
       .dns_names = {kServerName}});
  if (!server_certificate.ok()) return server_certificate.status();

  absl::StatusOr<SslCtxPtr> server_ctx =
      MakeServerContext(server_libctx.get(), server_certificate->get(),
                        server_key->get(), server);
  if (!server_ctx.ok()) return server_ctx.status();
  absl::StatusOr<SslCtxPtr> client_ctx = MakeClientContext(
      client, server_ca->certificate.get(), server.tls_version);
  if (!client_ctx.ok()) return client_ctx.status();

  SslPtr client_ssl(SSL_new(client_ctx->get()));
  SslPtr server_ssl(SSL_new(server_ctx->get()));
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  if (client_ssl == nullptr || server_ssl == nullptr ||
      BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) != 1) {
    return OpenSslError("connecting client and server");
  }
  // Each SSL takes over one reference to its end of the pair.
  SSL_set_bio(client_ssl.get(), client_bio, client_bio);
  SSL_set_bio(server_ssl.get(), server_bio, server_bio);
  // SSL_set_tlsext_host_name, without the macro's C cast.
  if (SSL_ctrl(client_ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
               TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(kServerName)) != 1 ||
      SSL_set1_host(client_ssl.get(), kServerName) != 1) {
    return OpenSslError("setting the server name");
  }
  SSL_set_connect_state(client_ssl.get());
  SSL_set_accept_state(server_ssl.get());

  if (absl::Status s = RunHandshake(client_ssl.get(), server_ssl.get());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Transfer(client_ssl.get(), server_ssl.get(), "ping",
                                "client to server");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Transfer(server_ssl.get(), client_ssl.get(), "pong",
                                "server to client");
      !s.ok()) {
    return s;
  }
  return Describe(server_ssl.get());
}

}  // namespace keyhold::testing
