#include "agent/ca/name_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "agent/ca/distinguished_name.h"
#include "tests/status_matchers.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kCaSubject[] = "/C=BR/ST=SP/O=Example/CN=Example Root";

NamePolicy Builtin(const std::string& name) {
  std::map<std::string, NamePolicy> policies = BuiltinNamePolicies();
  auto it = policies.find(name);
  EXPECT_NE(it, policies.end()) << name;
  return it == policies.end() ? NamePolicy{} : it->second;
}

class NamePolicyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(ca_, ParseDistinguishedName(kCaSubject)); }

  // CheckSubject against the CA for a subject in -subj syntax.
  absl::Status Check(const NamePolicy& policy, const std::string& subject) {
    absl::StatusOr<X509NamePtr> name = ParseDistinguishedName(subject);
    if (!name.ok()) return name.status();
    return CheckSubject(policy, ca_.get(), name->get());
  }

  X509NamePtr ca_;
};

TEST_F(NamePolicyTest, BuiltinStrictIsOpensslPolicyStrict) {
  const NamePolicy strict = Builtin("strict");
  EXPECT_EQ(strict.name, "strict");
  EXPECT_THAT(strict.match, ElementsAre("C", "ST", "O"));
  EXPECT_THAT(strict.supplied, ElementsAre("CN"));
  EXPECT_THAT(strict.optional, ElementsAre("OU", "emailAddress"));
  EXPECT_FALSE(strict.allow_other_attributes);
  EXPECT_THAT(ValidateNamePolicy(strict), IsOk());
}

TEST_F(NamePolicyTest, BuiltinLooseOnlyNeedsCommonName) {
  const NamePolicy loose = Builtin("loose");
  EXPECT_EQ(loose.name, "loose");
  EXPECT_THAT(loose.match, IsEmpty());
  EXPECT_THAT(loose.supplied, ElementsAre("CN"));
  EXPECT_TRUE(loose.allow_other_attributes);
  EXPECT_THAT(ValidateNamePolicy(loose), IsOk());
}

TEST_F(NamePolicyTest, StrictAcceptsMatchingSubjectWithCommonName) {
  EXPECT_THAT(Check(Builtin("strict"), "/C=BR/ST=SP/O=Example/CN=alice"), IsOk());
}

TEST_F(NamePolicyTest, StrictAcceptsOptionalAttributes) {
  EXPECT_THAT(Check(Builtin("strict"),
                    "/C=BR/ST=SP/O=Example/OU=Eng/CN=alice/emailAddress=alice@example.com"),
              IsOk());
}

TEST_F(NamePolicyTest, StrictAcceptsAttributesInAnyOrder) {
  EXPECT_THAT(Check(Builtin("strict"), "/CN=alice/O=Example/ST=SP/C=BR"), IsOk());
}

TEST_F(NamePolicyTest, StrictRefusesMismatchedCountryNamingBothValues) {
  EXPECT_THAT(Check(Builtin("strict"), "/C=US/ST=SP/O=Example/CN=alice"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("policy strict: countryName must match the CA's (BR)"),
                             HasSubstr("the request has \"US\""))));
}

TEST_F(NamePolicyTest, StrictRefusesMismatchedOrganization) {
  EXPECT_THAT(
      Check(Builtin("strict"), "/C=BR/ST=SP/O=Other/CN=alice"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("organizationName"), HasSubstr("Example"), HasSubstr("Other"))));
}

TEST_F(NamePolicyTest, StrictRefusesMissingMatchAttribute) {
  EXPECT_THAT(Check(Builtin("strict"), "/C=BR/O=Example/CN=alice"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("policy strict: stateOrProvinceName is required"),
                             HasSubstr("(SP)"))));
}

