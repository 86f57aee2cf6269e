#include "agent/ca/authority.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/ca/certificate_builder.h"
#include "agent/ca/csr.h"
#include "agent/ca/distinguished_name.h"
#include "agent/ca/name_policy.h"
#include "agent/ca/profile.h"
#include "agent/ca/registry.h"
#include "agent/ca/signing.h"
#include "agent/ca/subject_alt_names.h"
#include "tests/status_matchers.h"
#include "tests/testing/test_pki.h"
#include "tokens/key_type.h"
#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"
#include "tokens/provider/provider.h"
#include "tokens/software_signer.h"

namespace keyhold::agent::ca {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using Kind = SubjectAltName::Kind;

using BasicConstraintsPtr = OpenSslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using Asn1EnumeratedPtr = OpenSslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free>;
void FreeExtensions(STACK_OF(X509_EXTENSION) * extensions) {
  sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
}
using ExtensionsPtr = OpenSslPtr<STACK_OF(X509_EXTENSION), FreeExtensions>;
void FreeCertificates(STACK_OF(X509) * certificates) { sk_X509_free(certificates); }
using CertificateStackPtr = OpenSslPtr<STACK_OF(X509), FreeCertificates>;

constexpr char kRootSubject[] = "/C=BR/ST=SP/O=Example/CN=Root";
constexpr char kLeafSubject[] = "/C=BR/ST=SP/O=Example/CN=alice";
constexpr char kRootLabel[] = "root-ca";
constexpr absl::Duration kDay = absl::Hours(24);

std::string SerialOf(const X509* cert) {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return "";
  std::string out(static_cast<size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

absl::Time AsTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTM(tm, absl::UTCTimeZone());
}

std::string Der(const X509_REQ* request) {
  unsigned char* raw = nullptr;
  const int length = i2d_X509_REQ(request, &raw);
  std::string der(reinterpret_cast<const char*>(raw), length > 0 ? static_cast<size_t>(length) : 0);
  OPENSSL_free(raw);
  return der;
}

// pathlen of a CA certificate: -1 when unlimited.
long PathLength(const X509* cert) {
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert, NID_basic_constraints, nullptr, nullptr)));
  if (!bc || bc->ca == 0) return -2;
  return bc->pathlen == nullptr ? -1 : ASN1_INTEGER_get(bc->pathlen);
}

// Verifies `leaf` up to `root` through `intermediates` the strict way, for
// `purpose` (X509_PURPOSE_SSL_CLIENT, ...), optionally checking `crl`.
// The certificate as a relying party reads it: from its DER. (What the
// authority returns encodes fine but, built from the CSR's key info, has no
// decoded public key; see CertificateSpec::public_key_info.)
X509Ptr Reparsed(const X509* cert) {
  absl::StatusOr<std::string> der = CertificateToDer(cert);
  if (!der.ok()) return nullptr;
  absl::StatusOr<X509Ptr> parsed = CertificateFromDer(*der);
  return parsed.ok() ? *std::move(parsed) : nullptr;
}

