#include "agent/ca/certificate_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/ca/distinguished_name.h"
#include "agent/ca/profile.h"
#include "agent/ca/registry.h"
#include "agent/ca/serial.h"
#include "agent/ca/subject_alt_names.h"
#include "tests/status_matchers.h"
#include "tests/testing/test_pki.h"
#include "tokens/key_type.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using Kind = SubjectAltName::Kind;

using BasicConstraintsPtr = OpenSslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using AuthorityKeyIdPtr = OpenSslPtr<AUTHORITY_KEYID, AUTHORITY_KEYID_free>;
using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using Asn1EnumeratedPtr = OpenSslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free>;
void FreeEku(EXTENDED_KEY_USAGE* eku) { sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free); }
using ExtendedKeyUsagePtr = OpenSslPtr<EXTENDED_KEY_USAGE, FreeEku>;

const absl::Time kNotBefore = absl::FromUnixSeconds(1'750'000'000);
const absl::Time kNotAfter = kNotBefore + absl::Hours(24 * 90);

std::string AsBytes(const ASN1_STRING* s) {
  if (s == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// Big-endian bytes of a non-negative ASN.1 INTEGER.
std::string IntegerBytes(const ASN1_INTEGER* integer) {
  BignumPtr bn(ASN1_INTEGER_to_BN(integer, nullptr));
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

// The critical flag of `nid`'s extension: 1, 0, or -1 when absent.
int Critical(const X509* cert, int nid) {
  const int index = X509_get_ext_by_NID(cert, nid, -1);
  if (index < 0) return -1;
  return X509_EXTENSION_get_critical(X509_get_ext(cert, index));
}

std::vector<std::string> ExtendedKeyUsages(const X509* cert) {
  std::vector<std::string> names;
  ExtendedKeyUsagePtr eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  if (!eku) return names;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    names.push_back(OBJ_nid2sn(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i))));
  }
  return names;
}

std::vector<SubjectAltName> SubjectAltNames(const X509* cert) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return {};
  absl::StatusOr<std::vector<SubjectAltName>> parsed = FromGeneralNames(names.get());
  return parsed.ok() ? *parsed : std::vector<SubjectAltName>{};
}

// SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 §4.2.1.2 method 1).
std::string KeyHash(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_pubkey_digest(cert, EVP_sha1(), md, &length) != 1) return "";
  return std::string(reinterpret_cast<const char*>(md), length);
}

// Both getters take a non-const X509 (they cache the extensions).
std::string SubjectKeyId(X509* cert) { return AsBytes(X509_get0_subject_key_id(cert)); }
std::string AuthorityKeyId(X509* cert) { return AsBytes(X509_get0_authority_key_id(cert)); }

CertificateProfile Profile(const std::string& name) { return BuiltinProfiles().at(name); }

class CertificateBuilderTest : public ::testing::Test {
 protected:
  static EVP_PKEY* CaKey() {
    static EVP_PKEY* key = Generate(KeyType::kEcP256);
    return key;
  }
  static EVP_PKEY* LeafEcKey() {
    static EVP_PKEY* key = Generate(KeyType::kEcP256);
    return key;
  }
  static EVP_PKEY* LeafRsaKey() {
    static EVP_PKEY* key = Generate(KeyType::kRsa2048);
    return key;
  }

  void SetUp() override {
    ASSERT_NE(CaKey(), nullptr);
    ASSERT_NE(LeafEcKey(), nullptr);
    ASSERT_OK_AND_ASSIGN(ca_subject_, ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Root"));
    ASSERT_OK_AND_ASSIGN(leaf_subject_, ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=leaf"));
    CertificateSpec spec;
    spec.subject = ca_subject_.get();
    spec.public_key = CaKey();
    ASSERT_OK_AND_ASSIGN(spec.serial, NewSerial());
    spec.not_before = kNotBefore;
    spec.not_after = kNotBefore + absl::Hours(24 * 3650);
    spec.profile = &root_profile_;
    ASSERT_OK_AND_ASSIGN(root_, BuildCertificate(spec, SigningCa{nullptr, nullptr, CaKey()}));
  }

  SigningCa Ca() const { return SigningCa{nullptr, root_.get(), CaKey()}; }

  CertificateSpec LeafSpec(const CertificateProfile& profile, EVP_PKEY* key) {
    CertificateSpec spec;
    spec.subject = leaf_subject_.get();
    spec.public_key = key;
    spec.serial = std::string("\x01\x02\x03\x04", 4);
    spec.not_before = kNotBefore;
    spec.not_after = kNotAfter;
    spec.profile = &profile;
    return spec;
  }

  const CertificateProfile root_profile_ = Profile("root");
  const CertificateProfile client_profile_ = Profile("client");
  const CertificateProfile server_profile_ = Profile("server");
  X509NamePtr ca_subject_;
  X509NamePtr leaf_subject_;
  X509Ptr root_;

 private:
  static EVP_PKEY* Generate(KeyType type) {
    absl::StatusOr<EvpPkeyPtr> key = testing::GenerateTestKey(nullptr, type);
    return key.ok() ? key->release() : nullptr;
  }
};

TEST_F(CertificateBuilderTest, LeafVerifiesWithTheCaKey) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  EXPECT_EQ(X509_verify(leaf.get(), CaKey()), 1);
  EXPECT_NE(X509_verify(leaf.get(), LeafEcKey()), 1);
}

TEST_F(CertificateBuilderTest, LeafChainsToTheCaWithOpenssl) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  EXPECT_EQ(X509_check_issued(root_.get(), leaf.get()), X509_V_OK);
}

