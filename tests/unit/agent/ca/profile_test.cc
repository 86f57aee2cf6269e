#include "agent/ca/profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/ca/subject_alt_names.h"
#include "tests/status_matchers.h"

namespace keyhold::agent::ca {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using Kind = SubjectAltName::Kind;

constexpr absl::Duration kDay = absl::Hours(24);

SubjectAltName San(Kind kind, std::string value) { return SubjectAltName{kind, std::move(value)}; }

CertificateProfile Builtin(const std::string& name) {
  std::map<std::string, CertificateProfile> profiles = BuiltinProfiles();
  auto it = profiles.find(name);
  EXPECT_NE(it, profiles.end()) << name;
  return it == profiles.end() ? CertificateProfile{} : it->second;
}

// A leaf profile with every SAN kind open, for the pattern tests.
CertificateProfile Leaf() {
  CertificateProfile p = Builtin("client");
  p.name = "test";
  return p;
}

TEST(ProfileTest, BuiltinProfilesAreRootIntermediateServerClient) {
  std::vector<std::string> names;
  for (const auto& [name, profile] : BuiltinProfiles()) {
    names.push_back(name);
    EXPECT_EQ(profile.name, name);
  }
  EXPECT_THAT(names, UnorderedElementsAre("root", "intermediate", "server", "client"));
}

TEST(ProfileTest, BuiltinProfilesAreValid) {
  for (const auto& [name, profile] : BuiltinProfiles()) {
    EXPECT_THAT(ValidateProfile(profile), IsOk()) << name;
  }
}

TEST(ProfileTest, RootIsCaWithoutPathLength) {
  const CertificateProfile root = Builtin("root");
  EXPECT_TRUE(root.is_ca);
  EXPECT_EQ(root.path_length, std::nullopt);
  EXPECT_THAT(root.key_usage, UnorderedElementsAre("keyCertSign", "cRLSign", "digitalSignature"));
  EXPECT_FALSE(root.rsa_key_encipherment);
  EXPECT_TRUE(root.extended_key_usage.empty());
  EXPECT_FALSE(root.subject_alt_name_required);
  EXPECT_EQ(root.default_validity, 3650 * kDay);
  EXPECT_EQ(root.max_validity, 7300 * kDay);
}

TEST(ProfileTest, IntermediateIsCaWithPathLengthZero) {
  const CertificateProfile intermediate = Builtin("intermediate");
  EXPECT_TRUE(intermediate.is_ca);
  EXPECT_EQ(intermediate.path_length, std::optional<int>(0));
  EXPECT_THAT(intermediate.key_usage,
              UnorderedElementsAre("keyCertSign", "cRLSign", "digitalSignature"));
  EXPECT_FALSE(intermediate.rsa_key_encipherment);
  EXPECT_TRUE(intermediate.extended_key_usage.empty());
  EXPECT_EQ(intermediate.default_validity, 1825 * kDay);
  EXPECT_EQ(intermediate.max_validity, 3650 * kDay);
}

TEST(ProfileTest, ClientIsClientAuthLeaf) {
  const CertificateProfile client = Builtin("client");
  EXPECT_FALSE(client.is_ca);
  EXPECT_EQ(client.path_length, std::nullopt);
  EXPECT_THAT(client.key_usage, ElementsAre("digitalSignature"));
  EXPECT_TRUE(client.rsa_key_encipherment);
  EXPECT_THAT(client.extended_key_usage, ElementsAre("clientAuth"));
  EXPECT_FALSE(client.subject_alt_name_required);
  EXPECT_EQ(client.allowed_dns, std::nullopt);
  EXPECT_EQ(client.allowed_ip, std::nullopt);
  EXPECT_EQ(client.allowed_email, std::nullopt);
  EXPECT_EQ(client.allowed_uri, std::nullopt);
  EXPECT_EQ(client.default_validity, 365 * kDay);
  EXPECT_EQ(client.max_validity, 825 * kDay);
}

TEST(ProfileTest, ServerIsServerAuthLeafThatRequiresASan) {
  const CertificateProfile server = Builtin("server");
  EXPECT_FALSE(server.is_ca);
  EXPECT_EQ(server.path_length, std::nullopt);
  EXPECT_THAT(server.key_usage, ElementsAre("digitalSignature"));
  EXPECT_TRUE(server.rsa_key_encipherment);
  EXPECT_THAT(server.extended_key_usage, ElementsAre("serverAuth"));
  EXPECT_TRUE(server.subject_alt_name_required);
  EXPECT_EQ(server.default_validity, 365 * kDay);
  EXPECT_EQ(server.max_validity, 825 * kDay);
}

TEST(ProfileTest, NameListsAreTheDocumentedOnes) {
  EXPECT_THAT(KeyUsageNames(),
              ElementsAre("digitalSignature", "nonRepudiation", "keyEncipherment",
                          "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign"));
  EXPECT_THAT(ExtendedKeyUsageNames(),
              ElementsAre("serverAuth", "clientAuth", "codeSigning", "emailProtection",
                          "timeStamping", "OCSPSigning"));
}

TEST(ProfileTest, ValidateRefusesUnknownKeyUsage) {
  CertificateProfile p = Leaf();
  p.key_usage = {"digitalSignature", "signEverything"};
  EXPECT_THAT(ValidateProfile(p),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("profile test"), HasSubstr("unknown key usage"),
                             HasSubstr("signEverything"))));
}

