#include "agent/key_service.h"

#include <openssl/pem.h>

#include <chrono>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/audited_call.h"
#include "agent/proto_convert.h"
#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"
#include "tokens/pem.h"

namespace keyhold::agent {

namespace v1 = ::keyhold::v1;

namespace {

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

// DER or PEM; exactly one certificate, nothing after it.
absl::StatusOr<X509Ptr> ParseCertificate(const std::string& bytes) {
  if (bytes.empty()) return absl::InvalidArgumentError("certificate: empty");
  if (bytes.size() > kMaxCertificateBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate: larger than ", kMaxCertificateBytes, " bytes"));
  }
  X509Ptr cert;
  if (bytes.find("-----BEGIN") != std::string::npos) {
    BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  } else {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
    cert.reset(d2i_X509(nullptr, &p, static_cast<long>(bytes.size())));
    if (cert && p != reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size()) {
      cert.reset();
    }
  }
  if (!cert) {
    return OpenSslError("certificate: not a DER or PEM X.509 certificate",
                        absl::StatusCode::kInvalidArgument);
  }
  return cert;
}

}  // namespace

grpc::Status KeyServiceImpl::Handle(
    grpc::ServerContextBase* context, const char* operation,
    const std::function<absl::Status(const Caller&, AuditEvent&)>& body) {
  return RunAuditedCall(connections_, audit_, context, absl::StrCat("KeyService.", operation),
                        body);
}

absl::StatusOr<KeyInfo> KeyServiceImpl::Resolve(const v1::KeySelector& selector) {
  switch (selector.selector_case()) {
    case v1::KeySelector::kLabel:
      if (absl::Status s = ValidateKeyLabel(selector.label()); !s.ok()) return s;
      return token_.FindKeyByLabel(selector.label());
    case v1::KeySelector::kId: {
      const std::string& id = selector.id();
      if (id.empty() || id.size() > 64) {
        return absl::InvalidArgumentError("key.id: must be 1 to 64 bytes");
      }
      return token_.FindKeyById(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(id.data()), id.size()));
    }
    default:
      return absl::InvalidArgumentError("key: give a label or an id");
  }
}

std::shared_ptr<const SignerCache::Entry> KeyServiceImpl::CachedSigner(
    const v1::KeySelector& selector) {
  return selector.has_label() ? signers_.FindByLabel(selector.label())
         : selector.has_id()  ? signers_.FindById(selector.id())
                              : nullptr;
}

absl::StatusOr<std::shared_ptr<const SignerCache::Entry>> KeyServiceImpl::ResolveSigner(
    const v1::KeySelector& selector, bool use_cache) {
  if (use_cache) {
    if (std::shared_ptr<const SignerCache::Entry> hit = CachedSigner(selector)) return hit;
  }
  const uint64_t mark = signers_.Mark();
  absl::StatusOr<KeyInfo> key = Resolve(selector);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::unique_ptr<Signer>> signer = token_.NewSigner(*key);
  if (!signer.ok()) return signer.status();
  auto entry = std::make_shared<const SignerCache::Entry>(
      *std::move(key), std::shared_ptr<Signer>(*std::move(signer)));
  signers_.Put(mark, entry);
  return entry;
}

absl::Status KeyServiceImpl::Describe(const KeyInfo& key, bool with_protection, v1::Key* out) {
  out->set_label(key.label);
  out->set_id(std::string(key.id.begin(), key.id.end()));
  out->set_type(KeyTypeToProto(key.type));
  if (std::optional<KeyPurpose> purpose = policy_.PurposeOf(key)) {
    out->set_purpose(PurposeToProto(*purpose));
  }
  out->set_uri(key.uri);
  absl::StatusOr<EvpPkeyPtr> pub = token_.PublicKey(key);
  if (!pub.ok()) return pub.status();
  absl::StatusOr<std::string> pem = ToPem(PEM_write_bio_PUBKEY, pub->get(), "public key");
  if (!pem.ok()) return pem.status();
  out->set_public_key_pem(*pem);
  absl::StatusOr<X509Ptr> cert = token_.FindCertificate(key);
  if (cert.ok()) {
    absl::StatusOr<std::string> cert_pem = ToPem(PEM_write_bio_X509, cert->get(), "certificate");
    if (!cert_pem.ok()) return cert_pem.status();
    out->set_certificate_pem(*cert_pem);
  } else if (!absl::IsNotFound(cert.status())) {
    return cert.status();
  }
  if (with_protection) {
    absl::StatusOr<KeyProtection> p = token_.Protection(key);
    if (!p.ok()) return p.status();
    out->mutable_protection()->set_sensitive(p->sensitive);
    out->mutable_protection()->set_extractable(p->extractable);
    out->mutable_protection()->set_always_sensitive(p->always_sensitive);
    out->mutable_protection()->set_never_extractable(p->never_extractable);
  }
  return absl::OkStatus();
}

