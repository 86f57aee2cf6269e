#include "agent/tls/client_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/openssl_error.h"

namespace keyhold::agent::tls {
namespace {

// The SSL_CTX ex_data slot that points back at its ClientContext.
int ContextIndex() {
  static const int index =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

absl::Status SetVersions(SSL_CTX* ctx, const TlsSettings& settings) {
  if (SSL_CTX_set_min_proto_version(
          ctx, OpenSslProtocolVersion(settings.min_version)) != 1 ||
      SSL_CTX_set_max_proto_version(
          ctx, OpenSslProtocolVersion(settings.max_version)) != 1) {
    return OpenSslError("setting the TLS version range");
  }
  return absl::OkStatus();
}

absl::Status SetCiphers(SSL_CTX* ctx, const TlsSettings& settings) {
  if (!settings.cipher_list.empty() &&
      SSL_CTX_set_cipher_list(ctx, settings.cipher_list.c_str()) != 1) {
    return OpenSslError(
        absl::StrCat("TLS 1.2 cipher list \"", settings.cipher_list, "\""),
        absl::StatusCode::kInvalidArgument);
  }
  if (!settings.ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx, settings.ciphersuites.c_str()) != 1) {
    return OpenSslError(
        absl::StrCat("TLS 1.3 ciphersuites \"", settings.ciphersuites, "\""),
        absl::StatusCode::kInvalidArgument);
  }
  return absl::OkStatus();
}

absl::Status SetAlpn(SSL_CTX* ctx, const std::vector<std::string>& alpn) {
  if (alpn.empty()) return absl::OkStatus();
  std::string wire;
  for (const std::string& name : alpn) {
    wire.push_back(static_cast<char>(name.size()));
    wire += name;
  }
  // Returns 0 on success, unlike the rest of the API.
  if (SSL_CTX_set_alpn_protos(
          ctx, reinterpret_cast<const unsigned char*>(wire.data()),
          static_cast<unsigned int>(wire.size())) != 0) {
    return OpenSslError("setting the ALPN list");
  }
  return absl::OkStatus();
}

absl::Status SetClientIdentity(SSL_CTX* ctx, const TlsSettings& settings) {
  X509* leaf = settings.certificate_chain.front();
  // Checked here because SSL_CTX_use_PrivateKey only compares a key with a
  // certificate of its own type: an EC key would sit silently beside an RSA
  // certificate.
  if (X509_check_private_key(leaf, settings.client_key) != 1) {
    return OpenSslError("the client key does not fit the client certificate",
                        absl::StatusCode::kInvalidArgument);
  }
  if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
    return OpenSslError("using the client certificate",
                        absl::StatusCode::kInvalidArgument);
  }
  if (SSL_CTX_use_PrivateKey(ctx, settings.client_key) != 1) {
    return OpenSslError("using the client key",
                        absl::StatusCode::kInvalidArgument);
  }
  for (size_t i = 1; i < settings.certificate_chain.size(); ++i) {
    // SSL_CTX_add1_chain_cert without the macro's C cast.
    if (SSL_CTX_ctrl(ctx, SSL_CTRL_CHAIN_CERT, 1,
                     settings.certificate_chain[i]) != 1) {
      return OpenSslError("adding an intermediate certificate to the chain");
    }
  }
  return absl::OkStatus();
}

absl::Status AddPemBundle(SSL_CTX* ctx, OSSL_LIB_CTX* libctx,
                          const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslError("reading the trust bundle");
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (true) {
    X509Ptr certificate(X509_new_ex(libctx, nullptr));
    if (certificate == nullptr) return OpenSslError("X509_new_ex");
    X509* target = certificate.get();
    if (PEM_read_bio_X509(bio.get(), &target, nullptr, nullptr) == nullptr) {
      break;
    }
    if (X509_STORE_add_cert(store, certificate.get()) != 1) {
      return OpenSslError("adding a trust anchor");
    }
    ++added;
  }
  // The loop ends on "no start line" at the end of the text; anything else
  // means a damaged certificate.
  const unsigned long last = ERR_peek_last_error();
  if (last != 0 && !(ERR_GET_LIB(last) == ERR_LIB_PEM &&
                     ERR_GET_REASON(last) == PEM_R_NO_START_LINE)) {
    return OpenSslError("the trust bundle has a damaged certificate",
                        absl::StatusCode::kInvalidArgument);
  }
  ERR_clear_error();
  if (added == 0) {
    return absl::InvalidArgumentError(
        "the trust bundle holds no PEM certificate");
  }
  return absl::OkStatus();
}

absl::Status SetTrust(SSL_CTX* ctx, const TlsSettings& settings) {
  const TrustAnchors& trust = settings.trust;
  if (!trust.pem_bundle.empty()) {
    if (absl::Status s = AddPemBundle(ctx, settings.libctx, trust.pem_bundle);
        !s.ok()) {
      return s;
    }
  }
  if (!trust.file.empty()) {
    struct stat info;
    if (::stat(trust.file.c_str(), &info) != 0) {
      return absl::NotFoundError(
          absl::StrCat("cannot read the trust anchors file ", trust.file));
    }
    if (SSL_CTX_load_verify_file(ctx, trust.file.c_str()) != 1) {
      return OpenSslError(
          absl::StrCat("loading trust anchors from ", trust.file),
          absl::StatusCode::kInvalidArgument);
    }
  }
  if (trust.system_store && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return OpenSslError("loading the system trust store");
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(ctx),
                                  X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return absl::OkStatus();
}

std::string VersionRange(const TlsSettings& settings) {
  if (settings.min_version == settings.max_version) {
    return absl::StrCat(TlsVersionName(settings.min_version), " only");
  }
  return absl::StrCat(TlsVersionName(settings.min_version), " to ",
                      TlsVersionName(settings.max_version));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClientContext>> ClientContext::New(
    const TlsSettings& settings) {
  if (absl::Status s = ValidateTlsSettings(settings); !s.ok()) return s;
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new_ex(settings.libctx, nullptr, TLS_client_method()));
  if (ctx == nullptr) return OpenSslError("creating a TLS client context");
  if (absl::Status s = SetVersions(ctx.get(), settings); !s.ok()) return s;
  if (absl::Status s = SetCiphers(ctx.get(), settings); !s.ok()) return s;
  if (absl::Status s = SetAlpn(ctx.get(), settings.alpn); !s.ok()) return s;
  if (absl::Status s = SetClientIdentity(ctx.get(), settings); !s.ok()) {
    return s;
  }
  if (absl::Status s = SetTrust(ctx.get(), settings); !s.ok()) return s;
  // Sessions go to our store only: OpenSSL's internal cache never looks
  // sessions up for clients anyway.
  SSL_CTX_set_session_cache_mode(
      ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx.get(), &ClientContext::OnNewSession);
  // A server may not start a new handshake on an open connection (TLS 1.2
  // renegotiation): each would have the token sign again inside a read on
  // the event loop, with no audit line and no handshake timeout.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
  // Non-blocking writes of a moving buffer; idle connections give their
  // record buffers back (1,000 idle tunnels must stay small).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);

  const std::string& name = settings.server_name();
  std::string sni = IsIpLiteral(name) ? "" : name;
  std::string expected = settings.verify_hostname ? name : "";
  std::unique_ptr<ClientContext> context(
      new ClientContext(std::move(ctx), std::move(sni), std::move(expected),
                        VersionRange(settings)));
  if (SSL_CTX_set_ex_data(context->ctx_.get(), ContextIndex(), context.get()) !=
      1) {
    return OpenSslError("linking the TLS context to its session store");
  }
  return context;
}

absl::StatusOr<SslPtr> ClientContext::NewConnection() const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (ssl == nullptr) return OpenSslError("SSL_new");
  // SSL_set_tlsext_host_name without the macro's C cast.
  if (!sni_.empty() && SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
                                TLSEXT_NAMETYPE_host_name,
                                const_cast<char*>(sni_.c_str())) != 1) {
    return OpenSslError("setting SNI");
  }
  // SSL_set1_host treats IP literals as IP addresses to match.
  if (!expected_name_.empty() &&
      SSL_set1_host(ssl.get(), expected_name_.c_str()) != 1) {
    return OpenSslError("setting the name to verify");
  }
  if (SslSessionPtr session = sessions_.Take(); session != nullptr) {
    // Takes its own reference.
    if (SSL_set_session(ssl.get(), session.get()) != 1) {
      return OpenSslError("offering a stored session");
    }
  }
  SSL_set_connect_state(ssl.get());
  return ssl;
}

int ClientContext::OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* context = static_cast<ClientContext*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ContextIndex()));
  if (context == nullptr) return 0;  // Not ours to keep.
  // Returning 1 hands us OpenSSL's reference.
  context->sessions_.Add(SslSessionPtr(session));
  return 1;
}

}  // namespace keyhold::agent::tls
