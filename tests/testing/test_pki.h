// A tiny PKI for tests: default-provider keys, a self-signed CA, leaf
// certificates, CSRs and CRLs, and chain verification. The signing key may
// be any EVP_PKEY, a keyhold provider key (token- or software-backed)
// included: everything is signed through EVP_DigestSignInit_ex +
// X509_sign_ctx / X509_REQ_sign_ctx / X509_CRL_sign_ctx.
//
// Not a CA implementation: fixed profiles, no policy, validity from one
// hour ago to one day ahead.
#ifndef KEYHOLD_TESTS_TESTING_TEST_PKI_H_
#define KEYHOLD_TESTS_TESTING_TEST_PKI_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tokens/key_type.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::testing {

// A fresh default-provider key pair of `type` in `libctx` (null: the
// default library context).
absl::StatusOr<EvpPkeyPtr> GenerateTestKey(OSSL_LIB_CTX* libctx, KeyType type);

// How to sign: the key, the library context it is used in (for a keyhold
// key, the one its provider is loaded in; null: default), the digest
// (ignored for Ed25519) and, for RSA keys, whether to use PSS (salt length
// = digest length) instead of PKCS#1 v1.5.
struct SigningKey {
  EVP_PKEY* key = nullptr;
  OSSL_LIB_CTX* libctx = nullptr;
  std::string digest = "SHA256";
  bool rsa_pss = false;
};

enum class CertificatePurpose {
  kClient,  // extendedKeyUsage clientAuth, keyUsage digitalSignature
  kServer,  // extendedKeyUsage serverAuth, keyUsage digitalSignature
};

struct LeafProfile {
  std::string common_name = "";
  CertificatePurpose purpose = CertificatePurpose::kClient;
  std::vector<std::string> dns_names = {};  // subjectAltName DNS entries
};

struct CertificateAuthority {
  EvpPkeyPtr key;  // Null when the CA key was supplied by the caller.
  X509Ptr certificate;
};

// A self-signed CA certificate for `signer.key`: basicConstraints CA:TRUE
// (critical), keyUsage keyCertSign + cRLSign (critical), SKI.
absl::StatusOr<X509Ptr> MakeCaCertificate(const SigningKey& signer,
                                          std::string_view common_name);

// A CA with a freshly generated EC P-256 key in `libctx`.
absl::StatusOr<CertificateAuthority> MakeCertificateAuthority(
    OSSL_LIB_CTX* libctx, std::string_view common_name);

// A leaf certificate for the public half of `subject_key`, issued by
// `issuer_certificate` and signed with `issuer`: random positive 16-byte
// serial, basicConstraints CA:FALSE, keyUsage, extendedKeyUsage by
// purpose, SKI, AKI, SANs.
absl::StatusOr<X509Ptr> IssueCertificate(X509* issuer_certificate,
                                         const SigningKey& issuer,
                                         EVP_PKEY* subject_key,
                                         const LeafProfile& profile);

// A CSR with subject CN=`common_name` for `signer.key`, signed by it.
absl::StatusOr<X509ReqPtr> MakeCertificateRequest(const SigningKey& signer,
                                                  std::string_view common_name);

// A v2 CRL from `issuer_certificate`, signed with `issuer`, revoking the
// certificates in `revoked`.
absl::StatusOr<X509CrlPtr> MakeCrl(X509* issuer_certificate,
                                   const SigningKey& issuer,
                                   const std::vector<X509*>& revoked);

// Verifies `leaf` against the single trust anchor `ca` (and `crl` when
// given, with CRL checking on). OK, or the verifier's reason.
absl::Status VerifyCertificate(X509* leaf, X509* ca, X509_CRL* crl = nullptr);

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_TESTING_TEST_PKI_H_