grpc::Status KeyServiceImpl::GenerateKey(grpc::ServerContext* context,
                                         const v1::GenerateKeyRequest* request,
                                         v1::Key* response) {
  return Handle(context, "GenerateKey", [&](const Caller& caller, AuditEvent& event) {
    event.key_label = request->label().substr(0, 64);
    if (absl::Status s = policy_.CheckAdmin(caller, "GenerateKey"); !s.ok()) return s;
    if (absl::Status s = ValidateKeyLabel(request->label()); !s.ok()) return s;
    absl::StatusOr<KeyType> type = KeyTypeFromProto(request->type());
    if (!type.ok()) return type.status();
    const KeyPolicy* configured = config_.FindKey(request->label());
    KeyPurpose purpose;
    if (request->purpose() == v1::KEY_PURPOSE_UNSPECIFIED && configured != nullptr) {
      purpose = configured->purpose;
    } else {
      absl::StatusOr<KeyPurpose> asked = PurposeFromProto(request->purpose());
      if (!asked.ok()) return asked.status();
      purpose = *asked;
    }
    if (configured != nullptr && configured->purpose != purpose) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the config gives key \"", request->label(), "\" purpose ",
          KeyPurposeName(configured->purpose), ", not ", KeyPurposeName(purpose)));
    }
    event.detail = absl::StrCat("type=", KeyTypeName(*type), " purpose=", KeyPurposeName(purpose));
    absl::StatusOr<KeyInfo> key = token_.GenerateKey(request->label(), *type);
    if (!key.ok()) return key.status();
    event.key_id = key->IdHex();
    if (absl::Status s = catalog_.Record(key->id, key->label, purpose); !s.ok()) {
      // The purpose is what makes the key usable; without a record it would
      // silently become purpose-less. Undo rather than half-create.
      absl::Status undo = token_.DeleteKey(*key);
      return absl::InternalError(absl::StrCat(
          "could not record the key's purpose (", s.message(), "); ",
          undo.ok() ? "the key was removed again" : "removing the key failed too"));
    }
    return Describe(*key, /*with_protection=*/true, response);
  });
}

