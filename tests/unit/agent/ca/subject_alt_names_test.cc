#include "agent/ca/subject_alt_names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "tests/status_matchers.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Kind = SubjectAltName::Kind;

using GeneralNamePtr = OpenSslPtr<GENERAL_NAME, GENERAL_NAME_free>;
using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;

SubjectAltName San(Kind kind, std::string value) {
  return SubjectAltName{.kind = kind, .value = std::move(value)};
}

void ExpectParsesTo(const std::string& text, const SubjectAltName& expected) {
  absl::StatusOr<SubjectAltName> name = ParseSubjectAltName(text);
  ASSERT_THAT(name, IsOk()) << text;
  EXPECT_EQ(*name, expected) << text;
}

void ExpectRefused(const std::string& text, const std::string& reason) {
  EXPECT_THAT(ParseSubjectAltName(text),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(reason)))
      << text;
}

// A one-entry GENERAL_NAMES holding an IA5String of `type` with `bytes`.
GeneralNamesPtr Ia5GeneralNames(int type, const std::string& bytes) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  GeneralNamePtr name(GENERAL_NAME_new());
  ASN1_IA5STRING* value = ASN1_IA5STRING_new();
  ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size()));
  GENERAL_NAME_set0_value(name.get(), type, value);
  sk_GENERAL_NAME_push(names.get(), name.release());
  return names;
}

TEST(SubjectAltNameTest, ParsesDnsName) {
  ExpectParsesTo("DNS:www.example.com", San(Kind::kDns, "www.example.com"));
}

TEST(SubjectAltNameTest, ParsesIpv4Address) {
  ExpectParsesTo("IP:192.0.2.10", San(Kind::kIp, "192.0.2.10"));
}

TEST(SubjectAltNameTest, ParsesIpv6AddressToCanonicalText) {
  ExpectParsesTo("IP:2001:DB8:0:0:0:0:0:1", San(Kind::kIp, "2001:db8::1"));
}

TEST(SubjectAltNameTest, ParsesEmailAndLowerCasesOnlyTheDomain) {
  ExpectParsesTo("email:Alice.Smith@Example.COM", San(Kind::kEmail, "Alice.Smith@example.com"));
}

TEST(SubjectAltNameTest, ParsesUriAsGiven) {
  ExpectParsesTo("URI:spiffe://example.org/ns/Prod/sa/web",
                 San(Kind::kUri, "spiffe://example.org/ns/Prod/sa/web"));
}

TEST(SubjectAltNameTest, KindIsCaseInsensitive) {
  ExpectParsesTo("dns:a.example", San(Kind::kDns, "a.example"));
  ExpectParsesTo("ip:10.0.0.1", San(Kind::kIp, "10.0.0.1"));
  ExpectParsesTo("EMAIL:a@b.example", San(Kind::kEmail, "a@b.example"));
  ExpectParsesTo("uri:urn:x", San(Kind::kUri, "urn:x"));
}

TEST(SubjectAltNameTest, DnsIsLowerCasedWithoutTrailingDot) {
  ExpectParsesTo("DNS:WWW.Example.COM.", San(Kind::kDns, "www.example.com"));
}

TEST(SubjectAltNameTest, AcceptsLeftmostWildcard) {
  ExpectParsesTo("DNS:*.Example.com", San(Kind::kDns, "*.example.com"));
}

TEST(SubjectAltNameTest, RefusesWildcardAlone) {
  ExpectRefused("DNS:*", "wildcard");
  ExpectRefused("DNS:*.", "wildcard");
}

TEST(SubjectAltNameTest, RefusesWildcardNotLeftmost) {
  ExpectRefused("DNS:www.*.example.com", "leftmost");
}

TEST(SubjectAltNameTest, RefusesPartialWildcardLabel) {
  ExpectRefused("DNS:w*.example.com", "leftmost");
}

TEST(SubjectAltNameTest, RefusesDnsLabelLongerThan63) {
  ExpectRefused("DNS:" + std::string(64, 'a') + ".example", "longer than 63");
}

