#include "agent/tls_service.h"

#include <openssl/pem.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/grpc_status.h"
#include "agent/tls/http_exchange.h"
#include "agent/token_pkey.h"
#include "tokens/openssl_error.h"

namespace keyhold::agent {

namespace v1 = ::keyhold::v1;

namespace {

constexpr size_t kMaxChainPemBytes = 64 * 1024;
constexpr size_t kMaxBundlePemBytes = 1 << 20;
constexpr int kMaxChainCertificates = 8;
constexpr absl::Duration kDefaultRequestTimeout = absl::Seconds(30);
constexpr absl::Duration kMaxTimeout = absl::Minutes(10);

absl::StatusOr<std::vector<X509Ptr>> ParseChain(const std::string& pem) {
  if (pem.size() > kMaxChainPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate_chain_pem: larger than ", kMaxChainPemBytes, " bytes"));
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> chain;
  while (chain.size() <= kMaxChainCertificates) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    chain.push_back(std::move(cert));
  }
  DrainOpenSslErrors();
  if (chain.empty()) {
    return absl::InvalidArgumentError("certificate_chain_pem: no PEM certificate in it");
  }
  if (chain.size() > kMaxChainCertificates) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate_chain_pem: more than ", kMaxChainCertificates, " certificates"));
  }
  return chain;
}

absl::StatusOr<tls::TlsVersion> Version(v1::TlsVersion version) {
  switch (version) {
    case v1::TLS_VERSION_1_2: return tls::TlsVersion::kTls12;
    case v1::TLS_VERSION_1_3: return tls::TlsVersion::kTls13;
    default: return absl::InvalidArgumentError("tls version: 1.2 or 1.3");
  }
}

// Both absent, or both present and equal.
bool SameCertificate(const X509* a, const X509* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return X509_cmp(a, b) == 0;
}

absl::Duration Millis(uint32_t ms, absl::Duration fallback) {
  if (ms == 0) return fallback;
  return std::min(absl::Milliseconds(ms), kMaxTimeout);
}

}  // namespace

void FactsToProto(const tls::HandshakeFacts& facts, v1::HandshakeFacts* out) {
  out->set_protocol(facts.protocol);
  out->set_cipher(facts.cipher);
  out->set_alpn(facts.alpn);
  out->set_session_reused(facts.session_reused);
  out->set_peer_address(facts.peer_address);
  out->set_peer_subject(facts.peer_subject);
  out->set_peer_chain_pem(facts.peer_chain_pem);
  out->set_verify_result(facts.verify_result);
}

std::string FactsSummary(const tls::HandshakeFacts& facts) {
  return absl::StrCat(" protocol=", facts.protocol, " resumed=",
                      facts.session_reused ? "yes" : "no", " peer=\"", facts.peer_subject, "\"");
}

absl::Status ParseTarget(const std::string& target, std::string& host, uint16_t& port) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "target: \"", target.substr(0, 300), "\" is not host:port (IPv6 as [::1]:443)"));
  };
  if (target.size() > 300) return bad();
  std::string port_text;
  if (!SplitHostPort(target, host, port_text)) return bad();
  uint32_t value = 0;
  if (host.empty() || !absl::SimpleAtoi(port_text, &value) || value == 0 || value > 65535) {
    return bad();
  }
  port = static_cast<uint16_t>(value);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TlsServiceImpl>> TlsServiceImpl::Create(
    Token& token, const Config& config, const Policy& policy, AuditLog& audit,
    const ConnectionRegistry& connections) {
  std::unique_ptr<TlsServiceImpl> service(
      new TlsServiceImpl(token, config, policy, audit, connections));
  service->libctx_.reset(OSSL_LIB_CTX_new());
  if (!service->libctx_) return OpenSslError("OSSL_LIB_CTX_new");
  absl::StatusOr<KeyholdProvider> provider = LoadKeyholdProvider(service->libctx_.get());
  if (!provider.ok()) return provider.status();
  service->provider_ = std::make_unique<KeyholdProvider>(*std::move(provider));
  absl::StatusOr<std::unique_ptr<tls::EventLoop>> loop = tls::EventLoop::Start();
  if (!loop.ok()) return loop.status();
  service->loop_ = *std::move(loop);
  return service;
}

TlsServiceImpl::~TlsServiceImpl() { loop_.reset(); }