absl::Status VerifyChain(X509* leaf_in, X509* root, std::vector<X509*> intermediates_in,
                         int purpose, X509_CRL* crl = nullptr) {
  X509Ptr leaf_copy = Reparsed(leaf_in);
  X509* leaf = leaf_copy.get();
  std::vector<X509Ptr> intermediate_copies;
  std::vector<X509*> intermediates;
  for (X509* cert : intermediates_in) {
    intermediate_copies.push_back(Reparsed(cert));
    intermediates.push_back(intermediate_copies.back().get());
  }
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  CertificateStackPtr untrusted(sk_X509_new_null());
  if (!store || !ctx || !untrusted || X509_STORE_add_cert(store.get(), root) != 1 ||
      (crl != nullptr && X509_STORE_add_crl(store.get(), crl) != 1)) {
    return OpenSslError("building the store");
  }
  for (X509* cert : intermediates) sk_X509_push(untrusted.get(), cert);
  unsigned long flags = X509_V_FLAG_X509_STRICT;
  if (crl != nullptr) flags |= X509_V_FLAG_CRL_CHECK;
  X509_STORE_set_flags(store.get(), flags);
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1 ||
      X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
    return OpenSslError("starting verification");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    return absl::InvalidArgumentError(
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  return absl::OkStatus();
}

class AuthorityTest : public ::testing::Test {
 protected:
  // Keys are expensive enough to share: requesters use default-provider
  // keys in the default library context.
  static EVP_PKEY* LeafKey() {
    static EVP_PKEY* key = [] {
      absl::StatusOr<EvpPkeyPtr> generated = testing::GenerateTestKey(nullptr, KeyType::kEcP256);
      return generated.ok() ? generated->release() : nullptr;
    }();
    return key;
  }

  void SetUp() override {
    ASSERT_NE(LeafKey(), nullptr);
    std::string dir = ::testing::TempDir() + "authority-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    ASSERT_OK_AND_ASSIGN(registry_, Registry::Open(dir_ + "/registry.db"));

    libctx_.reset(OSSL_LIB_CTX_new());
    ASSERT_NE(libctx_, nullptr);
    ASSERT_OK_AND_ASSIGN(KeyholdProvider provider, LoadKeyholdProvider(libctx_.get()));
    provider_ = std::make_unique<KeyholdProvider>(std::move(provider));
    ASSERT_OK_AND_ASSIGN(root_key_, ProviderKey());

    profiles_ = BuiltinProfiles();
    CertificateProfile limited = profiles_.at("client");
    limited.name = "dns-limited";
    limited.allowed_dns = {{"*.example.com"}};
    profiles_[limited.name] = limited;
    CertificateProfile long_lived = profiles_.at("client");
    long_lived.name = "long";
    long_lived.max_validity = 3650 * kDay;
    profiles_[long_lived.name] = long_lived;
    for (const auto& [name, profile] : profiles_) ASSERT_THAT(ValidateProfile(profile), IsOk());

    authority_ = std::make_unique<Authority>(libctx_.get(), profiles_, *registry_);
    root_settings_.label = kRootLabel;
    root_settings_.policy = BuiltinNamePolicies().at("strict");
    root_settings_.profiles = {"server", "client", "intermediate", "dns-limited", "long"};

    ASSERT_OK_AND_ASSIGN(X509NamePtr subject, ParseDistinguishedName(kRootSubject));
    ASSERT_OK_AND_ASSIGN(Issued root, authority_->CreateRoot(kRootLabel, root_key_.get(),
                                                             subject.get(), std::nullopt, 0));
    root_ = std::move(root.certificate);
  }

  void TearDown() override {
    authority_.reset();
    registry_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A fresh P-256 key held by a SoftwareSigner, used through the keyhold
  // provider exactly as a token key is.
  absl::StatusOr<EvpPkeyPtr> ProviderKey() {
    absl::StatusOr<std::unique_ptr<SoftwareSigner>> signer =
        SoftwareSigner::Generate(KeyType::kEcP256);
    if (!signer.ok()) return signer.status();
    return MakeSignerPkey(libctx_.get(), std::shared_ptr<Signer>(*std::move(signer)));
  }

  CaHandle Root() const { return CaHandle{&root_settings_, root_.get(), root_key_.get()}; }

  // A PEM CSR from LeafKey() for `subject` with `sans`.
  std::string Csr(const std::string& subject = kLeafSubject,
                  std::vector<SubjectAltName> sans = {}) {
    absl::StatusOr<X509NamePtr> name = ParseDistinguishedName(subject);
    EXPECT_THAT(name, IsOk());
    if (!name.ok()) return "";
    absl::StatusOr<X509ReqPtr> request = CreateCsr(nullptr, LeafKey(), name->get(), sans);
    EXPECT_THAT(request, IsOk());
    if (!request.ok()) return "";
    absl::StatusOr<std::string> pem = CsrToPem(request->get());
    EXPECT_THAT(pem, IsOk());
    return pem.ok() ? *pem : "";
  }

  Authority::SignRequest Request(const std::string& csr, const std::string& profile = "client") {
    csr_ = csr;
    Authority::SignRequest request;
    request.csr = csr_;
    request.profile = profile;
    request.caller_uid = 1001;
    return request;
  }

  size_t Recorded(const std::string& label = kRootLabel) {
    absl::StatusOr<std::vector<IssuedCertificate>> all = registry_->List(label);
    EXPECT_THAT(all, IsOk());
    return all.ok() ? all->size() : 0;
  }

  // SignCsr must refuse `request` with `code` and a message `matcher`
  // accepts, and record nothing.
  template <typename Matcher>
  void ExpectRefused(const CaHandle& ca, const Authority::SignRequest& request,
                     absl::StatusCode code, Matcher matcher, Authority* authority = nullptr) {
    const size_t before = Recorded(ca.settings->label);
    EXPECT_THAT((authority != nullptr ? authority : authority_.get())->SignCsr(ca, request),
                StatusIs(code, matcher));
    EXPECT_EQ(Recorded(ca.settings->label), before) << "a refusal wrote to the registry";
  }

  std::string dir_;
  std::unique_ptr<Registry> registry_;
  OsslLibCtxPtr libctx_;
  std::unique_ptr<KeyholdProvider> provider_;
  EvpPkeyPtr root_key_;
  std::map<std::string, CertificateProfile> profiles_;
  std::unique_ptr<Authority> authority_;
  CaSettings root_settings_;
  X509Ptr root_;
  std::string csr_;
  // Members destroyed last-declared first: keys and certificates before the
  // provider, the provider before the library context.
};

TEST_F(AuthorityTest, RootIsSelfSignedThroughTheProvider) {
  EXPECT_EQ(X509_verify(root_.get(), X509_get0_pubkey(root_.get())), 1);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(root_.get()), root_key_.get()), 1);
  EXPECT_EQ(X509_check_ca(root_.get()), 1);
  EXPECT_EQ(PathLength(root_.get()), -1);
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject, ParseDistinguishedName(kRootSubject));
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(root_.get()), subject.get()), 0);
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(root_.get()), subject.get()), 0);
}

