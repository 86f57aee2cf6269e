#include "agent/ca/authority.h"

#include <algorithm>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/ca/distinguished_name.h"
#include "agent/ca/serial.h"
#include "tokens/openssl_error.h"

namespace keyhold::agent::ca {

namespace {

// Serials collide with probability 2^-159; a few tries is plenty and
// bounds the loop should the registry misbehave.
constexpr int kSerialAttempts = 4;
constexpr absl::Duration kBackdate = absl::Minutes(1);
constexpr absl::Duration kDay = absl::Hours(24);

int Days(absl::Duration d) { return static_cast<int>(absl::ToInt64Hours(d) / 24); }

// The public half of `key` as a default-provider key, so the certificate
// encodes the key the way any verifier will read it.
absl::StatusOr<EvpPkeyPtr> PublicHalf(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return OpenSslError("encoding the public key");
  const unsigned char* p = der;
  EvpPkeyPtr pub(d2i_PUBKEY(nullptr, &p, len));
  OPENSSL_free(der);
  if (!pub) return OpenSslError("decoding the public key");
  return pub;
}

// RFC 5280 §4.2.1.9: below a CA whose pathLenConstraint is 0 only
// end-entity certificates verify, so a CA certificate issued there would
// be useless to everyone.
absl::Status CheckMayIssueCaCertificates(const std::string& ca_label, const X509* certificate) {
  using BasicConstraintsPtr = OpenSslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
  BasicConstraintsPtr constraints(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(certificate, NID_basic_constraints, nullptr, nullptr)));
  if (constraints && constraints->pathlen != nullptr &&
      ASN1_INTEGER_get(constraints->pathlen) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CA ", ca_label, " has pathlen 0: it issues only end-entity certificates, and a CA "
        "certificate from it would never verify"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<absl::Time> NotAfter(const X509* certificate) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &tm) != 1) {
    return OpenSslError("reading the CA certificate's notAfter");
  }
  return absl::FromTM(tm, absl::UTCTimeZone());
}

absl::StatusOr<const CertificateProfile*> Authority::Profile(const std::string& name) const {
  auto it = profiles_.find(name);
  if (it == profiles_.end()) {
    std::vector<std::string> names;
    for (const auto& [known, unused] : profiles_) names.push_back(known);
    return absl::InvalidArgumentError(absl::StrCat("unknown profile \"", name, "\" (known: ",
                                                   absl::StrJoin(names, ", "), ")"));
  }
  return &it->second;
}

absl::Status Authority::SetValidity(const CertificateProfile& profile, std::optional<int> days,
                                    const X509* ca_certificate, absl::Time& not_before,
                                    absl::Time& not_after) const {
  if (days && *days <= 0) {
    return absl::InvalidArgumentError("days: must be 1 or more");
  }
  const absl::Duration validity = days ? *days * kDay : profile.default_validity;
  if (validity > profile.max_validity) {
    return absl::InvalidArgumentError(absl::StrCat(
        "profile ", profile.name, " allows at most ", Days(profile.max_validity),
        " days of validity; ", Days(validity), " asked for"));
  }
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_()));
  not_before = now - kBackdate;
  not_after = now + validity;
  if (ca_certificate != nullptr) {
    absl::StatusOr<absl::Time> ca_end = NotAfter(ca_certificate);
    if (!ca_end.ok()) return ca_end.status();
    if (*ca_end <= now) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the CA certificate expired on ", absl::FormatTime("%Y-%m-%d", *ca_end,
                                                            absl::UTCTimeZone())));
    }
    if (not_after > *ca_end) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the certificate would outlive its CA (the CA's certificate ends ",
          absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", *ca_end, absl::UTCTimeZone()),
          "); ask for fewer days"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Issued> Authority::IssueAndRecord(const std::string& ca_label,
                                                 const CertificateSpec& spec_in,
                                                 const SigningCa& signer, uint32_t caller_uid) {
  CertificateSpec spec = spec_in;
  for (int attempt = 0; attempt < kSerialAttempts; ++attempt) {
    // Uniqueness is the registry's: Insert refuses a serial the CA used.
    absl::StatusOr<std::string> serial = NewSerial();
    if (!serial.ok()) return serial.status();
    spec.serial = *serial;
    absl::StatusOr<X509Ptr> cert = BuildCertificate(spec, signer);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> der = CertificateToDer(cert->get());
    if (!der.ok()) return der.status();
    IssuedCertificate record;
    record.ca_label = ca_label;
    record.serial = spec.serial;
    record.subject = FormatDistinguishedName(spec.subject);
    record.subject_alt_names = FormatSubjectAltNames(spec.subject_alt_names);
    record.profile = spec.profile->name;
    record.not_before = spec.not_before;
    record.not_after = spec.not_after;
    // Whole seconds, as the registry stores it: the record returned is the
    // one written.
    record.issued_at = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_()));
    record.caller_uid = caller_uid;
    record.der = *std::move(der);
    absl::Status recorded = registry_.Insert(record);
    if (absl::IsAlreadyExists(recorded)) continue;  // raced another issuance
    if (!recorded.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "the certificate was signed but could not be recorded, so it is not issued: ",
          recorded.message()));
    }
    return Issued{*std::move(cert), std::move(record)};
  }
  return absl::InternalError("could not find an unused serial number");
}

