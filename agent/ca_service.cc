#include "agent/ca_service.h"

#include <openssl/pem.h>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/audited_call.h"
#include "agent/ca/certificate_builder.h"
#include "agent/ca/distinguished_name.h"
#include "agent/ca/serial.h"
#include "agent/proto_convert.h"
#include "agent/token_pkey.h"
#include "tokens/openssl_error.h"
#include "tokens/pem.h"

namespace keyhold::agent {

namespace v1 = ::keyhold::v1;

namespace {

constexpr absl::Duration kDefaultCrlValidity = absl::Hours(24 * 30);
constexpr int kMaxChainDepth = 8;
constexpr size_t kMaxCsrRequestSans = ca::kMaxSubjectAltNames;

absl::StatusOr<std::vector<ca::SubjectAltName>> ParseNames(
    const google::protobuf::RepeatedPtrField<std::string>& texts) {
  if (static_cast<size_t>(texts.size()) > kMaxCsrRequestSans) {
    return absl::InvalidArgumentError(
        absl::StrCat("subject_alt_names: more than ", kMaxCsrRequestSans));
  }
  std::vector<ca::SubjectAltName> names;
  for (const std::string& text : texts) {
    absl::StatusOr<std::vector<ca::SubjectAltName>> parsed = ca::ParseSubjectAltNames(text);
    if (!parsed.ok()) return parsed.status();
    for (ca::SubjectAltName& name : *parsed) {
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(std::move(name));
      }
    }
  }
  return names;
}

std::optional<int> Days(uint32_t days) {
  if (days == 0) return std::nullopt;
  return static_cast<int>(std::min<uint32_t>(days, 1u << 20));
}

absl::Status ToProto(const ca::IssuedCertificate& record, bool with_pem,
                     v1::IssuedCertificate* out) {
  out->set_serial_hex(ca::SerialToHex(record.serial));
  out->set_subject(record.subject);
  out->set_subject_alt_names(record.subject_alt_names);
  out->set_profile(record.profile);
  out->set_not_before(absl::ToUnixSeconds(record.not_before));
  out->set_not_after(absl::ToUnixSeconds(record.not_after));
  out->set_issued_at(absl::ToUnixSeconds(record.issued_at));
  out->set_caller_uid(record.caller_uid);
  out->set_revoked(record.revoked);
  if (record.revoked) {
    out->set_revoked_at(absl::ToUnixSeconds(record.revoked_at));
    out->set_revocation_reason(ca::RevocationReasonName(record.reason));
  }
  if (with_pem) {
    // PEM is the DER in base64: no need to parse (OpenSSL 3.0's certificate
    // parsing runs a decoder search, costly over a whole registry).
    absl::StatusOr<std::string> pem = DerToPem(PEM_STRING_X509, record.der);
    if (!pem.ok()) return pem.status();
    out->set_certificate_pem(*std::move(pem));
  }
  return absl::OkStatus();
}

std::string Summary(const ca::IssuedCertificate& record) {
  return absl::StrCat("serial=", ca::SerialToHex(record.serial), " profile=", record.profile,
                      " subject=", record.subject,
                      record.subject_alt_names.empty() ? "" : " san=",
                      record.subject_alt_names);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CaServiceImpl>> CaServiceImpl::Create(
    Token& token, const Config& config, KeyCatalog& catalog, const Policy& policy,
    AuditLog& audit, const ConnectionRegistry& connections) {
  std::unique_ptr<CaServiceImpl> service(
      new CaServiceImpl(token, config, catalog, policy, audit, connections));
  service->libctx_.reset(OSSL_LIB_CTX_new());
  if (!service->libctx_) return OpenSslError("OSSL_LIB_CTX_new");
  absl::StatusOr<KeyholdProvider> provider = LoadKeyholdProvider(service->libctx_.get());
  if (!provider.ok()) return provider.status();
  service->provider_ = std::make_unique<KeyholdProvider>(*std::move(provider));
  absl::StatusOr<std::unique_ptr<ca::Registry>> registry =
      ca::Registry::Open(absl::StrCat(config.state_dir, "/ca.db"));
  if (!registry.ok()) return registry.status();
  service->registry_ = *std::move(registry);
  service->authority_ = std::make_unique<ca::Authority>(service->libctx_.get(), config.profiles,
                                                        *service->registry_);
  return service;
}

CaServiceImpl::~CaServiceImpl() = default;

grpc::Status CaServiceImpl::Handle(
    grpc::ServerContext* context, const char* operation,
    const std::function<absl::Status(const Caller&, AuditEvent&)>& body) {
  return RunAuditedCall(connections_, audit_, context,
                        absl::StrCat("CertificateAuthorityService.", operation), body);
}

absl::StatusOr<KeyInfo> CaServiceImpl::KeyFor(const Caller& caller, const std::string& label,
                                              KeyOperation operation, AuditEvent& event) {
  event.key_label = label.substr(0, 64);
  if (absl::Status s = ValidateKeyLabel(label); !s.ok()) return s;
  absl::StatusOr<KeyInfo> key = token_.FindKeyByLabel(label);
  if (!key.ok()) return key.status();
  event.key_id = key->IdHex();
  if (absl::Status s = policy_.CheckKey(caller, *key, operation); !s.ok()) return s;
  return key;
}

absl::StatusOr<std::shared_ptr<const CaServiceImpl::CaEntry>> CaServiceImpl::Ca(
    const Caller& caller, const std::string& label, KeyOperation operation, AuditEvent& event) {
  event.key_label = label.substr(0, 64);
  if (absl::Status s = ValidateKeyLabel(label); !s.ok()) return s;
  // The token work (finding the key, its certificate, a signer) is cached;
  // policy is checked on every call. A cached key that vanished from the
  // token behind the agent's back fails to sign and is dropped (SignCsr).
  std::shared_ptr<const CaEntry> cached = cache_.Find(label);
  if (cached != nullptr) {
    event.key_id = cached->key.IdHex();
    if (absl::Status s = policy_.CheckKey(caller, cached->key, operation); !s.ok()) return s;
    return cached;
  }
  const uint64_t mark = cache_.Mark();
  absl::StatusOr<KeyInfo> key = KeyFor(caller, label, operation, event);
  if (!key.ok()) return key.status();
  auto entry = std::make_shared<CaEntry>();
  entry->key = *key;
  absl::StatusOr<X509Ptr> cert = token_.FindCertificate(*key);
  if (absl::IsNotFound(cert.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key \"", label, "\" has no CA certificate yet; run: keyhold ca init ", label,
        " --subject ..."));
  }
  if (!cert.ok()) return cert.status();
  entry->certificate = *std::move(cert);
  absl::StatusOr<EvpPkeyPtr> pkey = TokenKeyPkey(libctx_.get(), token_, *key);
  if (!pkey.ok()) return pkey.status();
  entry->pkey = *std::move(pkey);
  const CaConfig ca = config_.FindCa(label);
  entry->settings.label = label;
  entry->settings.policy = config_.policies.at(ca.policy);
  entry->settings.profiles = ca.profiles;
  entry->settings.max_csr_bytes = ca.max_csr_bytes;
  return cache_.Put(label, mark, std::move(entry));
}

std::string CaServiceImpl::ChainPem(const X509* ca_certificate) {
  std::string chain;
  absl::StatusOr<std::string> own = ca::CertificateToPem(ca_certificate);
  if (own.ok()) chain = *own;
  absl::StatusOr<std::vector<KeyInfo>> keys = token_.ListKeys();
  if (!keys.ok()) return chain;
  std::vector<X509Ptr> candidates;
  for (const KeyInfo& key : *keys) {
    if (policy_.PurposeOf(key) != KeyPurpose::kCa) continue;
    absl::StatusOr<X509Ptr> cert = token_.FindCertificate(key);
    if (cert.ok()) candidates.push_back(*std::move(cert));
  }
  const X509* current = ca_certificate;
  for (int depth = 0; depth < kMaxChainDepth; ++depth) {
    if (X509_check_issued(const_cast<X509*>(current), const_cast<X509*>(current)) == X509_V_OK) {
      break;  // self-signed: the root
    }
    const X509* parent = nullptr;
    for (const X509Ptr& candidate : candidates) {
      if (X509_check_issued(candidate.get(), const_cast<X509*>(current)) == X509_V_OK) {
        parent = candidate.get();
        break;
      }
    }
    if (parent == nullptr) break;
    absl::StatusOr<std::string> pem = ca::CertificateToPem(parent);
    if (!pem.ok()) break;
    absl::StrAppend(&chain, *pem);
    current = parent;
  }
  return chain;
}

grpc::Status CaServiceImpl::InitCa(grpc::ServerContext* context, const v1::InitCaRequest* request,
                                   v1::CaCertificate* response) {
  return Handle(context, "InitCa", [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    event.key_label = request->label().substr(0, 64);
    if (absl::Status s = policy_.CheckAdmin(caller, "InitCa"); !s.ok()) return s;
    if (absl::Status s = ValidateKeyLabel(request->label()); !s.ok()) return s;
    absl::StatusOr<X509NamePtr> subject = ca::ParseDistinguishedName(request->subject());
    if (!subject.ok()) return subject.status();
    event.detail = absl::StrCat("subject=", ca::FormatDistinguishedName(subject->get()),
                                request->parent().empty() ? "" : " parent=", request->parent());
    if (request->parent() == request->label()) {
      return absl::InvalidArgumentError("parent: a CA cannot be its own parent");
    }
    if (request->has_path_length() && request->parent().empty()) {
      return absl::InvalidArgumentError("path_length: only for an intermediate (--parent)");
    }

    // The parent first: nothing is generated for a request that would fail.
    std::shared_ptr<const CaEntry> parent;
    if (!request->parent().empty()) {
      AuditEvent parent_event;
      absl::StatusOr<std::shared_ptr<const CaEntry>> found =
          Ca(caller, request->parent(), KeyOperation::kIssue, parent_event);
      if (!found.ok()) {
        return absl::Status(found.status().code(),
                            absl::StrCat("parent ", request->parent(), ": ",
                                         found.status().message()));
      }
      parent = *std::move(found);
    }

    absl::StatusOr<KeyInfo> key;
    bool generated = false;
    // A key made for this request does not outlive its failure, so the same
    // command can be run again once its mistake is fixed.
    absl::Cleanup undo_generate = [&] {
      if (!generated) return;
      if (absl::Status s = token_.DeleteKey(*key); !s.ok()) {
        absl::StrAppend(&event.detail, " (removing the generated key failed: ", s.message(), ")");
      }
      catalog_.Forget(key->id).IgnoreError();
    };
    if (request->generate() != v1::KEY_TYPE_UNSPECIFIED) {
      absl::StatusOr<KeyType> type = KeyTypeFromProto(request->generate());
      if (!type.ok()) return type.status();
      const KeyPolicy* configured = config_.FindKey(request->label());
      if (configured != nullptr && configured->purpose != KeyPurpose::kCa) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the config gives key \"", request->label(), "\" purpose ",
            KeyPurposeName(configured->purpose), ", not ca"));
      }
      key = token_.GenerateKey(request->label(), *type);
      if (!key.ok()) return key.status();
      generated = true;
      if (absl::Status s = catalog_.Record(key->id, key->label, KeyPurpose::kCa); !s.ok()) {
        return absl::InternalError(
            absl::StrCat("could not record the key's purpose (", s.message(), ")"));
      }
    } else {
      key = token_.FindKeyByLabel(request->label());
      if (!key.ok()) return key.status();
    }
    event.key_id = key->IdHex();
    if (policy_.PurposeOf(*key) != KeyPurpose::kCa) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key \"", key->label, "\" is not a CA key; give it purpose = \"ca\" in the config "
          "(or create it with --generate)"));
    }
    if (token_.FindCertificate(*key).ok()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "key \"", key->label, "\" already has a CA certificate; a CA is initialised once"));
    }

    absl::StatusOr<ca::Issued> issued;
    if (parent == nullptr) {
      absl::StatusOr<EvpPkeyPtr> pkey = TokenKeyPkey(libctx_.get(), token_, *key);
      if (!pkey.ok()) return pkey.status();
      issued = authority_->CreateRoot(key->label, pkey->get(), subject->get(),
                                      Days(request->days()), caller.uid);
    } else {
      absl::StatusOr<EvpPkeyPtr> pub = token_.PublicKey(*key);
      if (!pub.ok()) return pub.status();
      std::optional<int> path_length;
      if (request->has_path_length()) path_length = static_cast<int>(request->path_length());
      issued = authority_->CreateIntermediate(parent->handle(), pub->get(), subject->get(),
                                              Days(request->days()), path_length, caller.uid);
    }
    if (!issued.ok()) return issued.status();
    absl::StrAppend(&event.detail, " ", Summary(issued->record));
    // Storing the certificate counts as a token change: the CA cache
    // drops what it held for this key.
    if (absl::Status s = token_.StoreCertificate(*key, issued->certificate.get()); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::string> pem = ca::CertificateToPem(issued->certificate.get());
    if (!pem.ok()) return pem.status();
    response->set_label(key->label);
    response->set_certificate_pem(*pem);
    response->set_serial_hex(ca::SerialToHex(issued->record.serial));
    std::move(undo_generate).Cancel();
    return absl::OkStatus();
  });
}