absl::StatusOr<std::shared_ptr<const TlsServiceImpl::ClientKey>> TlsServiceImpl::KeyFor(
    const std::string& label) {
  if (std::shared_ptr<const ClientKey> cached = keys_.Find(label)) return cached;
  const uint64_t mark = keys_.Mark();
  absl::StatusOr<KeyInfo> key = token_.FindKeyByLabel(label);
  if (!key.ok()) return key.status();
  X509Ptr stored_certificate;
  absl::StatusOr<X509Ptr> cert = token_.FindCertificate(*key);
  if (cert.ok()) {
    stored_certificate = *std::move(cert);
  } else if (!absl::IsNotFound(cert.status())) {
    return cert.status();
  }
  // A change to other keys emptied the cache: the same key (its id) with
  // the same certificate keeps its EVP_PKEY, and with it its client
  // contexts and the servers' sessions (a full handshake saved per target).
  if (std::shared_ptr<const ClientKey> before = keys_.BeforeChange(label);
      before != nullptr && before->key.id == key->id &&
      SameCertificate(before->stored_certificate.get(), stored_certificate.get())) {
    return keys_.Put(label, mark, std::move(before));
  }
  auto entry = std::make_shared<ClientKey>();
  entry->key = *key;
  absl::StatusOr<EvpPkeyPtr> pkey = TokenKeyPkey(libctx_.get(), token_, *key);
  if (!pkey.ok()) return pkey.status();
  entry->pkey = *std::move(pkey);
  entry->stored_certificate = std::move(stored_certificate);
  // Another call may have been first: all use its EVP_PKEY.
  return keys_.Put(label, mark, std::move(entry));
}

absl::StatusOr<TlsServiceImpl::Prepared> TlsServiceImpl::Prepare(const Caller& caller,
                                                                 const v1::TlsOptions& options,
                                                                 AuditEvent& event) {
  Prepared out;
  tls::TlsSettings& s = out.settings;
  if (absl::Status st = ParseTarget(options.target(), s.host, s.port); !st.ok()) return st;
  event.detail = absl::StrCat("target=", options.target());
  event.key_label = options.key().substr(0, 64);
  if (absl::Status st = ValidateKeyLabel(options.key()); !st.ok()) return st;
  absl::StatusOr<std::shared_ptr<const ClientKey>> key = KeyFor(options.key());
  if (!key.ok()) return key.status();
  out.key = *key;
  event.key_id = out.key->key.IdHex();
  if (absl::Status st = policy_.CheckKey(caller, out.key->key, KeyOperation::kHandshake);
      !st.ok()) {
    return st;
  }
  // The name the server is asked for (SNI) and its certificate checked
  // against must be allowed as much as the address dialled: otherwise a key
  // limited to one name could reach any other virtual host on that server.
  const auto covers = [&](const std::vector<std::string>& patterns) {
    bool host = false;
    bool sni = options.sni().empty();
    for (const std::string& pattern : patterns) {
      host = host || TargetMatches(pattern, s.host, s.port);
      sni = sni || TargetMatches(pattern, options.sni(), s.port);
    }
    return host && sni;
  };
  // For the refusals only: Prepare runs once per handshake.
  const auto sni_note = [&]() -> std::string {
    return options.sni().empty() ? "" : absl::StrCat(" with SNI ", options.sni().substr(0, 255));
  };
  const KeyPolicy* configured = config_.FindKey(options.key());
  if (configured != nullptr && configured->targets) {
    if (!covers(*configured->targets)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "key \"", options.key(), "\" may not dial ", options.target(), sni_note(), " (its targets: ",
          configured->targets->empty() ? "none" : absl::StrJoin(*configured->targets, ", "),
          ")"));
    }
  }

  // The profile first, then what the call says on top.
  if (!options.profile().empty()) {
    auto it = config_.tls_profiles.find(options.profile());
    if (it == config_.tls_profiles.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("profile: no [tls_profile.", options.profile().substr(0, 64),
                       "] in the agent's config"));
    }
    const TlsProfile& profile = it->second;
    if (!profile.targets.empty() && !covers(profile.targets)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "tls_profile ", profile.name, " is for ", absl::StrJoin(profile.targets, ", "),
          ", not ", options.target(), sni_note()));
    }
    s.trust.file = profile.ca_file;
    s.trust.system_store = profile.system_trust;
    s.verify_hostname = profile.verify_hostname;
    if (!profile.tls_min.empty()) s.min_version = *tls::ParseTlsVersion(profile.tls_min);
    if (!profile.tls_max.empty()) s.max_version = *tls::ParseTlsVersion(profile.tls_max);
    s.alpn = profile.alpn;
    s.cipher_list = profile.cipher_list;
    s.ciphersuites = profile.ciphersuites;
  }
  s.sni = options.sni();
  if (options.ca_bundle_pem().size() > kMaxBundlePemBytes) {
    return absl::InvalidArgumentError("ca_bundle_pem: larger than 1 MiB");
  }
  s.trust.pem_bundle = options.ca_bundle_pem();
  s.trust.system_store = s.trust.system_store || options.use_system_trust();
  if (s.trust.empty()) {
    return absl::InvalidArgumentError(
        "no trust anchors for the server: give a CA bundle (keyhold --cacert), a profile "
        "with ca_file, or use the system store (--system-trust)");
  }
  if (options.min_version() != v1::TLS_VERSION_UNSPECIFIED) {
    absl::StatusOr<tls::TlsVersion> v = Version(options.min_version());
    if (!v.ok()) return v.status();
    s.min_version = *v;
  }
  if (options.max_version() != v1::TLS_VERSION_UNSPECIFIED) {
    absl::StatusOr<tls::TlsVersion> v = Version(options.max_version());
    if (!v.ok()) return v.status();
    s.max_version = *v;
  }
  if (options.alpn_size() > 0) s.alpn.assign(options.alpn().begin(), options.alpn().end());
  if (!options.cipher_list().empty()) s.cipher_list = options.cipher_list();
  if (!options.ciphersuites().empty()) s.ciphersuites = options.ciphersuites();
  s.timeouts.connect = Millis(options.connect_timeout_ms(), s.timeouts.connect);
  s.timeouts.handshake = Millis(options.handshake_timeout_ms(), s.timeouts.handshake);
  s.timeouts.idle = Millis(options.idle_timeout_ms(), s.timeouts.idle);

  s.libctx = libctx_.get();
  s.client_key = out.key->pkey.get();
  if (!options.certificate_chain_pem().empty()) {
    absl::StatusOr<std::vector<X509Ptr>> chain = ParseChain(options.certificate_chain_pem());
    if (!chain.ok()) return chain.status();
    out.chain = *std::move(chain);
    for (const X509Ptr& cert : out.chain) s.certificate_chain.push_back(cert.get());
  } else if (out.key->stored_certificate) {
    s.certificate_chain.push_back(out.key->stored_certificate.get());
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "key \"", options.key(), "\" has no certificate on the token; store one (keyhold cert "
        "import) or pass the chain (--cert)"));
  }
  if (absl::Status st = tls::ValidateTlsSettings(s); !st.ok()) return st;
  return out;
}