TEST_F(AuthorityTest, RootIsRecordedUnderItsOwnLabel) {
  ASSERT_OK_AND_ASSIGN(IssuedCertificate record,
                       registry_->Find(kRootLabel, SerialOf(root_.get())));
  EXPECT_EQ(record.profile, "root");
  EXPECT_EQ(record.subject, kRootSubject);
  EXPECT_EQ(record.caller_uid, 0u);
  ASSERT_OK_AND_ASSIGN(std::string der, CertificateToDer(root_.get()));
  EXPECT_EQ(record.der, der);
}

TEST_F(AuthorityTest, RootValidityIsTheProfileDefault) {
  const absl::Duration lifetime =
      AsTime(X509_get0_notAfter(root_.get())) - AsTime(X509_get0_notBefore(root_.get()));
  // Backdated a minute for clock skew.
  EXPECT_EQ(lifetime, 3650 * kDay + absl::Minutes(1));
}

TEST_F(AuthorityTest, RootWorksWithADefaultProviderKeyToo) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, testing::GenerateTestKey(nullptr, KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject, ParseDistinguishedName(kRootSubject));
  ASSERT_OK_AND_ASSIGN(Issued root,
                       authority_->CreateRoot("plain", key.get(), subject.get(), 30, 0));
  EXPECT_EQ(X509_verify(root.certificate.get(), key.get()), 1);
}

TEST_F(AuthorityTest, RootRefusesDaysAboveTheRootMaximum) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject, ParseDistinguishedName(kRootSubject));
  EXPECT_THAT(authority_->CreateRoot("big", root_key_.get(), subject.get(), 7301, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("profile root allows at most 7300 days")));
  EXPECT_EQ(Recorded("big"), 0u);
}

TEST_F(AuthorityTest, SignCsrIssuesAClientCertificateThatChains) {
  ASSERT_OK_AND_ASSIGN(Issued issued, authority_->SignCsr(Root(), Request(Csr())));
  EXPECT_EQ(X509_verify(issued.certificate.get(), X509_get0_pubkey(root_.get())), 1);
  EXPECT_THAT(VerifyChain(issued.certificate.get(), root_.get(), {}, X509_PURPOSE_SSL_CLIENT),
              IsOk());
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(Reparsed(issued.certificate.get()).get()), LeafKey()), 1);
  EXPECT_EQ(X509_check_ca(issued.certificate.get()), 0);
}

TEST_F(AuthorityTest, ClientCertificateIsNotForServers) {
  ASSERT_OK_AND_ASSIGN(Issued issued, authority_->SignCsr(Root(), Request(Csr())));
  EXPECT_THAT(VerifyChain(issued.certificate.get(), root_.get(), {}, X509_PURPOSE_SSL_SERVER),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("purpose")));
}