grpc::Status CaServiceImpl::CreateCsr(grpc::ServerContext* context,
                                      const v1::CreateCsrRequest* request,
                                      v1::CreateCsrResponse* response) {
  return Handle(context, "CreateCsr", [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    if (!request->key().has_label()) return absl::InvalidArgumentError("key: give a label");
    absl::StatusOr<KeyInfo> key =
        KeyFor(caller, request->key().label(), KeyOperation::kRequest, event);
    if (!key.ok()) return key.status();
    absl::StatusOr<X509NamePtr> subject = ca::ParseDistinguishedName(request->subject());
    if (!subject.ok()) return subject.status();
    absl::StatusOr<std::vector<ca::SubjectAltName>> names =
        ParseNames(request->subject_alt_names());
    if (!names.ok()) return names.status();
    event.detail = absl::StrCat("subject=", ca::FormatDistinguishedName(subject->get()),
                                names->empty() ? "" : " san=",
                                ca::FormatSubjectAltNames(*names));
    absl::StatusOr<EvpPkeyPtr> pkey = TokenKeyPkey(libctx_.get(), token_, *key);
    if (!pkey.ok()) return pkey.status();
    absl::StatusOr<X509ReqPtr> csr =
        ca::CreateCsr(libctx_.get(), pkey->get(), subject->get(), *names);
    if (!csr.ok()) return csr.status();
    absl::StatusOr<std::string> pem = ca::CsrToPem(csr->get());
    if (!pem.ok()) return pem.status();
    response->set_csr_pem(*pem);
    return absl::OkStatus();
  });
}