grpc::ServerUnaryReactor* TlsServiceImpl::Request(grpc::CallbackServerContext* context,
                                                  const v1::HttpRequest* request,
                                                  v1::HttpResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Everything the completion needs lives in one block shared with it.
  struct Call {
    explicit Call(const ConnectionRegistry& connections) : active(connections) {}
    ConnectionRegistry::ActiveCall active;
    Caller caller;
    AuditEvent event;
  };
  auto call = std::make_shared<Call>(connections_);
  call->event.operation = "TlsService.Request";
  auto finish = [this, reactor, call](absl::Status status) {
    call->event.result = status;
    audit_.Record(call->event);
    reactor->Finish(ToGrpcStatus(status));
  };
  absl::StatusOr<Caller> caller = connections_.Lookup(context->peer());
  if (!caller.ok()) {
    finish(caller.status());
    return reactor;
  }
  call->caller = *std::move(caller);
  call->event.caller = &call->caller;
  absl::StatusOr<Prepared> prepared = Prepare(call->caller, request->tls(), call->event);
  if (!prepared.ok()) {
    finish(prepared.status());
    return reactor;
  }
  tls::HttpRequestSpec spec;
  if (!request->method().empty()) spec.method = request->method();
  if (!request->path().empty()) spec.path = request->path();
  for (const v1::HttpHeader& header : request->headers()) {
    spec.headers.push_back({header.name(), header.value()});
  }
  spec.body = request->body();
  absl::StrAppend(&call->event.detail, " request=", spec.method.substr(0, 16), " ",
                  spec.path.substr(0, 128));
  // Runs once on the event loop thread; gRPC keeps `response` alive until
  // Finish.
  absl::Status started = tls::StartHttpExchange(
      *loop_, contexts_, prepared->settings, spec,
      Millis(request->timeout_ms(), kDefaultRequestTimeout),
      [finish, call, response](absl::StatusOr<tls::HttpResponse> result) mutable {
        if (!result.ok()) {
          finish(result.status());
          return;
        }
        absl::StrAppend(&call->event.detail, FactsSummary(result->handshake),
                        " status=", result->status);
        FactsToProto(result->handshake, response->mutable_handshake());
        response->set_version(result->version);
        response->set_status(static_cast<uint32_t>(result->status));
        response->set_reason(result->reason);
        for (const tls::HttpHeader& header : result->headers) {
          v1::HttpHeader* h = response->add_headers();
          h->set_name(header.name);
          h->set_value(header.value);
        }
        response->set_body(std::move(result->body));
        finish(absl::OkStatus());
      });
  if (!started.ok()) finish(started);
  return reactor;
}

}  // namespace keyhold::agent