TEST_F(AuthorityTest, ServerCertificateWithSanChains) {
  Authority::SignRequest request =
      Request(Csr(kLeafSubject, {{Kind::kDns, "host.example.com"}}), "server");
  request.extra_subject_alt_names = {{Kind::kIp, "192.0.2.10"}};
  ASSERT_OK_AND_ASSIGN(Issued issued, authority_->SignCsr(Root(), request));
  EXPECT_THAT(VerifyChain(issued.certificate.get(), root_.get(), {}, X509_PURPOSE_SSL_SERVER),
              IsOk());
  EXPECT_EQ(issued.record.subject_alt_names, "DNS:host.example.com,IP:192.0.2.10");
  EXPECT_EQ(X509_check_host(issued.certificate.get(), "host.example.com", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(issued.certificate.get(), "192.0.2.10", 0), 1);
}

TEST_F(AuthorityTest, IssuedCertificateIsRecordedWithItsFields) {
  ASSERT_OK_AND_ASSIGN(Issued issued, authority_->SignCsr(Root(), Request(Csr())));
  const std::string serial = SerialOf(issued.certificate.get());
  ASSERT_OK_AND_ASSIGN(IssuedCertificate record, registry_->Find(kRootLabel, serial));
  EXPECT_EQ(record.ca_label, kRootLabel);
  EXPECT_EQ(record.serial, serial);
  EXPECT_EQ(record.subject, kLeafSubject);
  EXPECT_EQ(record.subject_alt_names, "");
  EXPECT_EQ(record.profile, "client");
  EXPECT_EQ(record.not_before, AsTime(X509_get0_notBefore(issued.certificate.get())));
  EXPECT_EQ(record.not_after, AsTime(X509_get0_notAfter(issued.certificate.get())));
  EXPECT_LE(absl::AbsDuration(record.issued_at - absl::Now()), absl::Minutes(5));
  EXPECT_EQ(record.caller_uid, 1001u);
  ASSERT_OK_AND_ASSIGN(std::string der, CertificateToDer(issued.certificate.get()));
  EXPECT_EQ(record.der, der);
  EXPECT_FALSE(record.revoked);
}

TEST_F(AuthorityTest, ReturnedRecordIsWhatTheRegistryHolds) {
  ASSERT_OK_AND_ASSIGN(Issued issued, authority_->SignCsr(Root(), Request(Csr())));
  ASSERT_OK_AND_ASSIGN(IssuedCertificate stored, registry_->Find(kRootLabel, issued.record.serial));
  EXPECT_EQ(issued.record.ca_label, stored.ca_label);
  EXPECT_EQ(issued.record.serial, stored.serial);
  EXPECT_EQ(issued.record.subject, stored.subject);
  EXPECT_EQ(issued.record.subject_alt_names, stored.subject_alt_names);
  EXPECT_EQ(issued.record.profile, stored.profile);
  EXPECT_EQ(issued.record.not_before, stored.not_before);
  EXPECT_EQ(issued.record.not_after, stored.not_after);
  EXPECT_EQ(issued.record.issued_at, stored.issued_at);
  EXPECT_EQ(issued.record.caller_uid, stored.caller_uid);
  EXPECT_EQ(issued.record.der, stored.der);
}

TEST_F(AuthorityTest, ValidityIsTheProfileDefaultOrTheDaysAskedFor) {
  ASSERT_OK_AND_ASSIGN(Issued by_default, authority_->SignCsr(Root(), Request(Csr())));
  EXPECT_EQ(by_default.record.not_after - by_default.record.not_before,
            365 * kDay + absl::Minutes(1));
  Authority::SignRequest request = Request(Csr());
  request.days = 10;
  ASSERT_OK_AND_ASSIGN(Issued ten, authority_->SignCsr(Root(), request));
  EXPECT_EQ(ten.record.not_after - ten.record.not_before, 10 * kDay + absl::Minutes(1));
  EXPECT_LE(ten.record.not_before, absl::Now());
}

TEST_F(AuthorityTest, ThousandIssuancesHaveDistinctSerials) {
  const std::string csr = Csr();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_OK_AND_ASSIGN(Issued issued, authority_->SignCsr(Root(), Request(csr)));
  }
  ASSERT_OK_AND_ASSIGN(std::vector<IssuedCertificate> all, registry_->List(kRootLabel));
  ASSERT_THAT(all, SizeIs(1001));  // and the root itself
  std::set<std::string> serials;
  for (const IssuedCertificate& record : all) {
    serials.insert(record.serial);
    EXPECT_LE(record.serial.size(), 20u);
    EXPECT_NE(record.serial[0], '\0');
  }
  EXPECT_EQ(serials.size(), 1001u);
}

TEST_F(AuthorityTest, RefusesCsrWithBadSignature) {
  absl::StatusOr<X509NamePtr> name = ParseDistinguishedName(kLeafSubject);
  ASSERT_THAT(name, IsOk());
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, CreateCsr(nullptr, LeafKey(), name->get(), {}));
  std::string der = Der(request.get());
  der.back() = static_cast<char>(der.back() ^ 0x01);  // inside the signature
  ExpectRefused(Root(), Request(der), absl::StatusCode::kInvalidArgument,
                HasSubstr("signature does not verify"));
}

TEST_F(AuthorityTest, RefusesGarbageCsr) {
  ExpectRefused(Root(), Request("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"),
                absl::StatusCode::kInvalidArgument, HasSubstr("CSR"));
}