grpc::Status CaServiceImpl::SignCsr(grpc::ServerContext* context,
                                    const v1::SignCsrRequest* request,
                                    v1::SignCsrResponse* response) {
  return Handle(context, "SignCsr", [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    event.detail = absl::StrCat("profile=", request->profile().substr(0, 64));
    absl::StatusOr<std::vector<ca::SubjectAltName>> extra =
        ParseNames(request->subject_alt_names());
    if (!extra.ok()) return extra.status();
    absl::StatusOr<std::shared_ptr<const CaEntry>> entry =
        Ca(caller, request->ca(), KeyOperation::kIssue, event);
    if (!entry.ok()) return entry.status();
    ca::Authority::SignRequest sign;
    sign.csr = request->csr();
    sign.profile = request->profile();
    sign.days = Days(request->days());
    sign.extra_subject_alt_names = *std::move(extra);
    sign.caller_uid = caller.uid;
    absl::StatusOr<ca::Issued> issued = authority_->SignCsr((*entry)->handle(), sign);
    if (absl::IsUnavailable(issued.status()) || absl::IsNotFound(issued.status())) {
      cache_.Erase(request->ca(), *entry);  // the token lost the key or its session
    }
    if (!issued.ok()) return issued.status();
    event.detail = Summary(issued->record);
    absl::StatusOr<std::string> pem = ca::CertificateToPem(issued->certificate.get());
    if (!pem.ok()) return pem.status();
    response->set_certificate_pem(*pem);
    if (request->include_chain()) response->set_chain_pem(ChainPem((*entry)->certificate.get()));
    return ToProto(issued->record, /*with_pem=*/false, response->mutable_record());
  });
}