TEST(SubjectAltNameTest, AcceptsDnsLabelOf63) {
  EXPECT_THAT(ParseSubjectAltName("DNS:" + std::string(63, 'a') + ".example"), IsOk());
}

TEST(SubjectAltNameTest, RefusesDnsNameLongerThan253) {
  std::string name;
  while (name.size() < 254) name += "abcdefghi.";
  ExpectRefused("DNS:" + name + "example", "longer than 253");
}

TEST(SubjectAltNameTest, RefusesNonLdhCharacter) {
  ExpectRefused("DNS:foo_bar.example", "letters, digits and '-'");
}

TEST(SubjectAltNameTest, RefusesLabelStartingWithHyphen) {
  ExpectRefused("DNS:-foo.example", "'-'");
}

TEST(SubjectAltNameTest, RefusesEmptyLabel) { ExpectRefused("DNS:a..example", "empty DNS label"); }

TEST(SubjectAltNameTest, RefusesEmptyDnsName) { ExpectRefused("DNS:", "empty DNS name"); }

TEST(SubjectAltNameTest, RefusesMalformedIpv4) {
  ExpectRefused("IP:192.0.2.256", "not an IPv4 or IPv6 address");
  ExpectRefused("IP:192.0.2", "not an IPv4 or IPv6 address");
}

TEST(SubjectAltNameTest, RefusesIpWithEmbeddedNul) {
  ExpectRefused(std::string("IP:10.0.0.1\0junk", 16), "not an IPv4 or IPv6 address");
}

TEST(SubjectAltNameTest, RefusesIpv6WithZone) {
  ExpectRefused("IP:fe80::1%eth0", "not an IPv4 or IPv6 address");
}

TEST(SubjectAltNameTest, RefusesEmailWithoutAt) { ExpectRefused("email:alice", "local@domain"); }

TEST(SubjectAltNameTest, RefusesEmailWithEmptyLocalPart) {
  ExpectRefused("email:@example.com", "local part");
}

TEST(SubjectAltNameTest, RefusesEmailWithBadDomain) {
  ExpectRefused("email:alice@exa_mple.com", "domain");
}

TEST(SubjectAltNameTest, RefusesUriWithoutScheme) {
  ExpectRefused("URI://example.com/x", "scheme");
  ExpectRefused("URI:example.com", "scheme");
}

TEST(SubjectAltNameTest, RefusesUriWithSpace) { ExpectRefused("URI:https://a b", "spaces"); }

TEST(SubjectAltNameTest, RefusesUnknownKind) { ExpectRefused("dirName:CN=x", "unknown kind"); }

TEST(SubjectAltNameTest, RefusesTextWithoutKind) {
  ExpectRefused("www.example.com", "expected KIND:value");
}

TEST(SubjectAltNameListTest, EmptyTextIsEmptyList) {
  ASSERT_OK_AND_ASSIGN(std::vector<SubjectAltName> names, ParseSubjectAltNames(""));
  EXPECT_THAT(names, IsEmpty());
}

TEST(SubjectAltNameListTest, ParsesCommaSeparatedKinds) {
  ASSERT_OK_AND_ASSIGN(
      std::vector<SubjectAltName> names,
      ParseSubjectAltNames("DNS:a.example, IP:10.0.0.1,email:x@a.example,URI:https://a.example/"));
  EXPECT_THAT(names, ElementsAre(San(Kind::kDns, "a.example"), San(Kind::kIp, "10.0.0.1"),
                                 San(Kind::kEmail, "x@a.example"),
                                 San(Kind::kUri, "https://a.example/")));
}

TEST(SubjectAltNameListTest, DropsDuplicatesAfterNormalisingKeepingOrder) {
  ASSERT_OK_AND_ASSIGN(
      std::vector<SubjectAltName> names,
      ParseSubjectAltNames("DNS:b.example,DNS:a.example,DNS:B.Example.,IP:::1,IP:0:0::1"));
  EXPECT_THAT(names, ElementsAre(San(Kind::kDns, "b.example"), San(Kind::kDns, "a.example"),
                                 San(Kind::kIp, "::1")));
}