TEST_F(AuthorityTest, RefusesProfileTheCaDoesNotIssue) {
  CaSettings settings = root_settings_;
  settings.profiles = {"client"};
  const CaHandle ca{&settings, root_.get(), root_key_.get()};
  ExpectRefused(ca, Request(Csr(kLeafSubject, {{Kind::kDns, "h.example.com"}}), "server"),
                absl::StatusCode::kFailedPrecondition,
                AllOf(HasSubstr("CA root-ca does not issue profile server"),
                      HasSubstr("(its profiles: client)")));
}

TEST_F(AuthorityTest, RefusesUnknownProfile) {
  ExpectRefused(Root(), Request(Csr(), "nope"), absl::StatusCode::kInvalidArgument,
                AllOf(HasSubstr("unknown profile \"nope\""), HasSubstr("client")));
}

TEST_F(AuthorityTest, RefusesCaTrueRequestOnClientProfile) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name, ParseDistinguishedName(kLeafSubject));
  X509ReqPtr request(X509_REQ_new());
  ExtensionsPtr extensions(sk_X509_EXTENSION_new_null());
  ASSERT_NE(extensions, nullptr);
  X509_EXTENSION* bc =
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_basic_constraints, "critical,CA:TRUE");
  ASSERT_NE(bc, nullptr);
  sk_X509_EXTENSION_push(extensions.get(), bc);
  ASSERT_EQ(X509_REQ_set_version(request.get(), 0), 1);
  ASSERT_EQ(X509_REQ_set_subject_name(request.get(), name.get()), 1);
  ASSERT_EQ(X509_REQ_set_pubkey(request.get(), LeafKey()), 1);
  ASSERT_EQ(X509_REQ_add_extensions(request.get(), extensions.get()), 1);
  ASSERT_OK_AND_ASSIGN(EvpMdCtxPtr signing, SigningContext(nullptr, LeafKey()));
  ASSERT_GT(X509_REQ_sign_ctx(request.get(), signing.get()), 0);
  ExpectRefused(Root(), Request(Der(request.get())), absl::StatusCode::kInvalidArgument,
                AllOf(HasSubstr("CA:TRUE"), HasSubstr("profile client")));
}

TEST_F(AuthorityTest, RefusesSubjectThatBreaksStrictPolicy) {
  ExpectRefused(
      Root(), Request(Csr("/C=US/ST=SP/O=Example/CN=alice")), absl::StatusCode::kInvalidArgument,
      AllOf(HasSubstr("policy strict: countryName must match the CA's (BR)"), HasSubstr("\"US\"")));
  ExpectRefused(Root(), Request(Csr("/C=BR/ST=SP/L=Campinas/O=Example/CN=alice")),
                absl::StatusCode::kInvalidArgument, HasSubstr("localityName is not allowed"));
}

TEST_F(AuthorityTest, LoosePolicyAcceptsOtherSubjects) {
  CaSettings settings = root_settings_;
  settings.policy = BuiltinNamePolicies().at("loose");
  const CaHandle ca{&settings, root_.get(), root_key_.get()};
  ASSERT_OK_AND_ASSIGN(Issued issued,
                       authority_->SignCsr(ca, Request(Csr("/C=US/L=Anywhere/CN=bob"))));
  EXPECT_EQ(issued.record.subject, "/C=US/L=Anywhere/CN=bob");
}

TEST_F(AuthorityTest, RefusesSanOutsideTheProfilePatterns) {
  ExpectRefused(Root(),
                Request(Csr(kLeafSubject, {{Kind::kDns, "a.b.example.com"}}), "dns-limited"),
                absl::StatusCode::kInvalidArgument,
                AllOf(HasSubstr("profile dns-limited does not allow DNS:a.b.example.com"),
                      HasSubstr("*.example.com")));
}

TEST_F(AuthorityTest, RefusesExtraSanOutsideTheProfilePatterns) {
  Authority::SignRequest request =
      Request(Csr(kLeafSubject, {{Kind::kDns, "a.example.com"}}), "dns-limited");
  request.extra_subject_alt_names = {{Kind::kDns, "evil.org"}};
  ExpectRefused(Root(), request, absl::StatusCode::kInvalidArgument,
                HasSubstr("does not allow DNS:evil.org"));
}

TEST_F(AuthorityTest, SanInsideTheProfilePatternsIsIssued) {
  ASSERT_OK_AND_ASSIGN(
      Issued issued,
      authority_->SignCsr(
          Root(), Request(Csr(kLeafSubject, {{Kind::kDns, "a.example.com"}}), "dns-limited")));
  EXPECT_EQ(issued.record.subject_alt_names, "DNS:a.example.com");
  EXPECT_EQ(issued.record.profile, "dns-limited");
}