absl::StatusOr<Issued> Authority::SignCsr(const CaHandle& ca, const SignRequest& request) {
  const CaSettings& settings = *ca.settings;
  absl::StatusOr<ParsedCsr> csr = ParseCsr(request.csr, settings.max_csr_bytes);
  if (!csr.ok()) return csr.status();

  absl::StatusOr<const CertificateProfile*> profile = Profile(request.profile);
  if (!profile.ok()) return profile.status();
  if (std::find(settings.profiles.begin(), settings.profiles.end(), request.profile) ==
      settings.profiles.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CA ", settings.label, " does not issue profile ", request.profile, " (its profiles: ",
        absl::StrJoin(settings.profiles, ", "), ")"));
  }
  if (csr->requests_ca && !(*profile)->is_ca) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CSR: asks for basicConstraints CA:TRUE, but profile ", request.profile,
        " issues end-entity certificates"));
  }
  if ((*profile)->is_ca) {
    if (absl::Status s = CheckMayIssueCaCertificates(settings.label, ca.certificate); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckSubject(settings.policy, X509_get_subject_name(ca.certificate),
                                    csr->subject);
      !s.ok()) {
    return s;
  }

  std::vector<SubjectAltName> names = csr->subject_alt_names;
  for (const SubjectAltName& extra : request.extra_subject_alt_names) {
    if (std::find(names.begin(), names.end(), extra) == names.end()) names.push_back(extra);
  }
  if (names.size() > kMaxSubjectAltNames) {
    return absl::InvalidArgumentError(
        absl::StrCat("more than ", kMaxSubjectAltNames, " subject alternative names"));
  }
  for (const SubjectAltName& name : names) {
    if (absl::Status s = CheckSubjectAltName(**profile, name); !s.ok()) return s;
  }
  if ((*profile)->subject_alt_name_required && names.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "profile ", request.profile,
        " requires a subjectAltName; put one in the CSR or pass --san DNS:host"));
  }

  CertificateSpec spec;
  spec.subject = csr->subject;
  spec.public_key = csr->public_key.get();
  spec.public_key_info = X509_REQ_get_X509_PUBKEY(csr->request.get());
  spec.profile = *profile;
  spec.subject_alt_names = std::move(names);
  if (absl::Status s = SetValidity(**profile, request.days, ca.certificate, spec.not_before,
                                   spec.not_after);
      !s.ok()) {
    return s;
  }
  return IssueAndRecord(settings.label, spec, SigningCa{libctx_, ca.certificate, ca.key},
                        request.caller_uid);
}

absl::StatusOr<Issued> Authority::CreateRoot(const std::string& label, EVP_PKEY* key,
                                             const X509_NAME* subject, std::optional<int> days,
                                             uint32_t caller_uid) {
  absl::StatusOr<const CertificateProfile*> profile = Profile("root");
  if (!profile.ok()) return profile.status();
  absl::StatusOr<EvpPkeyPtr> pub = PublicHalf(key);
  if (!pub.ok()) return pub.status();
  CertificateSpec spec;
  spec.subject = subject;
  spec.public_key = pub->get();
  spec.profile = *profile;
  if (absl::Status s = SetValidity(**profile, days, nullptr, spec.not_before, spec.not_after);
      !s.ok()) {
    return s;
  }
  return IssueAndRecord(label, spec, SigningCa{libctx_, nullptr, key}, caller_uid);
}

absl::StatusOr<Issued> Authority::CreateIntermediate(const CaHandle& parent, EVP_PKEY* public_key,
                                                     const X509_NAME* subject,
                                                     std::optional<int> days,
                                                     std::optional<int> path_length,
                                                     uint32_t caller_uid) {
  absl::StatusOr<const CertificateProfile*> base = Profile("intermediate");
  if (!base.ok()) return base.status();
  if (absl::Status s = CheckMayIssueCaCertificates(parent.settings->label, parent.certificate);
      !s.ok()) {
    return s;
  }
  CertificateProfile profile = **base;
  if (path_length) {
    if (*path_length < 0) return absl::InvalidArgumentError("pathlen: must be 0 or more");
    profile.path_length = path_length;
  }
  absl::StatusOr<EvpPkeyPtr> pub = PublicHalf(public_key);
  if (!pub.ok()) return pub.status();
  CertificateSpec spec;
  spec.subject = subject;
  spec.public_key = pub->get();
  spec.profile = &profile;
  if (absl::Status s = SetValidity(profile, days, parent.certificate, spec.not_before,
                                   spec.not_after);
      !s.ok()) {
    return s;
  }
  return IssueAndRecord(parent.settings->label, spec,
                        SigningCa{libctx_, parent.certificate, parent.key}, caller_uid);
}

absl::Status Authority::Revoke(const CaHandle& ca, const std::string& serial,
                               RevocationReason reason) {
  return registry_.Revoke(ca.settings->label, serial, clock_(), reason);
}

absl::StatusOr<Authority::IssuedCrl> Authority::Crl(const CaHandle& ca, absl::Duration validity) {
  if (validity <= absl::ZeroDuration() || validity > 366 * kDay) {
    return absl::InvalidArgumentError("days: a CRL is valid for 1 to 366 days");
  }
  absl::StatusOr<Registry::CrlContents> contents = registry_.NextCrl(ca.settings->label);
  if (!contents.ok()) return contents.status();
  CrlSpec spec;
  spec.number = contents->crl_number;
  spec.this_update = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_()));
  spec.next_update = spec.this_update + validity;
  spec.revoked = std::move(contents->revoked);
  absl::StatusOr<X509CrlPtr> crl = BuildCrl(spec, SigningCa{libctx_, ca.certificate, ca.key});
  if (!crl.ok()) return crl.status();
  return IssuedCrl{*std::move(crl), spec.number, spec.revoked.size()};
}

}  // namespace keyhold::agent::ca
