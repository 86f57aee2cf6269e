// Builds and signs what the CA issues: X.509 v3 certificates under a
// profile, and v2 CRLs. The signing key is any EVP_PKEY (normally a keyhold
// provider key whose signatures the token makes); nothing here knows
// PKCS#11. Callers have already checked the request against policy.
#ifndef KEYHOLD_AGENT_CA_CERTIFICATE_BUILDER_H_
#define KEYHOLD_AGENT_CA_CERTIFICATE_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include <openssl/types.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/ca/profile.h"
#include "agent/ca/registry.h"
#include "agent/ca/subject_alt_names.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {

// Who signs: the CA's certificate (null for a self-signed root, whose
// issuer is the certificate being built) and its private key, used in
// `libctx`.
struct SigningCa {
  OSSL_LIB_CTX* libctx = nullptr;
  const X509* certificate = nullptr;
  EVP_PKEY* key = nullptr;
};

struct CertificateSpec {
  const X509_NAME* subject = nullptr;
  EVP_PKEY* public_key = nullptr;  // the subject's; public half is used
  // The same key as a SubjectPublicKeyInfo (a CSR's), copied into the
  // certificate as is. Optional: it saves re-encoding `public_key`, which
  // in OpenSSL 3.0 runs a decoder search costing more than the signature.
  const X509_PUBKEY* public_key_info = nullptr;
  std::string serial;              // big-endian bytes (serial.h)
  absl::Time not_before;
  absl::Time not_after;
  const CertificateProfile* profile = nullptr;
  std::vector<SubjectAltName> subject_alt_names;
};

// Version 3, the spec's serial, issuer name, validity, subject and key;
// extensions: basicConstraints (critical), keyUsage (critical),
// extendedKeyUsage, subjectKeyIdentifier (SHA-1 of the key, RFC 5280
// §4.2.1.2 method 1), authorityKeyIdentifier (keyid of the issuer), and
// subjectAltName when there are names. With spec.public_key_info the
// returned object encodes (i2d, PEM) like any other, but OpenSSL has not
// decoded its public key (X509_get0_pubkey is null): parse its DER for a
// certificate to verify or inspect.
absl::StatusOr<X509Ptr> BuildCertificate(const CertificateSpec& spec, const SigningCa& ca);

struct CrlSpec {
  uint64_t number = 0;
  absl::Time this_update;
  absl::Time next_update;
  std::vector<RevokedEntry> revoked;
};

// A v2 CRL from ca.certificate (required): cRLNumber, authorityKeyIdentifier,
// and per entry its revocation date and, unless unspecified, its reason code.
absl::StatusOr<X509CrlPtr> BuildCrl(const CrlSpec& spec, const SigningCa& ca);

// PEM and DER encodings.
absl::StatusOr<std::string> CertificateToPem(const X509* certificate);
absl::StatusOr<std::string> CertificateToDer(const X509* certificate);
absl::StatusOr<std::string> CrlToPem(const X509_CRL* crl);
absl::StatusOr<X509Ptr> CertificateFromDer(absl::string_view der);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_CERTIFICATE_BUILDER_H_