TEST_F(AuthorityTest, RefusesServerProfileWithoutSan) {
  ExpectRefused(Root(), Request(Csr(), "server"), absl::StatusCode::kInvalidArgument,
                HasSubstr("profile server requires a subjectAltName"));
}

TEST_F(AuthorityTest, ServerSanMayComeFromTheRequestAlone) {
  Authority::SignRequest request = Request(Csr(), "server");
  request.extra_subject_alt_names = {{Kind::kDns, "host.example.com"}};
  ASSERT_OK_AND_ASSIGN(Issued issued, authority_->SignCsr(Root(), request));
  EXPECT_EQ(issued.record.subject_alt_names, "DNS:host.example.com");
}

TEST_F(AuthorityTest, RefusesDaysAboveTheProfileMaximum) {
  Authority::SignRequest request = Request(Csr());
  request.days = 826;
  ExpectRefused(
      Root(), request, absl::StatusCode::kInvalidArgument,
      AllOf(HasSubstr("profile client allows at most 825 days"), HasSubstr("826 asked for")));
}

TEST_F(AuthorityTest, RefusesDaysThatAreNotPositive) {
  for (int days : {0, -1}) {
    Authority::SignRequest request = Request(Csr());
    request.days = days;
    ExpectRefused(Root(), request, absl::StatusCode::kInvalidArgument,
                  HasSubstr("days: must be 1 or more"));
  }
}

TEST_F(AuthorityTest, RefusesCertificateThatWouldOutliveItsCa) {
  CaSettings settings = root_settings_;
  settings.label = "short-ca";
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject, ParseDistinguishedName(kRootSubject));
  ASSERT_OK_AND_ASSIGN(Issued short_root,
                       authority_->CreateRoot("short-ca", key.get(), subject.get(), 30, 0));
  const CaHandle ca{&settings, short_root.certificate.get(), key.get()};
  Authority::SignRequest request = Request(Csr(), "long");
  request.days = 60;
  ExpectRefused(ca, request, absl::StatusCode::kFailedPrecondition,
                AllOf(HasSubstr("outlive"), HasSubstr("ask for fewer days")));
  request.days = 29;
  EXPECT_THAT(authority_->SignCsr(ca, request), IsOk());
}

TEST_F(AuthorityTest, RefusesToSignWithAnExpiredCa) {
  Authority later(libctx_.get(), profiles_, *registry_, [] { return absl::Now() + 3651 * kDay; });
  ExpectRefused(Root(), Request(Csr()), absl::StatusCode::kFailedPrecondition,
                HasSubstr("the CA certificate expired on"), &later);
}

TEST_F(AuthorityTest, InjectedClockSetsTheValidity) {
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now())) + 100 * kDay;
  Authority later(libctx_.get(), profiles_, *registry_, [now] { return now; });
  ASSERT_OK_AND_ASSIGN(Issued issued, later.SignCsr(Root(), Request(Csr())));
  EXPECT_EQ(issued.record.not_before, now - absl::Minutes(1));
  EXPECT_EQ(issued.record.not_after, now + 365 * kDay);
}

TEST_F(AuthorityTest, IntermediateHasPathLengthZeroByDefault) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Intermediate"));
  ASSERT_OK_AND_ASSIGN(Issued intermediate,
                       authority_->CreateIntermediate(Root(), key.get(), subject.get(),
                                                      std::nullopt, std::nullopt, 0));
  EXPECT_EQ(PathLength(intermediate.certificate.get()), 0);
  EXPECT_EQ(intermediate.record.profile, "intermediate");
  EXPECT_EQ(X509_verify(intermediate.certificate.get(), X509_get0_pubkey(root_.get())), 1);
  EXPECT_EQ(intermediate.record.not_after - intermediate.record.not_before,
            1825 * kDay + absl::Minutes(1));
  // Recorded under its parent.
  EXPECT_THAT(registry_->Find(kRootLabel, SerialOf(intermediate.certificate.get())), IsOk());
}

TEST_F(AuthorityTest, IntermediatePathLengthCanBeOverridden) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Intermediate"));
  ASSERT_OK_AND_ASSIGN(
      Issued intermediate,
      authority_->CreateIntermediate(Root(), key.get(), subject.get(), std::nullopt, 2, 0));
  EXPECT_EQ(PathLength(intermediate.certificate.get()), 2);
  // The built-in profile is unchanged.
  EXPECT_EQ(profiles_.at("intermediate").path_length, std::optional<int>(0));
}