TEST_F(CertificateBuilderTest, LeafHasVersion3SerialNamesAndValidity) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  EXPECT_EQ(X509_get_version(leaf.get()), X509_VERSION_3);
  EXPECT_EQ(IntegerBytes(X509_get0_serialNumber(leaf.get())), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf.get()), ca_subject_.get()), 0);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(leaf.get()), leaf_subject_.get()), 0);
  EXPECT_EQ(AsTime(X509_get0_notBefore(leaf.get())), kNotBefore);
  EXPECT_EQ(AsTime(X509_get0_notAfter(leaf.get())), kNotAfter);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), LeafEcKey()), 1);
}

TEST_F(CertificateBuilderTest, LeafBasicConstraintsIsCriticalCaFalse) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  EXPECT_EQ(Critical(leaf.get(), NID_basic_constraints), 1);
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(leaf.get(), NID_basic_constraints, nullptr, nullptr)));
  ASSERT_NE(bc, nullptr);
  EXPECT_EQ(bc->ca, 0);
  EXPECT_EQ(bc->pathlen, nullptr);
}

TEST_F(CertificateBuilderTest, ClientLeafWithEcKeyHasOnlyDigitalSignature) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  EXPECT_EQ(Critical(leaf.get(), NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
}

TEST_F(CertificateBuilderTest, ClientLeafWithRsaKeyAddsKeyEncipherment) {
  ASSERT_NE(LeafRsaKey(), nullptr);
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafRsaKey()), Ca()));
  EXPECT_EQ(X509_get_key_usage(leaf.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
}

TEST_F(CertificateBuilderTest, RsaKeyWithoutRsaKeyEnciphermentGetsOnlyTheProfileUsage) {
  ASSERT_NE(LeafRsaKey(), nullptr);
  CertificateProfile profile = client_profile_;
  profile.rsa_key_encipherment = false;
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf, BuildCertificate(LeafSpec(profile, LeafRsaKey()), Ca()));
  EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
}

TEST_F(CertificateBuilderTest, ClientLeafHasClientAuthNotCritical) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  EXPECT_EQ(Critical(leaf.get(), NID_ext_key_usage), 0);
  EXPECT_THAT(ExtendedKeyUsages(leaf.get()), ElementsAre("clientAuth"));
}

TEST_F(CertificateBuilderTest, ServerLeafHasServerAuth) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(server_profile_, LeafEcKey()), Ca()));
  EXPECT_THAT(ExtendedKeyUsages(leaf.get()), ElementsAre("serverAuth"));
}

TEST_F(CertificateBuilderTest, DottedOidExtendedKeyUsageIsEncoded) {
  CertificateProfile profile = client_profile_;
  profile.extended_key_usage = {"clientAuth", "1.3.6.1.5.5.7.3.17"};
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf, BuildCertificate(LeafSpec(profile, LeafEcKey()), Ca()));
  EXPECT_THAT(ExtendedKeyUsages(leaf.get()), ElementsAre("clientAuth", "ipsecIKE"));
}

TEST_F(CertificateBuilderTest, ProfileWithoutExtendedKeyUsageHasNoExtension) {
  CertificateProfile profile = client_profile_;
  profile.extended_key_usage.clear();
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf, BuildCertificate(LeafSpec(profile, LeafEcKey()), Ca()));
  EXPECT_EQ(Critical(leaf.get(), NID_ext_key_usage), -1);
}