TEST_F(NamePolicyTest, StrictRefusesMissingCommonName) {
  EXPECT_THAT(Check(Builtin("strict"), "/C=BR/ST=SP/O=Example/OU=Eng"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy strict: commonName is required")));
}

TEST_F(NamePolicyTest, StrictRefusesUnlistedLocality) {
  EXPECT_THAT(Check(Builtin("strict"), "/C=BR/ST=SP/L=Campinas/O=Example/CN=alice"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy strict: localityName is not allowed")));
}

TEST_F(NamePolicyTest, StrictRefusesUnknownOidAttribute) {
  EXPECT_THAT(Check(Builtin("strict"), "/C=BR/ST=SP/O=Example/CN=alice/1.2.3.4.5=x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not allowed")));
}

// A second C with another value must not slip past the first one's match
// (openssl ca checks every occurrence).
TEST_F(NamePolicyTest, StrictRefusesRepeatedMatchAttributeWithAnotherValue) {
  EXPECT_THAT(
      Check(Builtin("strict"), "/C=BR/C=US/ST=SP/O=Example/CN=alice"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("countryName must match the CA's (BR)"), HasSubstr("\"US\""))));
  EXPECT_THAT(Check(Builtin("strict"), "/C=BR/ST=SP/O=Example/O=Evil Corp/CN=alice"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("organizationName"), HasSubstr("Evil Corp"))));
}

TEST_F(NamePolicyTest, LooseAcceptsAnySubjectWithCommonName) {
  const NamePolicy loose = Builtin("loose");
  EXPECT_THAT(Check(loose, "/CN=alice"), IsOk());
  EXPECT_THAT(Check(loose, "/C=US/ST=CA/L=Somewhere/O=Other/OU=x/CN=alice/1.2.3.4.5=y"), IsOk());
}

TEST_F(NamePolicyTest, LooseRefusesSubjectWithoutCommonName) {
  EXPECT_THAT(Check(Builtin("loose"), "/C=US/O=Other"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy loose: commonName is required")));
}

TEST_F(NamePolicyTest, MatchAgainstCaWithoutTheAttributeIsRefused) {
  NamePolicy policy{"team", {"OU"}, {"CN"}, {}, false};
  EXPECT_THAT(Check(policy, "/OU=Eng/CN=alice"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("policy team: organizationalUnitName must match"),
                             HasSubstr("the CA has none"))));
}

TEST_F(NamePolicyTest, ValidateRefusesUnknownAttribute) {
  NamePolicy policy{"bad", {"C"}, {"CN", "Colour"}, {}, false};
  EXPECT_THAT(
      ValidateNamePolicy(policy),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("policy bad: unknown name attribute"), HasSubstr("Colour"))));
}

TEST_F(NamePolicyTest, ValidateRefusesAttributeInTwoLists) {
  NamePolicy policy{"bad", {"C", "O"}, {"CN"}, {"O"}, false};
  EXPECT_THAT(ValidateNamePolicy(policy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy bad: O is listed more than once")));
}

TEST_F(NamePolicyTest, ValidateRefusesTheSameAttributeUnderTwoNames) {
  NamePolicy policy{"bad", {"C"}, {"CN", "commonName"}, {}, false};
  EXPECT_THAT(ValidateNamePolicy(policy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than once")));
}

TEST_F(NamePolicyTest, ValidateAcceptsLongNamesAndKnownOids) {
  NamePolicy policy{"ok", {"countryName"}, {"2.5.4.3"}, {"L", "serialNumber"}, false};
  EXPECT_THAT(ValidateNamePolicy(policy), IsOk());
}

// docs/configuration.md: attributes by short name "or dotted OID", which
// includes OIDs OpenSSL has no name for.
TEST_F(NamePolicyTest, ValidateAcceptsUnregisteredDottedOid) {
  NamePolicy policy{"oid", {}, {"CN"}, {"1.3.6.1.4.1.99999.1"}, false};
  EXPECT_THAT(ValidateNamePolicy(policy), IsOk());
}

TEST_F(NamePolicyTest, ListedUnregisteredOidIsAllowedInTheSubject) {
  NamePolicy policy{"oid", {}, {"CN"}, {"1.3.6.1.4.1.99999.1"}, false};
  EXPECT_THAT(Check(policy, "/CN=alice/1.3.6.1.4.1.99999.1=x"), IsOk());
  EXPECT_THAT(Check(policy, "/CN=alice/1.3.6.1.4.1.99999.2=x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy oid: 1.3.6.1.4.1.99999.2 is not allowed")));
}

TEST_F(NamePolicyTest, SuppliedUnregisteredOidIsRequired) {
  NamePolicy policy{"oid", {}, {"CN", "1.3.6.1.4.1.99999.1"}, {}, false};
  EXPECT_THAT(Check(policy, "/CN=alice/1.3.6.1.4.1.99999.1=x"), IsOk());
  EXPECT_THAT(Check(policy, "/CN=alice"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy oid: 1.3.6.1.4.1.99999.1 is required")));
}

TEST_F(NamePolicyTest, DottedOidOfAKnownAttributeIsThatAttribute) {
  NamePolicy policy{"oid", {"2.5.4.6"}, {"2.5.4.3"}, {"ST", "O"}, false};
  EXPECT_THAT(Check(policy, "/C=BR/ST=SP/O=Example/CN=alice"), IsOk());
  EXPECT_THAT(Check(policy, "/C=US/CN=alice"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("countryName must match")));
  NamePolicy twice{"twice", {"C"}, {"CN"}, {"2.5.4.6"}, false};
  EXPECT_THAT(ValidateNamePolicy(twice),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than once")));
}

// OBJ_txt2obj reads "2.5.4.3." as 2.5.4.3 and "2..5" as 2.0.5: a typo
// must not quietly become another attribute.
TEST_F(NamePolicyTest, ValidateRefusesMisspelledDottedOids) {
  for (const char* oid : {"2.5.4.3.", "2..5.4.3", "2.5.4.03", "2.5.4.3 ", ""}) {
    NamePolicy policy{"bad", {}, {"CN"}, {oid}, false};
    EXPECT_THAT(ValidateNamePolicy(policy),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown name attribute")))
        << oid;
  }
}

}  // namespace
}  // namespace keyhold::agent::ca