TEST(ProfileTest, ValidateRefusesUnknownExtendedKeyUsage) {
  CertificateProfile p = Leaf();
  p.extended_key_usage = {"clientAuth", "vpnAuth"};
  EXPECT_THAT(ValidateProfile(p),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unknown extended key usage"), HasSubstr("vpnAuth"))));
}

TEST(ProfileTest, ValidateAcceptsDottedOidExtendedKeyUsage) {
  CertificateProfile p = Leaf();
  p.extended_key_usage = {"clientAuth", "1.3.6.1.5.5.7.3.17"};
  EXPECT_THAT(ValidateProfile(p), IsOk());
}

// OBJ_txt2obj reads these as other OIDs (1.3.6.1.5.5.7.3, 1.3.0.6, ...);
// a typo must not become a different usage in every certificate.
TEST(ProfileTest, ValidateRefusesMisspelledDottedOids) {
  for (const char* oid :
       {"1.3.6.1.5.5.7.3.", "1.3..6.1", "1.3.6.1.5.5.7.3.17 ", "1.3.06.1", "1", "9.1", "1.2.-3"}) {
    CertificateProfile p = Leaf();
    p.extended_key_usage = {oid};
    EXPECT_THAT(ValidateProfile(p), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("unknown extended key usage")))
        << oid;
  }
}

TEST(ProfileTest, ValidateRefusesKeyCertSignOnLeaf) {
  CertificateProfile p = Leaf();
  p.key_usage = {"digitalSignature", "keyCertSign"};
  EXPECT_THAT(ValidateProfile(p), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("keyCertSign needs ca = true")));
}

TEST(ProfileTest, ValidateRefusesCaWithoutKeyCertSign) {
  CertificateProfile p = Builtin("root");
  p.key_usage = {"cRLSign", "digitalSignature"};
  EXPECT_THAT(ValidateProfile(p), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("a CA profile needs keyCertSign")));
}

TEST(ProfileTest, ValidateRefusesPathLengthOnLeaf) {
  CertificateProfile p = Leaf();
  p.path_length = 0;
  EXPECT_THAT(ValidateProfile(p), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("path_length needs ca = true")));
}

TEST(ProfileTest, ValidateRefusesNegativePathLength) {
  CertificateProfile p = Builtin("intermediate");
  p.path_length = -1;
  EXPECT_THAT(ValidateProfile(p), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("path_length must be 0 or more")));
}

TEST(ProfileTest, ValidateRefusesDefaultValidityAboveMaximum) {
  CertificateProfile p = Leaf();
  p.default_validity = 900 * kDay;
  EXPECT_THAT(ValidateProfile(p),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("default validity is longer than the maximum")));
}

TEST(ProfileTest, ValidateRefusesValidityThatIsNotPositive) {
  for (absl::Duration d : {absl::ZeroDuration(), -kDay}) {
    CertificateProfile p = Leaf();
    p.default_validity = d;
    EXPECT_THAT(ValidateProfile(p),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("validity")))
        << d;
    p = Leaf();
    p.max_validity = d;
    EXPECT_THAT(ValidateProfile(p),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("validity")))
        << d;
  }
}

TEST(ProfileTest, ValidateRefusesBadSanPatterns) {
  struct Case {
    Kind kind;
    std::string pattern;
  };
  for (const Case& c : std::vector<Case>{
           {Kind::kDns, ""},
           {Kind::kDns, "*"},
           {Kind::kDns, "a.*.example.com"},
           {Kind::kDns, "*.*.example.com"},
           {Kind::kDns, "bad_host!.example.com"},
           {Kind::kIp, "10.0.0.0/33"},
           {Kind::kIp, "2001:db8::/129"},
           {Kind::kIp, "10.0.0/8"},
           {Kind::kIp, "10.0.0.0/"},
           {Kind::kIp, "host.example.com"},
           {Kind::kEmail, "*@a@b"},
           {Kind::kEmail, "no-at-sign"},
           {Kind::kEmail, "*@"},
           {Kind::kEmail, "*@not a domain"},
           {Kind::kUri, "no-scheme"},
           {Kind::kUri, ""},
       }) {
    CertificateProfile p = Leaf();
    switch (c.kind) {
      case Kind::kDns:
        p.allowed_dns = {{c.pattern}};
        break;
      case Kind::kIp:
        p.allowed_ip = {{c.pattern}};
        break;
      case Kind::kEmail:
        p.allowed_email = {{c.pattern}};
        break;
      case Kind::kUri:
        p.allowed_uri = {{c.pattern}};
        break;
    }
    EXPECT_THAT(ValidateProfile(p),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("profile test: bad "), HasSubstr("pattern"))))
        << SubjectAltNameKindName(c.kind) << " " << c.pattern;
  }
}

