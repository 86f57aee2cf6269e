// The CA's decisions in one place: intake of a CSR, the CA's profile and
// name policy, SAN patterns, validity limits, a fresh serial, building and
// signing the certificate, and recording it durably before anyone sees it.
// Also CA certificates (roots, intermediates), revocation and CRLs.
//
// The token is out of sight: a CA arrives as a certificate and an EVP_PKEY
// whose signatures someone else makes (the keyhold provider over a token
// key, or a software key in tests). Every refusal is INVALID_ARGUMENT or
// FAILED_PRECONDITION with a message that names the rule, and writes
// nothing.
#ifndef KEYHOLD_AGENT_CA_AUTHORITY_H_
#define KEYHOLD_AGENT_CA_AUTHORITY_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/ca/certificate_builder.h"
#include "agent/ca/csr.h"
#include "agent/ca/name_policy.h"
#include "agent/ca/profile.h"
#include "agent/ca/registry.h"
#include "agent/ca/subject_alt_names.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {

// How one CA issues: its subject policy, the profiles it may issue with
// `SignCsr`, and the largest CSR it reads.
struct CaSettings {
  std::string label;
  NamePolicy policy;
  std::vector<std::string> profiles;
  size_t max_csr_bytes = kDefaultMaxCsrBytes;
};

// A CA ready to sign. `key` signs; `certificate` is the CA's own.
struct CaHandle {
  const CaSettings* settings = nullptr;
  const X509* certificate = nullptr;
  EVP_PKEY* key = nullptr;
};

struct Issued {
  // Encodes as issued; from SignCsr its public key is not decoded (see
  // BuildCertificate): parse record.der to inspect or verify it.
  X509Ptr certificate;
  IssuedCertificate record;  // as written to the registry
};

class Authority {
 public:
  // `profiles` names every profile (built-in and configured); `libctx` is
  // where CA keys sign (the keyhold provider's). Both outlive the authority.
  Authority(OSSL_LIB_CTX* libctx, const std::map<std::string, CertificateProfile>& profiles,
            Registry& registry, std::function<absl::Time()> clock = absl::Now)
      : libctx_(libctx), profiles_(profiles), registry_(registry), clock_(std::move(clock)) {}

  struct SignRequest {
    absl::string_view csr;  // PEM or DER
    std::string profile;
    std::optional<int> days;  // else the profile's default
    std::vector<SubjectAltName> extra_subject_alt_names;
    uint32_t caller_uid = 0;
  };
  // Checks, in order: the CSR (ParseCsr), the profile (known, and one this
  // CA issues), CA:TRUE asked for on a leaf profile, the subject against
  // the CA's name policy, the SANs (CSR's plus extra) against the
  // profile's patterns and its SAN requirement, the validity against the
  // profile's maximum and the CA's own notAfter. Then issues and records.
  absl::StatusOr<Issued> SignCsr(const CaHandle& ca, const SignRequest& request);

  // A self-signed root for `key` (its public half is the subject key) with
  // the "root" profile.
  absl::StatusOr<Issued> CreateRoot(const std::string& label, EVP_PKEY* key,
                                    const X509_NAME* subject, std::optional<int> days,
                                    uint32_t caller_uid);

  // An intermediate CA certificate for `public_key`, issued by `parent`
  // with the "intermediate" profile; `path_length` overrides its pathlen.
  // Recorded under the parent.
  absl::StatusOr<Issued> CreateIntermediate(const CaHandle& parent, EVP_PKEY* public_key,
                                            const X509_NAME* subject, std::optional<int> days,
                                            std::optional<int> path_length, uint32_t caller_uid);

  absl::Status Revoke(const CaHandle& ca, const std::string& serial, RevocationReason reason);

  struct IssuedCrl {
    X509CrlPtr crl;
    uint64_t number = 0;
    size_t revoked = 0;
  };
  // The CA's next CRL, valid for `validity` (1 to 366 days).
  absl::StatusOr<IssuedCrl> Crl(const CaHandle& ca, absl::Duration validity);

 private:
  absl::StatusOr<const CertificateProfile*> Profile(const std::string& name) const;
  // Validity from now (backdated a minute for clock skew) for `days` or
  // the profile's default; refused beyond the profile's maximum or
  // `ca_not_after` (unless null).
  absl::Status SetValidity(const CertificateProfile& profile, std::optional<int> days,
                           const X509* ca_certificate, absl::Time& not_before,
                           absl::Time& not_after) const;
  // Builds with fresh serials until one is new to the registry, records it.
  absl::StatusOr<Issued> IssueAndRecord(const std::string& ca_label, const CertificateSpec& spec,
                                        const SigningCa& signer, uint32_t caller_uid);

  OSSL_LIB_CTX* const libctx_;
  const std::map<std::string, CertificateProfile>& profiles_;
  Registry& registry_;
  const std::function<absl::Time()> clock_;
};

// The CA's certificate lifetime end, from X509_get0_notAfter.
absl::StatusOr<absl::Time> NotAfter(const X509* certificate);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_AUTHORITY_H_