TEST_F(AuthorityTest, IntermediateRefusesNegativePathLength) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Intermediate"));
  const size_t before = Recorded();
  EXPECT_THAT(authority_->CreateIntermediate(Root(), key.get(), subject.get(), std::nullopt, -1, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pathlen")));
  EXPECT_EQ(Recorded(), before);
}

TEST_F(AuthorityTest, ChainRootIntermediateLeafVerifies) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Intermediate"));
  // One day more than the leaf's 365: issued a second later, a leaf of the
  // same lifetime would outlive it and be refused.
  ASSERT_OK_AND_ASSIGN(
      Issued intermediate,
      authority_->CreateIntermediate(Root(), key.get(), subject.get(), 366, std::nullopt, 0));
  CaSettings settings = root_settings_;
  settings.label = "intermediate-ca";
  const CaHandle ca{&settings, intermediate.certificate.get(), key.get()};
  ASSERT_OK_AND_ASSIGN(
      Issued leaf, authority_->SignCsr(
                       ca, Request(Csr(kLeafSubject, {{Kind::kDns, "h.example.com"}}), "server")));
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf.certificate.get()), subject.get()), 0);
  EXPECT_THAT(VerifyChain(leaf.certificate.get(), root_.get(), {intermediate.certificate.get()},
                          X509_PURPOSE_SSL_SERVER),
              IsOk());
  // Without the intermediate there is no chain.
  EXPECT_THAT(VerifyChain(leaf.certificate.get(), root_.get(), {}, X509_PURPOSE_SSL_SERVER),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(registry_->Find("intermediate-ca", leaf.record.serial), IsOk());
}

// RFC 5280 §4.2.1.9: under a pathlen:0 CA only end-entity certificates
// verify; a CA certificate issued there would be useless.
TEST_F(AuthorityTest, PathLengthZeroCaIssuesNoCaCertificates) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Intermediate"));
  ASSERT_OK_AND_ASSIGN(
      Issued intermediate,
      authority_->CreateIntermediate(Root(), key.get(), subject.get(), 365, std::nullopt, 0));
  CaSettings settings = root_settings_;
  settings.label = "intermediate-ca";
  const CaHandle ca{&settings, intermediate.certificate.get(), key.get()};

  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr sub_key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr sub_subject,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Sub"));
  EXPECT_THAT(
      authority_->CreateIntermediate(ca, sub_key.get(), sub_subject.get(), 30, std::nullopt, 0),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("pathlen 0")));
  Authority::SignRequest request = Request(Csr(), "intermediate");
  request.days = 30;
  ExpectRefused(ca, request, absl::StatusCode::kFailedPrecondition, HasSubstr("pathlen 0"));
  EXPECT_EQ(Recorded("intermediate-ca"), 0u);
  // Leaves are fine.
  request = Request(Csr());
  request.days = 30;
  EXPECT_THAT(authority_->SignCsr(ca, request), IsOk());
}

TEST_F(AuthorityTest, SubIntermediateUnderPathLengthOneVerifies) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Intermediate"));
  ASSERT_OK_AND_ASSIGN(Issued intermediate,
                       authority_->CreateIntermediate(Root(), key.get(), subject.get(), 365, 1, 0));
  CaSettings settings = root_settings_;
  settings.label = "intermediate-ca";
  const CaHandle ca{&settings, intermediate.certificate.get(), key.get()};
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr sub_key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr sub_subject,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Sub"));
  ASSERT_OK_AND_ASSIGN(Issued sub, authority_->CreateIntermediate(
                                       ca, sub_key.get(), sub_subject.get(), 30, std::nullopt, 0));
  CaSettings sub_settings = root_settings_;
  sub_settings.label = "sub-ca";
  const CaHandle sub_ca{&sub_settings, sub.certificate.get(), sub_key.get()};
  Authority::SignRequest request = Request(Csr());
  request.days = 10;
  ASSERT_OK_AND_ASSIGN(Issued leaf, authority_->SignCsr(sub_ca, request));
  EXPECT_THAT(
      VerifyChain(leaf.certificate.get(), root_.get(),
                  {intermediate.certificate.get(), sub.certificate.get()}, X509_PURPOSE_SSL_CLIENT),
      IsOk());
}

TEST_F(AuthorityTest, IntermediateCannotOutliveItsParent) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr parent_key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr parent_subject, ParseDistinguishedName(kRootSubject));
  ASSERT_OK_AND_ASSIGN(Issued parent, authority_->CreateRoot("short-ca", parent_key.get(),
                                                             parent_subject.get(), 30, 0));
  CaSettings settings = root_settings_;
  settings.label = "short-ca";
  const CaHandle ca{&settings, parent.certificate.get(), parent_key.get()};
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, ProviderKey());
  ASSERT_OK_AND_ASSIGN(X509NamePtr subject,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Intermediate"));
  const size_t before = Recorded("short-ca");
  // The intermediate profile's default is 1825 days.
  EXPECT_THAT(
      authority_->CreateIntermediate(ca, key.get(), subject.get(), std::nullopt, std::nullopt, 0),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("outlive")));
  EXPECT_EQ(Recorded("short-ca"), before);
}