TEST_F(CertificateBuilderTest, LeafHasExactlyTheProfileExtensions) {
  CertificateSpec spec = LeafSpec(client_profile_, LeafEcKey());
  spec.subject_alt_names = {{Kind::kDns, "leaf.example.com"}};
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf, BuildCertificate(spec, Ca()));
  std::vector<int> nids;
  for (int i = 0; i < X509_get_ext_count(leaf.get()); ++i) {
    nids.push_back(OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(leaf.get(), i))));
  }
  EXPECT_THAT(nids, UnorderedElementsAre(NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                         NID_subject_key_identifier, NID_authority_key_identifier,
                                         NID_subject_alt_name));
}

TEST_F(CertificateBuilderTest, SubjectKeyIdIsSha1OfTheKey) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  EXPECT_EQ(Critical(leaf.get(), NID_subject_key_identifier), 0);
  EXPECT_EQ(SubjectKeyId(leaf.get()).size(), 20u);
  EXPECT_EQ(SubjectKeyId(leaf.get()), KeyHash(leaf.get()));
}

TEST_F(CertificateBuilderTest, AuthorityKeyIdIsTheCaSubjectKeyId) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  EXPECT_EQ(Critical(leaf.get(), NID_authority_key_identifier), 0);
  ASSERT_FALSE(SubjectKeyId(root_.get()).empty());
  EXPECT_EQ(AuthorityKeyId(leaf.get()), SubjectKeyId(root_.get()));
  EXPECT_NE(AuthorityKeyId(leaf.get()), SubjectKeyId(leaf.get()));
}

TEST_F(CertificateBuilderTest, SubjectAltNamesAreAllThere) {
  CertificateSpec spec = LeafSpec(server_profile_, LeafEcKey());
  spec.subject_alt_names = {{Kind::kDns, "leaf.example.com"},
                            {Kind::kIp, "192.0.2.1"},
                            {Kind::kIp, "2001:db8::1"},
                            {Kind::kEmail, "ops@example.com"},
                            {Kind::kUri, "spiffe://example.com/leaf"}};
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf, BuildCertificate(spec, Ca()));
  EXPECT_EQ(Critical(leaf.get(), NID_subject_alt_name), 0);
  EXPECT_EQ(SubjectAltNames(leaf.get()), spec.subject_alt_names);
}

TEST_F(CertificateBuilderTest, NoSubjectAltNamesMeansNoExtension) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  EXPECT_EQ(Critical(leaf.get(), NID_subject_alt_name), -1);
}

TEST_F(CertificateBuilderTest, RootIsSelfSignedAndVerifiesWithItsOwnKey) {
  EXPECT_EQ(X509_verify(root_.get(), CaKey()), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(root_.get()), X509_get_subject_name(root_.get())),
            0);
  EXPECT_EQ(X509_check_issued(root_.get(), root_.get()), X509_V_OK);
  EXPECT_NE(X509_get_extension_flags(root_.get()) & EXFLAG_SS, 0u);
}

TEST_F(CertificateBuilderTest, RootAuthorityKeyIdIsItsSubjectKeyId) {
  ASSERT_FALSE(SubjectKeyId(root_.get()).empty());
  EXPECT_EQ(SubjectKeyId(root_.get()), KeyHash(root_.get()));
  EXPECT_EQ(AuthorityKeyId(root_.get()), SubjectKeyId(root_.get()));
}

TEST_F(CertificateBuilderTest, RootIsCriticalCaTrueWithCaKeyUsage) {
  EXPECT_EQ(Critical(root_.get(), NID_basic_constraints), 1);
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(root_.get(), NID_basic_constraints, nullptr, nullptr)));
  ASSERT_NE(bc, nullptr);
  EXPECT_NE(bc->ca, 0);
  EXPECT_EQ(bc->pathlen, nullptr);
  EXPECT_EQ(Critical(root_.get(), NID_key_usage), 1);
  EXPECT_EQ(X509_get_key_usage(root_.get()),
            static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(Critical(root_.get(), NID_ext_key_usage), -1);
  EXPECT_EQ(X509_check_ca(root_.get()), 1);
}

TEST_F(CertificateBuilderTest, IntermediateHasPathLengthZero) {
  const CertificateProfile intermediate = Profile("intermediate");
  ASSERT_OK_AND_ASSIGN(X509Ptr cert, BuildCertificate(LeafSpec(intermediate, LeafEcKey()), Ca()));
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert.get(), NID_basic_constraints, nullptr, nullptr)));
  ASSERT_NE(bc, nullptr);
  EXPECT_NE(bc->ca, 0);
  ASSERT_NE(bc->pathlen, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(bc->pathlen), 0);
  EXPECT_EQ(X509_get_pathlen(cert.get()), 0);
}

