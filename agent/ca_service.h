// keyhold.v1.CertificateAuthorityService over the agent's token: resolves
// CA keys and their certificates on the token, checks who may use them,
// and hands the decisions to ca::Authority. Each handler writes one audit
// line (refusals included, with the rule that refused).
#ifndef KEYHOLD_AGENT_CA_SERVICE_H_
#define KEYHOLD_AGENT_CA_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/audit.h"
#include "agent/ca/authority.h"
#include "agent/ca/registry.h"
#include "agent/config.h"
#include "agent/connection_registry.h"
#include "agent/key_catalog.h"
#include "agent/policy.h"
#include "agent/token_cache.h"
#include "keyhold/v1/ca_service.grpc.pb.h"
#include "tokens/provider/provider.h"
#include "tokens/token.h"

namespace keyhold::agent {

class CaServiceImpl final : public keyhold::v1::CertificateAuthorityService::Service {
 public:
  // Opens the registry at <state_dir>/ca.db and loads the keyhold provider
  // into a library context of the service's own.
  static absl::StatusOr<std::unique_ptr<CaServiceImpl>> Create(
      Token& token, const Config& config, KeyCatalog& catalog, const Policy& policy,
      AuditLog& audit, const ConnectionRegistry& connections);
  ~CaServiceImpl() override;

  grpc::Status InitCa(grpc::ServerContext* context, const keyhold::v1::InitCaRequest* request,
                      keyhold::v1::CaCertificate* response) override;
  grpc::Status CreateCsr(grpc::ServerContext* context,
                         const keyhold::v1::CreateCsrRequest* request,
                         keyhold::v1::CreateCsrResponse* response) override;
  grpc::Status SignCsr(grpc::ServerContext* context, const keyhold::v1::SignCsrRequest* request,
                       keyhold::v1::SignCsrResponse* response) override;
  grpc::Status ListCertificates(grpc::ServerContext* context,
                                const keyhold::v1::ListCertificatesRequest* request,
                                keyhold::v1::ListCertificatesResponse* response) override;
  grpc::Status Revoke(grpc::ServerContext* context, const keyhold::v1::RevokeRequest* request,
                      keyhold::v1::IssuedCertificate* response) override;
  grpc::Status GenerateCrl(grpc::ServerContext* context,
                           const keyhold::v1::GenerateCrlRequest* request,
                           keyhold::v1::GenerateCrlResponse* response) override;

 private:
  // A CA key ready to sign: the token key, an EVP_PKEY whose signatures the
  // token makes, the CA certificate stored next to the key, its settings.
  struct CaEntry {
    KeyInfo key;
    EvpPkeyPtr pkey;
    X509Ptr certificate;
    ca::CaSettings settings;
    ca::CaHandle handle() const { return {&settings, certificate.get(), pkey.get()}; }
  };

  CaServiceImpl(Token& token, const Config& config, KeyCatalog& catalog, const Policy& policy,
                AuditLog& audit, const ConnectionRegistry& connections)
      : token_(token), config_(config), catalog_(catalog), policy_(policy), audit_(audit),
        connections_(connections) {}

  grpc::Status Handle(grpc::ServerContext* context, const char* operation,
                      const std::function<absl::Status(const Caller&, AuditEvent&)>& body);
  // The key `label` with the caller's right to `operation` checked.
  absl::StatusOr<KeyInfo> KeyFor(const Caller& caller, const std::string& label,
                                 KeyOperation operation, AuditEvent& event);
  // The CA `label` for `caller`, cached; FAILED_PRECONDITION when the key
  // has no CA certificate yet (run `keyhold ca init`).
  absl::StatusOr<std::shared_ptr<const CaEntry>> Ca(const Caller& caller,
                                                    const std::string& label,
                                                    KeyOperation operation, AuditEvent& event);
  // The CA certificate's issuers, as far as the token's CA keys have them.
  std::string ChainPem(const X509* ca_certificate);

  Token& token_;
  const Config& config_;
  KeyCatalog& catalog_;
  const Policy& policy_;
  AuditLog& audit_;
  const ConnectionRegistry& connections_;
  // Declaration order: keys (in the cache) are freed before the provider,
  // the provider before its library context.
  OsslLibCtxPtr libctx_;
  std::unique_ptr<KeyholdProvider> provider_;
  std::unique_ptr<ca::Registry> registry_;
  std::unique_ptr<ca::Authority> authority_;
  TokenCache<CaEntry> cache_{token_};
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_CA_SERVICE_H_