grpc::Status KeyServiceImpl::ListKeys(grpc::ServerContext* context,
                                      const v1::ListKeysRequest*,
                                      v1::ListKeysResponse* response) {
  return Handle(context, "ListKeys", [&](const Caller& caller, AuditEvent&) -> absl::Status {
    absl::StatusOr<std::vector<KeyInfo>> keys = token_.ListKeys();
    if (!keys.ok()) return keys.status();
    for (const KeyInfo& key : *keys) {
      if (!policy_.CheckKey(caller, key, KeyOperation::kRead).ok()) continue;
      if (absl::Status s = Describe(key, /*with_protection=*/false, response->add_keys()); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

grpc::Status KeyServiceImpl::GetKey(grpc::ServerContext* context,
                                    const v1::GetKeyRequest* request, v1::Key* response) {
  return Handle(context, "GetKey", [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    absl::StatusOr<KeyInfo> key = Resolve(request->key());
    if (!key.ok()) return key.status();
    event.key_label = key->label;
    event.key_id = key->IdHex();
    if (absl::Status s = policy_.CheckKey(caller, *key, KeyOperation::kRead); !s.ok()) return s;
    return Describe(*key, /*with_protection=*/true, response);
  });
}

grpc::Status KeyServiceImpl::DeleteKey(grpc::ServerContext* context,
                                       const v1::DeleteKeyRequest* request,
                                       v1::DeleteKeyResponse*) {
  return Handle(context, "DeleteKey", [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    if (absl::Status s = policy_.CheckAdmin(caller, "DeleteKey"); !s.ok()) return s;
    absl::StatusOr<KeyInfo> key = Resolve(request->key());
    if (!key.ok()) return key.status();
    event.key_label = key->label;
    event.key_id = key->IdHex();
    if (absl::Status s = token_.DeleteKey(*key); !s.ok()) return s;
    return catalog_.Forget(key->id);
  });
}

grpc::Status KeyServiceImpl::ImportCertificate(grpc::ServerContext* context,
                                               const v1::ImportCertificateRequest* request,
                                               v1::Key* response) {
  return Handle(context, "ImportCertificate",
                [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    if (absl::Status s = policy_.CheckAdmin(caller, "ImportCertificate"); !s.ok()) return s;
    absl::StatusOr<KeyInfo> key = Resolve(request->key());
    if (!key.ok()) return key.status();
    event.key_label = key->label;
    event.key_id = key->IdHex();
    absl::StatusOr<X509Ptr> cert = ParseCertificate(request->certificate());
    if (!cert.ok()) return cert.status();
    char subject[512];
    X509_NAME_oneline(X509_get_subject_name(cert->get()), subject, sizeof(subject));
    event.detail = absl::StrCat("subject=", subject);
    if (absl::Status s = token_.StoreCertificate(*key, cert->get()); !s.ok()) return s;
    return Describe(*key, /*with_protection=*/false, response);
  });
}

grpc::ServerUnaryReactor* KeyServiceImpl::Sign(grpc::CallbackServerContext* context,
                                               const v1::SignRequest* request,
                                               v1::SignResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Only a key already in the cache has a known signing time; a lookup on
  // the token, or a key never used, goes to a worker.
  const uint64_t mark = signers_.Mark();
  std::shared_ptr<const SignerCache::Entry> cached = CachedSigner(request->key());
  const absl::Duration expected =
      cached != nullptr ? cached->sign_latency.Get() : absl::InfiniteDuration();
  // Counted from now, so a drain waits for a Sign still queued for a worker
  // before it cuts connections.
  ConnectionRegistry::ActiveCall active(connections_);
  const bool taken = sign_runner_.Run(
      expected, [this, context, request, response, reactor, cached = std::move(cached), mark,
                 active = std::move(active)]() mutable {
        // Queued behind a slow token, the caller may have given up.
        if (context->IsCancelled()) {
          reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                       "the call ended while it waited for the token"));
          return;
        }
        reactor->Finish(SignNow(context, *request, std::move(cached), mark, response));
      });
  if (!taken) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        "too many signatures are waiting for the token; retry later"));
  }
  return reactor;
}

grpc::Status KeyServiceImpl::SignNow(grpc::ServerContextBase* context,
                                     const v1::SignRequest& request,
                                     std::shared_ptr<const SignerCache::Entry> cached,
                                     uint64_t mark, v1::SignResponse* response) {
  return Handle(context, "Sign", [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    if (request.digest().size() > kMaxSignInputBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("digest: larger than ", kMaxSignInputBytes, " bytes"));
    }
    event.detail = absl::StrCat("digest=", Hex(request.digest().substr(0, 64)));
    const std::string& input = request.digest();
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(input.data()),
                                         input.size());
    // A cached signer whose key vanished (deleted or replaced by another
    // process) is dropped and the key looked up afresh, once.
    for (bool use_cache : {true, false}) {
      absl::StatusOr<std::shared_ptr<const SignerCache::Entry>> entry =
          use_cache && cached != nullptr && signers_.Mark() == mark
              ? std::move(cached)
              : ResolveSigner(request.key(), use_cache);
      if (!entry.ok()) return entry.status();
      const KeyInfo& key = (*entry)->key;
      event.key_label = key.label;
      event.key_id = key.IdHex();
      if (absl::Status s = policy_.CheckKey(caller, key, KeyOperation::kSign); !s.ok()) return s;
      absl::StatusOr<SignatureAlgorithm> alg = SignatureAlgorithmFromRequest(request, key.type);
      if (!alg.ok()) return alg.status();
      const auto start = std::chrono::steady_clock::now();
      absl::StatusOr<std::vector<uint8_t>> sig = (*entry)->signer->Sign(*alg, bytes);
      (*entry)->sign_latency.Add(absl::FromChrono(std::chrono::steady_clock::now() - start));
      if (absl::IsNotFound(sig.status()) && use_cache) {
        signers_.Forget(*entry);
        continue;
      }
      if (!sig.ok()) return sig.status();
      response->set_signature(std::string(sig->begin(), sig->end()));
      return absl::OkStatus();
    }
    return absl::InternalError("unreachable");
  });
}

}  // namespace keyhold::agent