TEST_F(CertificateBuilderTest, IncompleteSpecIsRefused) {
  CertificateSpec spec = LeafSpec(client_profile_, LeafEcKey());
  spec.profile = nullptr;
  EXPECT_THAT(BuildCertificate(spec, Ca()),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("incomplete")));
}

TEST_F(CertificateBuilderTest, DerAndPemEncodingsRoundTrip) {
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       BuildCertificate(LeafSpec(client_profile_, LeafEcKey()), Ca()));
  ASSERT_OK_AND_ASSIGN(std::string der, CertificateToDer(leaf.get()));
  ASSERT_OK_AND_ASSIGN(X509Ptr back, CertificateFromDer(der));
  EXPECT_EQ(X509_cmp(back.get(), leaf.get()), 0);
  ASSERT_OK_AND_ASSIGN(std::string pem, CertificateToPem(leaf.get()));
  EXPECT_THAT(pem, HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(CertificateFromDer("not a certificate"),
              StatusIs(absl::StatusCode::kInternal, ::testing::_));
}

// Every key type a CA may have signs what it builds (signing.h picks the
// algorithm).
class CaKeyTypeTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(CaKeyTypeTest, RootLeafAndCrlVerify) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr ca_key, testing::GenerateTestKey(nullptr, GetParam()));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr leaf_key, testing::GenerateTestKey(nullptr, KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(X509NamePtr name, ParseDistinguishedName("/CN=Root"));
  const CertificateProfile root_profile = Profile("root");
  const CertificateProfile client_profile = Profile("client");
  CertificateSpec spec;
  spec.subject = name.get();
  spec.public_key = ca_key.get();
  spec.serial = "\x01";
  spec.not_before = kNotBefore;
  spec.not_after = kNotAfter;
  spec.profile = &root_profile;
  ASSERT_OK_AND_ASSIGN(X509Ptr root,
                       BuildCertificate(spec, SigningCa{nullptr, nullptr, ca_key.get()}));
  EXPECT_EQ(X509_verify(root.get(), ca_key.get()), 1);
  const SigningCa ca{nullptr, root.get(), ca_key.get()};
  spec.public_key = leaf_key.get();
  spec.serial = "\x02";
  spec.profile = &client_profile;
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf, BuildCertificate(spec, ca));
  EXPECT_EQ(X509_verify(leaf.get(), ca_key.get()), 1);
  CrlSpec crl_spec;
  crl_spec.number = 1;
  crl_spec.this_update = kNotBefore;
  crl_spec.next_update = kNotAfter;
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, BuildCrl(crl_spec, ca));
  EXPECT_EQ(X509_CRL_verify(crl.get(), ca_key.get()), 1);
}

INSTANTIATE_TEST_SUITE_P(AllCaKeyTypes, CaKeyTypeTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048,
                                           KeyType::kEd25519),
                         [](const ::testing::TestParamInfo<KeyType>& param) {
                           std::string name(KeyTypeName(param.param));
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

class CrlBuilderTest : public CertificateBuilderTest {
 protected:
  CrlSpec Spec() const {
    CrlSpec spec;
    spec.number = 7;
    spec.this_update = kNotBefore;
    spec.next_update = kNotBefore + absl::Hours(24 * 7);
    // Out of order, and one without a reason.
    spec.revoked = {
        {std::string("\x30", 1), kNotBefore - absl::Hours(1), RevocationReason::kSuperseded},
        {std::string("\x05", 1), kNotBefore - absl::Hours(2), RevocationReason::kUnspecified},
        {std::string("\x01\x00", 2), kNotBefore - absl::Hours(3), RevocationReason::kKeyCompromise},
    };
    return spec;
  }
};

TEST_F(CrlBuilderTest, CrlVerifiesWithTheCaKey) {
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, BuildCrl(Spec(), Ca()));
  EXPECT_EQ(X509_CRL_verify(crl.get(), CaKey()), 1);
  EXPECT_NE(X509_CRL_verify(crl.get(), LeafEcKey()), 1);
}