grpc::Status CaServiceImpl::ListCertificates(grpc::ServerContext* context,
                                             const v1::ListCertificatesRequest* request,
                                             v1::ListCertificatesResponse* response) {
  return Handle(context, "ListCertificates",
                [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    absl::StatusOr<KeyInfo> key = KeyFor(caller, request->ca(), KeyOperation::kIssue, event);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::vector<ca::IssuedCertificate>> records = registry_->List(key->label);
    if (!records.ok()) return records.status();
    event.detail = absl::StrCat("count=", records->size());
    for (const ca::IssuedCertificate& record : *records) {
      if (absl::Status s = ToProto(record, request->include_pem(), response->add_certificates());
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

grpc::Status CaServiceImpl::Revoke(grpc::ServerContext* context, const v1::RevokeRequest* request,
                                   v1::IssuedCertificate* response) {
  return Handle(context, "Revoke", [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    event.key_label = request->ca().substr(0, 64);
    if (absl::Status s = policy_.CheckAdmin(caller, "Revoke"); !s.ok()) return s;
    absl::StatusOr<std::string> serial = ca::SerialFromHex(request->serial_hex());
    if (!serial.ok()) return serial.status();
    ca::RevocationReason reason = ca::RevocationReason::kUnspecified;
    if (!request->reason().empty()) {
      absl::StatusOr<ca::RevocationReason> parsed = ca::ParseRevocationReason(request->reason());
      if (!parsed.ok()) return parsed.status();
      reason = *parsed;
    }
    event.detail = absl::StrCat("serial=", ca::SerialToHex(*serial),
                                " reason=", ca::RevocationReasonName(reason));
    absl::StatusOr<std::shared_ptr<const CaEntry>> entry =
        Ca(caller, request->ca(), KeyOperation::kIssue, event);
    if (!entry.ok()) return entry.status();
    if (absl::Status s = authority_->Revoke((*entry)->handle(), *serial, reason); !s.ok()) {
      return s;
    }
    absl::StatusOr<ca::IssuedCertificate> record = registry_->Find(request->ca(), *serial);
    if (!record.ok()) return record.status();
    return ToProto(*record, /*with_pem=*/false, response);
  });
}

grpc::Status CaServiceImpl::GenerateCrl(grpc::ServerContext* context,
                                        const v1::GenerateCrlRequest* request,
                                        v1::GenerateCrlResponse* response) {
  return Handle(context, "GenerateCrl",
                [&](const Caller& caller, AuditEvent& event) -> absl::Status {
    absl::StatusOr<std::shared_ptr<const CaEntry>> entry =
        Ca(caller, request->ca(), KeyOperation::kIssue, event);
    if (!entry.ok()) return entry.status();
    const absl::Duration validity =
        request->days() == 0 ? kDefaultCrlValidity
                             : absl::Hours(24) * static_cast<int64_t>(std::min<uint32_t>(request->days(), 100000));
    absl::StatusOr<ca::Authority::IssuedCrl> crl = authority_->Crl((*entry)->handle(), validity);
    if (!crl.ok()) return crl.status();
    event.detail = absl::StrCat("crl_number=", crl->number, " revoked=", crl->revoked);
    absl::StatusOr<std::string> pem = ca::CrlToPem(crl->crl.get());
    if (!pem.ok()) return pem.status();
    response->set_crl_pem(*pem);
    response->set_crl_number(crl->number);
    return absl::OkStatus();
  });
}

}  // namespace keyhold::agent
