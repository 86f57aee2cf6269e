#include "agent/ca/distinguished_name.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "tests/status_matchers.h"

namespace keyhold::agent::ca {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;

// Parse(Format(Parse(text))) is the same name as Parse(text), and Format
// gives `text` back (for text already in canonical short-name form).
void ExpectRoundTrip(const std::string& text) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name, ParseDistinguishedName(text));
  const std::string formatted = FormatDistinguishedName(name.get());
  EXPECT_EQ(formatted, text);
  ASSERT_OK_AND_ASSIGN(X509NamePtr reparsed, ParseDistinguishedName(formatted));
  EXPECT_EQ(X509_NAME_cmp(name.get(), reparsed.get()), 0);
}

void ExpectRefused(const std::string& text, const std::string& reason) {
  EXPECT_THAT(ParseDistinguishedName(text),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(reason)))
      << text;
}

TEST(DistinguishedNameTest, ParsesEachAttributeInOrder) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name,
                       ParseDistinguishedName("/C=BR/ST=SP/O=Example/CN=Example Root CA"));
  ASSERT_EQ(X509_NAME_entry_count(name.get()), 4);
  EXPECT_EQ(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name.get(), 0))),
            NID_countryName);
  EXPECT_THAT(NameEntry(name.get(), NID_countryName), Optional(std::string("BR")));
  EXPECT_THAT(NameEntry(name.get(), NID_stateOrProvinceName), Optional(std::string("SP")));
  EXPECT_THAT(NameEntry(name.get(), NID_organizationName), Optional(std::string("Example")));
  EXPECT_THAT(NameEntry(name.get(), NID_commonName), Optional(std::string("Example Root CA")));
}

TEST(DistinguishedNameTest, FormatRoundTripsPlainName) {
  ExpectRoundTrip("/C=BR/ST=SP/O=Example/CN=Example Root CA");
}

TEST(DistinguishedNameTest, EscapedSlashPlusAndBackslashAreValueCharacters) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name, ParseDistinguishedName("/CN=a\\/b\\+c\\\\d"));
  ASSERT_EQ(X509_NAME_entry_count(name.get()), 1);
  EXPECT_THAT(NameEntry(name.get(), NID_commonName), Optional(std::string("a/b+c\\d")));
}

TEST(DistinguishedNameTest, FormatEscapesAndRoundTrips) {
  ExpectRoundTrip("/O=Research\\/Development/CN=a\\+b\\\\c");
}

TEST(DistinguishedNameTest, PlusJoinsAttributesIntoOneRdn) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name, ParseDistinguishedName("/O=Example/OU=Eng+CN=alice"));
  ASSERT_EQ(X509_NAME_entry_count(name.get()), 3);
  const int first = X509_NAME_ENTRY_set(X509_NAME_get_entry(name.get(), 0));
  const int second = X509_NAME_ENTRY_set(X509_NAME_get_entry(name.get(), 1));
  const int third = X509_NAME_ENTRY_set(X509_NAME_get_entry(name.get(), 2));
  EXPECT_NE(first, second);
  EXPECT_EQ(second, third);
}

TEST(DistinguishedNameTest, MultiValuedRdnRoundTrips) {
  ExpectRoundTrip("/O=Example/OU=Eng+CN=alice/L=Lisbon");
}

TEST(DistinguishedNameTest, Utf8ValueRoundTrips) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name, ParseDistinguishedName("/C=BR/L=São Paulo/CN=x"));
  EXPECT_THAT(NameEntry(name.get(), NID_localityName), Optional(std::string("São Paulo")));
  ExpectRoundTrip("/C=BR/L=São Paulo/CN=x");
}

TEST(DistinguishedNameTest, LongNamesAreAcceptedAndFormattedShort) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name,
                       ParseDistinguishedName("/countryName=PT/commonName=host"));
  EXPECT_EQ(FormatDistinguishedName(name.get()), "/C=PT/CN=host");
}

TEST(DistinguishedNameTest, UnnamedOidIsFormattedDotted) {
  ExpectRoundTrip("/CN=x/1.3.6.1.4.1.55555.1=value");
}

TEST(DistinguishedNameTest, LongOidRoundTrips) {
  std::string oid = "1.3.6.1.4.1.55555";
  while (oid.size() < 300) oid += ".123456789";
  ExpectRoundTrip("/CN=x/" + oid + "=value");
}

TEST(DistinguishedNameTest, KnownOidIsFormattedByName) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name, ParseDistinguishedName("/2.5.4.3=host"));
  EXPECT_EQ(FormatDistinguishedName(name.get()), "/CN=host");
}