TEST(SubjectAltNameListTest, AcceptsTheMaximumCount) {
  std::string text;
  for (size_t i = 0; i < kMaxSubjectAltNames; ++i) absl::StrAppend(&text, "DNS:h", i, ".example,");
  text.pop_back();
  ASSERT_OK_AND_ASSIGN(std::vector<SubjectAltName> names, ParseSubjectAltNames(text));
  EXPECT_EQ(names.size(), kMaxSubjectAltNames);
}

TEST(SubjectAltNameListTest, RefusesMoreThanTheMaximumCount) {
  std::string text;
  for (size_t i = 0; i <= kMaxSubjectAltNames; ++i) absl::StrAppend(&text, "DNS:h", i, ".example,");
  text.pop_back();
  EXPECT_THAT(ParseSubjectAltNames(text),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than 100")));
}

TEST(SubjectAltNameListTest, RefusesEmptyItem) {
  EXPECT_THAT(ParseSubjectAltNames("DNS:a.example,,DNS:b.example"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty item")));
}

TEST(SubjectAltNameListTest, RefusalNamesTheBadItem) {
  EXPECT_THAT(ParseSubjectAltNames("DNS:ok.example,IP:300.1.1.1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("IP:300.1.1.1")));
}

TEST(SubjectAltNameListTest, FormatRoundTripsThroughParse) {
  const std::vector<SubjectAltName> names = {
      San(Kind::kDns, "*.example.com"), San(Kind::kIp, "2001:db8::1"),
      San(Kind::kEmail, "ops@example.com"), San(Kind::kUri, "urn:uuid:1234")};
  const std::string text = FormatSubjectAltNames(names);
  EXPECT_EQ(text, "DNS:*.example.com,IP:2001:db8::1,email:ops@example.com,URI:urn:uuid:1234");
  ASSERT_OK_AND_ASSIGN(std::vector<SubjectAltName> parsed, ParseSubjectAltNames(text));
  EXPECT_EQ(parsed, names);
}

TEST(GeneralNamesTest, RoundTripsEveryKind) {
  const std::vector<SubjectAltName> names = {
      San(Kind::kDns, "www.example.com"), San(Kind::kIp, "192.0.2.1"),
      San(Kind::kIp, "2001:db8::2"), San(Kind::kEmail, "a@example.com"),
      San(Kind::kUri, "https://example.com/p")};
  ASSERT_OK_AND_ASSIGN(GENERAL_NAMES * raw, ToGeneralNames(names));
  GeneralNamesPtr general_names(raw);
  ASSERT_OK_AND_ASSIGN(std::vector<SubjectAltName> back, FromGeneralNames(general_names.get()));
  EXPECT_EQ(back, names);
}

TEST(GeneralNamesTest, IpAddressesAreEncodedAsFourOrSixteenBytes) {
  const std::vector<SubjectAltName> names = {San(Kind::kIp, "192.0.2.1"),
                                             San(Kind::kIp, "2001:db8::2")};
  ASSERT_OK_AND_ASSIGN(GENERAL_NAMES * raw, ToGeneralNames(names));
  GeneralNamesPtr general_names(raw);
  ASSERT_EQ(sk_GENERAL_NAME_num(general_names.get()), 2);
  const GENERAL_NAME* v4 = sk_GENERAL_NAME_value(general_names.get(), 0);
  const GENERAL_NAME* v6 = sk_GENERAL_NAME_value(general_names.get(), 1);
  ASSERT_EQ(v4->type, GEN_IPADD);
  EXPECT_EQ(ASN1_STRING_length(v4->d.iPAddress), 4);
  ASSERT_EQ(v6->type, GEN_IPADD);
  EXPECT_EQ(ASN1_STRING_length(v6->d.iPAddress), 16);
}

TEST(GeneralNamesTest, ToGeneralNamesRefusesAnInvalidValue) {
  const std::vector<SubjectAltName> names = {San(Kind::kDns, "bad_name.example")};
  EXPECT_THAT(ToGeneralNames(names), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("bad_name.example")));
}

TEST(GeneralNamesTest, FromGeneralNamesNormalisesDns) {
  GeneralNamesPtr names = Ia5GeneralNames(GEN_DNS, "WWW.Example.COM");
  ASSERT_OK_AND_ASSIGN(std::vector<SubjectAltName> parsed, FromGeneralNames(names.get()));
  EXPECT_THAT(parsed, ElementsAre(San(Kind::kDns, "www.example.com")));
}

TEST(GeneralNamesTest, FromGeneralNamesRefusesOtherName) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  GeneralNamePtr name(GENERAL_NAME_new());
  ASN1_TYPE* value = ASN1_TYPE_new();
  ASN1_TYPE_set1(value, V_ASN1_NULL, nullptr);
  // Microsoft's UPN, the otherName a Windows CSR typically carries.
  ASSERT_EQ(GENERAL_NAME_set0_othername(name.get(), OBJ_txt2obj("1.3.6.1.4.1.311.20.2.3", 1),
                                        value),
            1);
  sk_GENERAL_NAME_push(names.get(), name.release());
  EXPECT_THAT(FromGeneralNames(names.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("otherName")));
}

TEST(GeneralNamesTest, FromGeneralNamesRefusesDirectoryName) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  GeneralNamePtr name(GENERAL_NAME_new());
  X509_NAME* directory = X509_NAME_new();
  X509_NAME_add_entry_by_txt(directory, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("x"), 1, -1, 0);
  GENERAL_NAME_set0_value(name.get(), GEN_DIRNAME, directory);
  sk_GENERAL_NAME_push(names.get(), name.release());
  EXPECT_THAT(FromGeneralNames(names.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("directoryName")));
}

TEST(GeneralNamesTest, FromGeneralNamesRefusesEmbeddedNul) {
  GeneralNamesPtr names = Ia5GeneralNames(GEN_DNS, std::string("good.example\0.evil.example", 26));
  EXPECT_THAT(FromGeneralNames(names.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not visible ASCII")));
}

TEST(GeneralNamesTest, FromGeneralNamesRefusesInvalidDnsCharacters) {
  GeneralNamesPtr names = Ia5GeneralNames(GEN_DNS, "under_score.example");
  EXPECT_THAT(FromGeneralNames(names.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("letters, digits")));
}

TEST(GeneralNamesTest, FromGeneralNamesRefusesFiveByteIpAddress) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  GeneralNamePtr name(GENERAL_NAME_new());
  ASN1_OCTET_STRING* address = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(address, reinterpret_cast<const unsigned char*>("\x0a\x00\x00\x01\x02"),
                        5);
  GENERAL_NAME_set0_value(name.get(), GEN_IPADD, address);
  sk_GENERAL_NAME_push(names.get(), name.release());
  EXPECT_THAT(FromGeneralNames(names.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4 or 16 bytes")));
}

TEST(GeneralNamesTest, FromGeneralNamesDropsDuplicates) {
  GeneralNamesPtr names = Ia5GeneralNames(GEN_DNS, "a.example");
  GeneralNamesPtr more = Ia5GeneralNames(GEN_DNS, "A.EXAMPLE");
  sk_GENERAL_NAME_push(names.get(), sk_GENERAL_NAME_pop(more.get()));
  ASSERT_OK_AND_ASSIGN(std::vector<SubjectAltName> parsed, FromGeneralNames(names.get()));
  EXPECT_THAT(parsed, ElementsAre(San(Kind::kDns, "a.example")));
}

TEST(GeneralNamesTest, FromNullIsEmpty) {
  ASSERT_OK_AND_ASSIGN(std::vector<SubjectAltName> parsed, FromGeneralNames(nullptr));
  EXPECT_THAT(parsed, IsEmpty());
}

}  // namespace
}  // namespace keyhold::agent::ca