TEST_F(CrlBuilderTest, CrlIsVersion2FromTheCaWithItsDates) {
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, BuildCrl(Spec(), Ca()));
  EXPECT_EQ(X509_CRL_get_version(crl.get()), X509_CRL_VERSION_2);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), ca_subject_.get()), 0);
  EXPECT_EQ(AsTime(X509_CRL_get0_lastUpdate(crl.get())), kNotBefore);
  EXPECT_EQ(AsTime(X509_CRL_get0_nextUpdate(crl.get())), kNotBefore + absl::Hours(24 * 7));
}

TEST_F(CrlBuilderTest, CrlHasItsNumber) {
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, BuildCrl(Spec(), Ca()));
  int critical = -1;
  Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, &critical, nullptr)));
  ASSERT_NE(number, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(number.get()), 7);
  EXPECT_EQ(critical, 0);
}

TEST_F(CrlBuilderTest, CrlAuthorityKeyIdIsTheCaSubjectKeyId) {
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, BuildCrl(Spec(), Ca()));
  AuthorityKeyIdPtr akid(static_cast<AUTHORITY_KEYID*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_authority_key_identifier, nullptr, nullptr)));
  ASSERT_NE(akid, nullptr);
  EXPECT_EQ(AsBytes(akid->keyid), SubjectKeyId(root_.get()));
}

TEST_F(CrlBuilderTest, EntriesAreSortedWithDatesAndReasons) {
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, BuildCrl(Spec(), Ca()));
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  ASSERT_EQ(sk_X509_REVOKED_num(revoked), 3);
  struct Entry {
    std::string serial;
    absl::Time when;
    int reason;  // -1: no reason code extension
    bool operator==(const Entry&) const = default;
  };
  std::vector<Entry> entries;
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    const X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
    int critical = -1;
    Asn1EnumeratedPtr reason(static_cast<ASN1_ENUMERATED*>(
        X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &critical, nullptr)));
    if (reason) {
      EXPECT_EQ(critical, 0);
    }
    entries.push_back(Entry{IntegerBytes(X509_REVOKED_get0_serialNumber(r)),
                            AsTime(X509_REVOKED_get0_revocationDate(r)),
                            reason ? static_cast<int>(ASN1_ENUMERATED_get(reason.get())) : -1});
  }
  EXPECT_THAT(entries,
              ElementsAre(Entry{std::string("\x05", 1), kNotBefore - absl::Hours(2), -1},
                          Entry{std::string("\x30", 1), kNotBefore - absl::Hours(1), 4},
                          Entry{std::string("\x01\x00", 2), kNotBefore - absl::Hours(3), 1}));
}

TEST_F(CrlBuilderTest, EmptyCrlHasNoEntries) {
  CrlSpec spec = Spec();
  spec.revoked.clear();
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, BuildCrl(spec, Ca()));
  // RFC 5280 §5.1.2.6: no revokedCertificates at all, not an empty list.
  EXPECT_EQ(X509_CRL_get_REVOKED(crl.get()), nullptr);
  EXPECT_EQ(X509_CRL_verify(crl.get(), CaKey()), 1);
}

TEST_F(CrlBuilderTest, CrlNeedsTheCaCertificate) {
  EXPECT_THAT(BuildCrl(Spec(), SigningCa{nullptr, nullptr, CaKey()}),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("no CA certificate")));
}

TEST_F(CrlBuilderTest, CrlRevokesTheLeafForOpenssl) {
  CertificateSpec leaf_spec = LeafSpec(client_profile_, LeafEcKey());
  leaf_spec.not_before = absl::Now() - absl::Hours(1);
  leaf_spec.not_after = absl::Now() + absl::Hours(24);
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf, BuildCertificate(leaf_spec, Ca()));
  CrlSpec spec = Spec();
  spec.this_update = absl::Now() - absl::Minutes(1);
  spec.next_update = absl::Now() + absl::Hours(24);
  spec.revoked = {
      {leaf_spec.serial, absl::Now() - absl::Minutes(1), RevocationReason::kKeyCompromise}};
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, BuildCrl(spec, Ca()));
  ASSERT_OK_AND_ASSIGN(std::string pem, CrlToPem(crl.get()));
  EXPECT_THAT(pem, HasSubstr("-----BEGIN X509 CRL-----"));
  // Without the CRL the leaf verifies; with it, it is revoked.
  EXPECT_THAT(testing::VerifyCertificate(leaf.get(), root_.get()), IsOk());
  EXPECT_THAT(testing::VerifyCertificate(leaf.get(), root_.get(), crl.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("revoked")));
}

}  // namespace
}  // namespace keyhold::agent::ca