TEST(DistinguishedNameTest, EmailAndDomainComponentsRoundTrip) {
  ExpectRoundTrip("/DC=org/DC=example/emailAddress=ops@example.org/UID=ops");
}

TEST(DistinguishedNameTest, NameEntryIsNulloptWhenAbsent) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name, ParseDistinguishedName("/CN=x"));
  EXPECT_EQ(NameEntry(name.get(), NID_organizationName), std::nullopt);
}

TEST(DistinguishedNameTest, NameEntryReturnsTheFirstOfSeveral) {
  ASSERT_OK_AND_ASSIGN(X509NamePtr name, ParseDistinguishedName("/OU=first/OU=second"));
  EXPECT_THAT(NameEntry(name.get(), NID_organizationalUnitName), Optional(std::string("first")));
}

TEST(DistinguishedNameTest, RefusesEmptyText) { ExpectRefused("", "empty"); }

TEST(DistinguishedNameTest, RefusesTextWithoutLeadingSlash) {
  ExpectRefused("CN=x", "starts with '/'");
}

TEST(DistinguishedNameTest, RefusesLoneSlash) { ExpectRefused("/", "expected TYPE=value"); }

TEST(DistinguishedNameTest, RefusesPartWithoutEquals) { ExpectRefused("/CN", "expected TYPE=value"); }

TEST(DistinguishedNameTest, RefusesTrailingSlash) { ExpectRefused("/CN=x/", "expected TYPE=value"); }

TEST(DistinguishedNameTest, RefusesEmptyType) { ExpectRefused("/=x", "attribute type is empty"); }

TEST(DistinguishedNameTest, RefusesUnknownType) {
  ExpectRefused("/CN=x/Colour=blue", "unknown attribute type");
}

TEST(DistinguishedNameTest, RefusesOidWithEmptyArc) {
  ExpectRefused("/1.3..6=x", "malformed attribute type");
}

TEST(DistinguishedNameTest, RefusesOidWithTrailingDot) {
  ExpectRefused("/2.5.4.3.=x", "malformed attribute type");
}

TEST(DistinguishedNameTest, RefusesNulInType) {
  ExpectRefused(std::string("/CN\0junk=x", 10), "malformed attribute type");
}

TEST(DistinguishedNameTest, RefusesEmptyValue) { ExpectRefused("/O=Example/CN=", "empty value"); }

TEST(DistinguishedNameTest, RefusesControlCharacter) {
  ExpectRefused("/CN=a\tb", "control character");
}

TEST(DistinguishedNameTest, RefusesNulByte) {
  ExpectRefused(std::string("/CN=a\0b", 7), "control character");
}

TEST(DistinguishedNameTest, RefusesInvalidUtf8) { ExpectRefused("/CN=caf\xE9", "not valid UTF-8"); }

TEST(DistinguishedNameTest, RefusesOverlongUtf8) {
  ExpectRefused("/CN=\xC0\xAF", "not valid UTF-8");
}

TEST(DistinguishedNameTest, RefusesTextLongerThanTheLimit) {
  ExpectRefused("/CN=" + std::string(kMaxNameTextBytes, 'a'), "at most 4096");
}

TEST(DistinguishedNameTest, RefusesValueLongerThanItsAttributeAllows) {
  // CN is at most 64 characters (RFC 5280 ub-common-name).
  ExpectRefused("/CN=" + std::string(65, 'a'), "CN=");
}

TEST(DistinguishedNameTest, RefusesCountryOfThreeLetters) {
  ExpectRefused("/C=BRA/CN=x", "two letters");
}

TEST(DistinguishedNameTest, RefusesCountryWithDigit) { ExpectRefused("/C=B1", "two letters"); }

TEST(DistinguishedNameTest, RefusesUnfinishedEscape) { ExpectRefused("/CN=a\\", "escape"); }

TEST(DistinguishedNameTest, MessageNamesTheOffendingPart) {
  EXPECT_THAT(ParseDistinguishedName("/O=Fine/XYZZY=bad"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("XYZZY=bad")));
}

TEST(DistinguishedNameTest, AcceptsTheLongestAllowedText) {
  // Many short attributes, then a CN that brings the text exactly to the
  // limit.
  std::string text;
  while (text.size() + 8 + 5 <= kMaxNameTextBytes) text += "/OU=abcd";
  text += "/CN=" + std::string(kMaxNameTextBytes - text.size() - 4, 'z');
  ASSERT_EQ(text.size(), kMaxNameTextBytes);
  EXPECT_THAT(ParseDistinguishedName(text), IsOk());
}

}  // namespace
}  // namespace keyhold::agent::ca