TEST_F(AuthorityTest, RevokedSerialIsInTheNextCrlWithItsReason) {
  ASSERT_OK_AND_ASSIGN(Issued issued, authority_->SignCsr(Root(), Request(Csr())));
  ASSERT_THAT(authority_->Revoke(Root(), issued.record.serial, RevocationReason::kKeyCompromise),
              IsOk());
  ASSERT_OK_AND_ASSIGN(IssuedCertificate record, registry_->Find(kRootLabel, issued.record.serial));
  EXPECT_TRUE(record.revoked);
  EXPECT_EQ(record.reason, RevocationReason::kKeyCompromise);

  ASSERT_OK_AND_ASSIGN(Authority::IssuedCrl crl, authority_->Crl(Root(), 7 * kDay));
  EXPECT_EQ(crl.number, 1u);
  EXPECT_EQ(crl.revoked, 1u);
  EXPECT_EQ(X509_CRL_verify(crl.crl.get(), X509_get0_pubkey(root_.get())), 1);
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl.crl.get());
  ASSERT_EQ(sk_X509_REVOKED_num(entries), 1);
  X509_REVOKED* entry = sk_X509_REVOKED_value(entries, 0);
  EXPECT_EQ(ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(entry),
                             X509_get0_serialNumber(issued.certificate.get())),
            0);
  Asn1EnumeratedPtr reason(static_cast<ASN1_ENUMERATED*>(
      X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
  ASSERT_NE(reason, nullptr);
  EXPECT_EQ(ASN1_ENUMERATED_get(reason.get()), 1);
  EXPECT_EQ(AsTime(X509_CRL_get0_nextUpdate(crl.crl.get())) -
                AsTime(X509_CRL_get0_lastUpdate(crl.crl.get())),
            7 * kDay);

  // And openssl now calls the certificate revoked.
  EXPECT_THAT(VerifyChain(issued.certificate.get(), root_.get(), {}, X509_PURPOSE_SSL_CLIENT,
                          crl.crl.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("revoked")));
}

TEST_F(AuthorityTest, CrlNumbersCountUp) {
  ASSERT_OK_AND_ASSIGN(Authority::IssuedCrl first, authority_->Crl(Root(), 7 * kDay));
  ASSERT_OK_AND_ASSIGN(Authority::IssuedCrl second, authority_->Crl(Root(), 7 * kDay));
  EXPECT_EQ(first.number, 1u);
  EXPECT_EQ(second.number, 2u);
  EXPECT_EQ(first.revoked, 0u);
  Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(second.crl.get(), NID_crl_number, nullptr, nullptr)));
  ASSERT_NE(number, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(number.get()), 2);
}

TEST_F(AuthorityTest, UnrevokedCertificateStillVerifiesWithTheCrl) {
  ASSERT_OK_AND_ASSIGN(Issued kept, authority_->SignCsr(Root(), Request(Csr())));
  ASSERT_OK_AND_ASSIGN(Issued revoked, authority_->SignCsr(Root(), Request(Csr())));
  ASSERT_THAT(authority_->Revoke(Root(), revoked.record.serial, RevocationReason::kSuperseded),
              IsOk());
  ASSERT_OK_AND_ASSIGN(Authority::IssuedCrl crl, authority_->Crl(Root(), kDay));
  EXPECT_THAT(
      VerifyChain(kept.certificate.get(), root_.get(), {}, X509_PURPOSE_SSL_CLIENT, crl.crl.get()),
      IsOk());
}

TEST_F(AuthorityTest, RevokingTwiceOrUnknownSerialIsRefused) {
  ASSERT_OK_AND_ASSIGN(Issued issued, authority_->SignCsr(Root(), Request(Csr())));
  ASSERT_THAT(authority_->Revoke(Root(), issued.record.serial, RevocationReason::kUnspecified),
              IsOk());
  EXPECT_THAT(authority_->Revoke(Root(), issued.record.serial, RevocationReason::kUnspecified),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  EXPECT_THAT(
      authority_->Revoke(Root(), std::string("\x7f\x01", 2), RevocationReason::kUnspecified),
      StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST_F(AuthorityTest, CrlValidityMustBeOneTo366Days) {
  for (absl::Duration validity : {absl::ZeroDuration(), 367 * kDay}) {
    EXPECT_THAT(authority_->Crl(Root(), validity),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 to 366 days")));
  }
}

}  // namespace
}  // namespace keyhold::agent::ca