TEST(ProfileTest, ValidateAcceptsGoodSanPatterns) {
  CertificateProfile p = Leaf();
  p.allowed_dns = {{"*.example.com", "host.example.org", "Upper.Example.COM"}};
  p.allowed_ip = {{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"}};
  p.allowed_email = {{"*@example.com", "alice@example.org"}};
  p.allowed_uri = {{"spiffe://example.org/*", "https://example.com/x"}};
  EXPECT_THAT(ValidateProfile(p), IsOk());
}

TEST(ProfileTest, DnsWildcardMatchesExactlyOneLabel) {
  CertificateProfile p = Leaf();
  p.allowed_dns = {{"*.example.com"}};
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "a.example.com")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "a.b.example.com")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("profile test does not allow DNS:a.b.example.com"),
                             HasSubstr("(allowed: *.example.com)"))));
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "example.com")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "aexample.com")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "a.example.com.evil.org")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(ProfileTest, DnsExactPatternMatchesOnlyThatName) {
  CertificateProfile p = Leaf();
  p.allowed_dns = {{"Host.Example.com"}};
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "host.example.com")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "a.host.example.com")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

// Patterns are read like names: "Host.Example.com." is host.example.com.
TEST(ProfileTest, DnsPatternIsNormalisedLikeNames) {
  CertificateProfile p = Leaf();
  p.allowed_dns = {{"Host.Example.com.", "*.Apps.Example.com."}};
  ASSERT_THAT(ValidateProfile(p), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "host.example.com")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "a.apps.example.com")), IsOk());
}

TEST(ProfileTest, IpV4NetworkMatchesAddressesInside) {
  CertificateProfile p = Leaf();
  p.allowed_ip = {{"10.1.0.0/16"}};
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "10.1.0.1")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "10.1.255.255")), IsOk());
  EXPECT_THAT(
      CheckSubjectAltName(p, San(Kind::kIp, "10.2.0.1")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not allow IP:10.2.0.1")));
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "::ffff:10.1.0.1")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(ProfileTest, IpV4PrefixNotOnAByteBoundary) {
  CertificateProfile p = Leaf();
  p.allowed_ip = {{"192.0.2.64/26"}};
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "192.0.2.64")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "192.0.2.127")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "192.0.2.63")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "192.0.2.128")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(ProfileTest, IpV6NetworkMatchesAddressesInside) {
  CertificateProfile p = Leaf();
  p.allowed_ip = {{"2001:db8::/32"}};
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "2001:db8::1")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "2001:db8:ffff::1")), IsOk());
  EXPECT_THAT(
      CheckSubjectAltName(p, San(Kind::kIp, "2001:db9::1")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not allow IP:2001:db9::1")));
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "10.0.0.1")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(ProfileTest, IpSingleAddressMatchesOnlyItself) {
  CertificateProfile p = Leaf();
  p.allowed_ip = {{"192.0.2.7", "::1"}};
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "192.0.2.7")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "::1")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "192.0.2.8")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(ProfileTest, EmailDomainWildcardMatchesAnyoneThere) {
  CertificateProfile p = Leaf();
  p.allowed_email = {{"*@example.com"}};
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kEmail, "alice@example.com")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kEmail, "bob@example.com")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kEmail, "alice@example.org")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not allow email:alice@example.org")));
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kEmail, "alice@sub.example.com")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(ProfileTest, UriPrefixPatternMatchesByPrefix) {
  CertificateProfile p = Leaf();
  p.allowed_uri = {{"spiffe://example.org/*", "https://example.com/exact"}};
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kUri, "spiffe://example.org/ns/a")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kUri, "https://example.com/exact")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kUri, "https://example.com/exact/more")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kUri, "spiffe://example.net/ns/a")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not allow URI:spiffe://example.net/ns/a")));
}

TEST(ProfileTest, NoPatternListAllowsAnyNameOfThatKind) {
  const CertificateProfile p = Leaf();  // every list nullopt
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "anything.example")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "203.0.113.9")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kEmail, "x@y.example")), IsOk());
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kUri, "urn:x:y")), IsOk());
}

TEST(ProfileTest, EmptyPatternListAllowsNoNameOfThatKind) {
  CertificateProfile p = Leaf();
  p.allowed_dns = std::vector<std::string>{};
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kDns, "host.example.com")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("(allowed: none)")));
  // Other kinds stay open.
  EXPECT_THAT(CheckSubjectAltName(p, San(Kind::kIp, "192.0.2.1")), IsOk());
}

}  // namespace
}  // namespace keyhold::agent::ca
