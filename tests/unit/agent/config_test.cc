#include "agent/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/ca/csr.h"
#include "agent/ca/name_policy.h"
#include "agent/ca/profile.h"
#include "tests/status_matchers.h"

namespace keyhold::agent {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;

// The minimal example from docs/configuration.md, line for line.
constexpr char kMinimal[] = R"(socket = "/run/keyhold/agent.sock"
socket_group = "keyhold"     # group allowed to connect (socket mode 0660); name or gid
state_dir = "/var/lib/keyhold"
admins = ["root"]            # users allowed every key and admin calls
[token]
module = "/usr/lib/softhsm/libsofthsm2.so"
uri = "pkcs11:token=keyhold"
pin_file = "/etc/keyhold/pin"  # or pin_env = "NAME", or pin_credential = "pin"
[[key]]
label = "client"
purpose = "tls-client"
users = ["app"]              # uids or names; groups = [...] likewise
)";

// A valid [token] table of four lines, for tests about other keys.
constexpr char kToken[] = R"([token]
module = "/usr/lib/softhsm/libsofthsm2.so"
uri = "pkcs11:token=keyhold"
pin_env = "KEYHOLD_PIN"
)";

NameResolver FakeNames() {
  static const auto* users = new std::map<std::string, uid_t>{
      {"root", 0}, {"app", 1001}, {"alice", 1002}, {"nginx", 33}};
  static const auto* groups = new std::map<std::string, gid_t>{
      {"root", 0}, {"keyhold", 990}, {"ops", 991}, {"ca-operators", 992}};
  return NameResolver{
      .user = [](const std::string& name) -> std::optional<uid_t> {
        auto it = users->find(name);
        if (it == users->end()) return std::nullopt;
        return it->second;
      },
      .group = [](const std::string& name) -> std::optional<gid_t> {
        auto it = groups->find(name);
        if (it == groups->end()) return std::nullopt;
        return it->second;
      },
  };
}

absl::StatusOr<Config> Parse(absl::string_view text) {
  return ParseConfig(text, "keyhold.toml", FakeNames());
}

// A config with a valid [token] and one [[key]] whose body is `key_body`;
// the [[key]] header is on line 5, so the body starts on line 6.
std::string WithKey(absl::string_view key_body) {
  return absl::StrCat(kToken, "[[key]]\n", key_body);
}

TEST(ConfigTest, MinimalExampleParses) {
  ASSERT_OK_AND_ASSIGN(Config config, Parse(kMinimal));
  EXPECT_EQ(config.socket, "/run/keyhold/agent.sock");
  EXPECT_THAT(config.socket_group, Optional(gid_t{990}));
  EXPECT_EQ(config.state_dir, "/var/lib/keyhold");
  EXPECT_THAT(config.admins, ElementsAre(0u));
  EXPECT_EQ(config.audit_log, "/var/lib/keyhold/audit.log");
  EXPECT_EQ(config.token.module, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(config.token.uri, "pkcs11:token=keyhold");
  EXPECT_EQ(config.token.pin.kind(), PinSource::Kind::kFile);
  EXPECT_EQ(config.token.pin.location(), "/etc/keyhold/pin");
  ASSERT_EQ(config.keys.size(), 1u);
  EXPECT_EQ(config.keys[0].label, "client");
  EXPECT_EQ(config.keys[0].purpose, KeyPurpose::kTlsClient);
  EXPECT_THAT(config.keys[0].users, ElementsAre(1001u));
  EXPECT_THAT(config.keys[0].groups, IsEmpty());
  EXPECT_FALSE(config.keys[0].allow_raw_sign);
}

TEST(ConfigTest, DefaultsApplyToKeysLeftOut) {
  ASSERT_OK_AND_ASSIGN(Config config, Parse(kToken));
  EXPECT_EQ(config.socket, "/run/keyhold/agent.sock");
  EXPECT_EQ(config.socket_group, std::nullopt);
  EXPECT_EQ(config.state_dir, "/var/lib/keyhold");
  EXPECT_THAT(config.admins, ElementsAre(0u));
  EXPECT_EQ(config.audit_log, "/var/lib/keyhold/audit.log");
  EXPECT_TRUE(config.audit_journald);
  EXPECT_EQ(config.log_level, "info");
  EXPECT_THAT(config.keys, IsEmpty());
}

TEST(ConfigTest, AuditLogDefaultFollowsStateDir) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(absl::StrCat("state_dir = \"/srv/kh/\"\n", kToken)));
  EXPECT_EQ(config.audit_log, "/srv/kh/audit.log");
}

TEST(ConfigTest, EveryTopLevelKeyIsRead) {
  ASSERT_OK_AND_ASSIGN(Config config, Parse(absl::StrCat(R"(
socket = "/tmp/k.sock"
socket_group = 1234
state_dir = "/srv/keyhold"
admins = ["alice", 0]
audit_log = "/var/log/keyhold-audit.log"
audit_journald = false
log_level = "debug"
)",
                                                          kToken)));
  EXPECT_EQ(config.socket, "/tmp/k.sock");
  EXPECT_THAT(config.socket_group, Optional(gid_t{1234}));
  EXPECT_EQ(config.state_dir, "/srv/keyhold");
  EXPECT_THAT(config.admins, ElementsAre(1002u, 0u));
  EXPECT_EQ(config.audit_log, "/var/log/keyhold-audit.log");
  EXPECT_FALSE(config.audit_journald);
  EXPECT_EQ(config.log_level, "debug");
}

TEST(ConfigTest, UnknownTokenKeyNamesFileLineAndExpectedKeys) {
  EXPECT_THAT(Parse("[token]\nmodule = \"/m.so\"\nuri = \"pkcs11:\"\n"
                    "pin_env = \"P\"\nslot = 3\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:5:1: unknown key \"slot\" in "
                                 "[token]; expected one of module, uri, "
                                 "pin_file, pin_env, pin_credential")));
}

TEST(ConfigTest, UnknownTopLevelKeyNamesLine) {
  EXPECT_THAT(Parse(absl::StrCat("socket = \"/a.sock\"\nsockett = \"/b\"\n",
                                 kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("keyhold.toml:2:1: unknown key "
                                       "\"sockett\" in the top level"),
                             HasSubstr("[token], [[key]]"))));
}

TEST(ConfigTest, UnknownKeyInKeyTableNamesLine) {
  EXPECT_THAT(
      Parse(WithKey("label = \"k\"\npurpose = \"sign\"\nuser = [\"app\"]\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("keyhold.toml:8:1: unknown key \"user\" in [[key]]; "
                         "expected one of label, purpose, users, groups, "
                         "allow_raw_sign")));
}

TEST(ConfigTest, UnknownSubTableIsRefused) {
  EXPECT_THAT(Parse(absl::StrCat(kToken, "[tokens]\nmodule = \"/x\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:5:2: unknown key \"tokens\"")));
}

TEST(ConfigTest, PinInConfigIsRefusedWithoutEchoingIt) {
  for (const char* key : {"pin", "pin_value", "user_pin", "password"}) {
    absl::StatusOr<Config> config = Parse(absl::StrCat(
        "[token]\nmodule = \"/m.so\"\nuri = \"pkcs11:\"\n", key,
        " = \"s3cr3t-4711\"\n"));
    EXPECT_THAT(config,
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("keyhold.toml:4:1:"),
                               HasSubstr("pin_file, pin_env or pin_credential"),
                               Not(HasSubstr("s3cr3t")))))
        << key;
  }
}

TEST(ConfigTest, PinInTokenUriIsRefused) {
  for (const char* uri : {"pkcs11:token=k?pin-value=1234",
                          "pkcs11:token=k?PIN-SOURCE=file:/etc/pin"}) {
    EXPECT_THAT(
        Parse(absl::StrCat("[token]\nmodule = \"/m.so\"\nuri = \"", uri,
                           "\"\npin_env = \"P\"\n")),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 AllOf(HasSubstr("keyhold.toml:3:7: token.uri must not carry"),
                       Not(HasSubstr("1234")))))
        << uri;
  }
  // A label that merely contains "pin-" is fine.
  EXPECT_THAT(Parse("[token]\nmodule = \"/m.so\"\n"
                    "uri = \"pkcs11:token=spin-lab\"\npin_env = \"P\"\n"),
              IsOk());
}

TEST(ConfigTest, PinSourceIsRequired) {
  EXPECT_THAT(Parse("[token]\nmodule = \"/m.so\"\nuri = \"pkcs11:\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:1: [token] needs one of "
                                 "pin_file, pin_env or pin_credential")));
}

TEST(ConfigTest, SeveralPinSourcesAreRefused) {
  EXPECT_THAT(
      Parse("[token]\nmodule = \"/m.so\"\nuri = \"pkcs11:\"\n"
            "pin_file = \"/etc/pin\"\npin_credential = \"pin\"\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("keyhold.toml:1:1:"),
                     HasSubstr("pin_file (line 4) and pin_credential (line 5)"),
                     HasSubstr("exactly one"))));
}

TEST(ConfigTest, PinEnvAndPinCredentialAreRead) {
  ASSERT_OK_AND_ASSIGN(Config env, Parse(kToken));
  EXPECT_EQ(env.token.pin.kind(), PinSource::Kind::kEnv);
  EXPECT_EQ(env.token.pin.location(), "KEYHOLD_PIN");

  ASSERT_OK_AND_ASSIGN(
      Config credential,
      Parse("[token]\nmodule = \"/m.so\"\nuri = \"pkcs11:\"\n"
            "pin_credential = \"keyhold-pin\"\n"));
  EXPECT_EQ(credential.token.pin.kind(), PinSource::Kind::kCredential);
  EXPECT_EQ(credential.token.pin.location(), "keyhold-pin");
}

TEST(ConfigTest, PinLocationsAreCheckedWithoutEchoingThem) {
  const std::string head = "[token]\nmodule = \"/m.so\"\nuri = \"pkcs11:\"\n";
  EXPECT_THAT(Parse(head + "pin_env = \"12 34\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("keyhold.toml:4:11: token.pin_env"),
                             Not(HasSubstr("12 34")))));
  EXPECT_THAT(Parse(head + "pin_file = \"1234\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("keyhold.toml:4:12: token.pin_file must "
                                       "be an absolute path"),
                             Not(HasSubstr("1234")))));
  EXPECT_THAT(Parse(head + "pin_credential = \"../pin\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:4:18: token.pin_credential")));
}

TEST(ConfigTest, WrongTypeNamesLineKeyAndType) {
  EXPECT_THAT(Parse(absl::StrCat("state_dir = 5\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:13: state_dir must be a "
                                 "string, not an integer")));
  EXPECT_THAT(Parse(absl::StrCat("audit_journald = \"yes\"\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:18: audit_journald must be "
                                 "true or false, not a string")));
  EXPECT_THAT(Parse(absl::StrCat("admins = \"root\"\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:10: admins must be an array")));
  EXPECT_THAT(Parse("token = \"x\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:9: token must be a table")));
}

TEST(ConfigTest, SyntaxErrorCarriesLineAndColumn) {
  EXPECT_THAT(Parse("socket = \"/a.sock\"\nstate_dir = \"/unterminated\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("keyhold.toml:2:"),
                             HasSubstr("TOML syntax error"))));
  EXPECT_THAT(Parse(absl::StrCat(kToken, "module = \"/again.so\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:5:")));
}

TEST(ConfigTest, TokenTableIsRequired) {
  EXPECT_THAT(Parse("socket = \"/a.sock\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml: missing [token]")));
}

TEST(ConfigTest, TokenModuleIsRequiredAndAbsolute) {
  EXPECT_THAT(Parse("[token]\nuri = \"pkcs11:\"\npin_env = \"P\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:1: [token] needs module")));
  EXPECT_THAT(Parse("[token]\nmodule = \"libsofthsm2.so\"\nuri = \"pkcs11:\"\n"
                    "pin_env = \"P\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:2:10: token.module "
                                 "\"libsofthsm2.so\" must be an absolute "
                                 "path")));
}

TEST(ConfigTest, TokenUriIsRequiredAndPkcs11) {
  EXPECT_THAT(Parse("[token]\nmodule = \"/m.so\"\npin_env = \"P\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:1: [token] needs uri")));
  EXPECT_THAT(Parse("[token]\nmodule = \"/m.so\"\nuri = \"token=keyhold\"\n"
                    "pin_env = \"P\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:3:7: token.uri must be a "
                                 "PKCS#11 URI starting with \"pkcs11:\"")));
}

TEST(ConfigTest, SocketAndStateDirMustBeAbsolute) {
  EXPECT_THAT(Parse(absl::StrCat("socket = \"agent.sock\"\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:10: socket \"agent.sock\" "
                                 "must be an absolute path")));
  EXPECT_THAT(Parse(absl::StrCat("state_dir = \"var/lib\"\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:13: state_dir \"var/lib\" "
                                 "must be an absolute path")));
  EXPECT_THAT(Parse(absl::StrCat("audit_log = \"\"\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:13: audit_log must not be "
                                 "empty")));
}

TEST(ConfigTest, SocketPathMustFitInSockaddrUn) {
  const std::string long_path = "/" + std::string(120, 's');
  EXPECT_THAT(
      Parse(absl::StrCat("socket = \"", long_path, "\"\n", kToken)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("keyhold.toml:1:10: socket path is 121 bytes")));
}

TEST(ConfigTest, ControlCharactersInStringsAreRefused) {
  // "root\0x" would reach getpwnam as "root".
  EXPECT_THAT(Parse(absl::StrCat("admins = [\"root\\u0000x\"]\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:11: admins: \"root\\000x\" is "
                                 "not a valid user name")));
  EXPECT_THAT(Parse(absl::StrCat("state_dir = \"/var\\nlib\"\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:13: state_dir \"/var\\nlib\" "
                                 "holds a control character")));
}

TEST(ConfigTest, LogLevelMustBeKnown) {
  EXPECT_THAT(Parse(absl::StrCat("log_level = \"verbose\"\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:13: log_level \"verbose\" "
                                 "must be one of debug, info, warning, "
                                 "error")));
}

TEST(ConfigTest, DuplicateLabelsNameBothLines) {
  EXPECT_THAT(
      Parse(WithKey("label = \"a\"\npurpose = \"sign\"\n"
                    "[[key]]\nlabel = \"a\"\npurpose = \"ca\"\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("keyhold.toml:9:9: duplicate key label \"a\": "
                         "defined on line 6 and again on line 9")));
}

TEST(ConfigTest, LabelFollowsTokenRules) {
  EXPECT_THAT(Parse(WithKey("label = \"has space\"\npurpose = \"sign\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:6:9: key.label: key label")));
  EXPECT_THAT(Parse(WithKey(absl::StrCat("label = \"", std::string(65, 'a'),
                                         "\"\npurpose = \"sign\"\n"))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:6:9: key.label:")));
  EXPECT_THAT(Parse(WithKey("purpose = \"sign\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:5:1: [[key]] needs label")));
}

TEST(ConfigTest, PurposeIsRequiredAndKnown) {
  EXPECT_THAT(Parse(WithKey("label = \"k\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:5:1: [[key]] needs purpose")));
  EXPECT_THAT(Parse(WithKey("label = \"k\"\npurpose = \"tls\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:7:11: key.purpose: unknown key "
                                 "purpose \"tls\"; expected one of ca, "
                                 "tls-client, sign")));
}

TEST(ConfigTest, PurposeNamesRoundTrip) {
  for (KeyPurpose purpose :
       {KeyPurpose::kCa, KeyPurpose::kTlsClient, KeyPurpose::kSign}) {
    ASSERT_OK_AND_ASSIGN(KeyPurpose parsed,
                         ParseKeyPurpose(KeyPurposeName(purpose)));
    EXPECT_EQ(parsed, purpose);
  }
  EXPECT_EQ(KeyPurposeName(KeyPurpose::kTlsClient), "tls-client");
  EXPECT_THAT(ParseKeyPurpose("CA"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CA")));
}

TEST(ConfigTest, AllowRawSignOnlyWithTlsClient) {
  ASSERT_OK_AND_ASSIGN(
      Config config,
      Parse(WithKey("label = \"k\"\npurpose = \"tls-client\"\n"
                    "allow_raw_sign = true\n")));
  EXPECT_TRUE(config.keys[0].allow_raw_sign);
  for (const char* purpose : {"ca", "sign"}) {
    EXPECT_THAT(
        Parse(WithKey(absl::StrCat("label = \"k\"\npurpose = \"", purpose,
                                   "\"\nallow_raw_sign = false\n"))),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 HasSubstr("keyhold.toml:8:18: key.allow_raw_sign is only "
                           "valid with purpose \"tls-client\"")))
        << purpose;
  }
}

TEST(ConfigTest, KeyWithoutUsersOrGroupsIsAdminOnly) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(WithKey("label = \"root-ca\"\npurpose = \"ca\"\n")));
  const KeyPolicy* key = config.FindKey("root-ca");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->purpose, KeyPurpose::kCa);
  EXPECT_THAT(key->users, IsEmpty());
  EXPECT_THAT(key->groups, IsEmpty());
  EXPECT_EQ(config.FindKey("not-configured"), nullptr);
}

TEST(ConfigTest, NamesAreResolvedWithTheResolver) {
  ASSERT_OK_AND_ASSIGN(
      Config config,
      Parse(absl::StrCat("socket_group = \"ops\"\nadmins = [\"alice\"]\n",
                         kToken, "[[key]]\nlabel = \"k\"\npurpose = \"sign\"\n",
                         "users = [\"app\", \"nginx\"]\n",
                         "groups = [\"keyhold\", \"ca-operators\"]\n")));
  EXPECT_THAT(config.socket_group, Optional(gid_t{991}));
  EXPECT_THAT(config.admins, ElementsAre(1002u));
  EXPECT_THAT(config.keys[0].users, ElementsAre(1001u, 33u));
  EXPECT_THAT(config.keys[0].groups, ElementsAre(990u, 992u));
}

TEST(ConfigTest, NumericIdsAreAccepted) {
  ASSERT_OK_AND_ASSIGN(
      Config config,
      Parse(absl::StrCat("socket_group = 0\nadmins = [0, 4294967294]\n",
                         kToken, "[[key]]\nlabel = \"k\"\npurpose = \"sign\"\n",
                         "users = [1001, \"app\", 1001]\ngroups = [65534]\n")));
  EXPECT_THAT(config.socket_group, Optional(gid_t{0}));
  EXPECT_THAT(config.admins, ElementsAre(0u, 4294967294u));
  // Duplicates collapse.
  EXPECT_THAT(config.keys[0].users, ElementsAre(1001u));
  EXPECT_THAT(config.keys[0].groups, ElementsAre(65534u));
}

TEST(ConfigTest, BadIdsAreRefused) {
  EXPECT_THAT(Parse(absl::StrCat("admins = [0, -1]\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:14: admins: -1 is not a "
                                 "valid uid")));
  // (uid_t)-1 means "no id" to the kernel.
  EXPECT_THAT(Parse(absl::StrCat("socket_group = 4294967295\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:16: socket_group: 4294967295 "
                                 "is not a valid gid")));
  EXPECT_THAT(Parse(absl::StrCat("admins = [\"1000\"]\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:11: admins: \"1000\" looks "
                                 "like a uid; write uids as integers")));
  EXPECT_THAT(Parse(absl::StrCat("admins = [1.5]\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:11: admins must hold user "
                                 "names (strings) or uids (integers), not a "
                                 "float")));
}

TEST(ConfigTest, UnknownUserOrGroupNamesLine) {
  EXPECT_THAT(Parse(WithKey("label = \"k\"\npurpose = \"sign\"\n"
                            "users = [\"app\", \"mallory\"]\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:8:17: key.users: unknown user "
                                 "\"mallory\"")));
  EXPECT_THAT(Parse(absl::StrCat("socket_group = \"nogroup\"\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:16: socket_group: unknown "
                                 "group \"nogroup\"")));
}

TEST(ConfigTest, KeyMustBeAnArrayOfTables) {
  EXPECT_THAT(Parse(absl::StrCat(kToken, "[key]\nlabel = \"k\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:5:1: key must be an array of "
                                 "tables (write [[key]], not [key])")));
  EXPECT_THAT(Parse(absl::StrCat("key = [1]\n", kToken)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:1:8: every [[key]] must be a "
                                 "table, not an integer")));
}

TEST(ConfigTest, EveryProblemIsReportedInLineOrder) {
  absl::StatusOr<Config> config = Parse(
      absl::StrCat("log_level = \"loud\"\nsocket = \"rel\"\n", kToken,
                   "[[key]]\nlabel = \"k\"\npurpose = \"nope\"\n"));
  ASSERT_THAT(config, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("keyhold.toml:1:13: log_level")));
  const std::string message(config.status().message());
  EXPECT_LT(message.find("keyhold.toml:1:"), message.find("keyhold.toml:2:"));
  EXPECT_LT(message.find("keyhold.toml:2:"), message.find("keyhold.toml:9:"));
}

TEST(ConfigTest, ManyProblemsAreCappedInTheMessage) {
  std::string text(kToken);
  for (int i = 0; i < 50; ++i) absl::StrAppend(&text, "bogus", i, " = 1\n");
  absl::StatusOr<Config> config = Parse(text);
  ASSERT_THAT(config, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("keyhold.toml: and 30 more problems")));
}

TEST(ConfigTest, KnownConfigKeysHasNoDuplicates) {
  std::vector<std::string> keys = KnownConfigKeys();
  EXPECT_THAT(keys, ::testing::Contains("token.pin_file"));
  EXPECT_THAT(keys, ::testing::Contains("key.allow_raw_sign"));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
}

// --- The CA: [[ca]], [policy.NAME], [profile.NAME] (agent/config_ca.cc).

TEST(ConfigTest, CaSectionsDefaultToTheBuiltins) {
  ASSERT_OK_AND_ASSIGN(Config config, Parse(kToken));
  EXPECT_THAT(config.cas, IsEmpty());
  std::vector<std::string> policies;
  for (const auto& [name, policy] : config.policies) policies.push_back(name);
  EXPECT_THAT(policies, ElementsAre("loose", "strict"));
  std::vector<std::string> profiles;
  for (const auto& [name, profile] : config.profiles) profiles.push_back(name);
  EXPECT_THAT(profiles,
              ElementsAre("client", "intermediate", "root", "server"));
}

TEST(ConfigTest, UnlistedCaGetsTheDefaultCaConfig) {
  ASSERT_OK_AND_ASSIGN(Config config, Parse(kToken));
  const CaConfig ca = config.FindCa("some-ca");
  EXPECT_EQ(ca.label, "some-ca");
  EXPECT_EQ(ca.policy, "strict");
  EXPECT_THAT(ca.profiles, ElementsAre("server", "client", "intermediate"));
  EXPECT_EQ(ca.max_csr_bytes, ca::kDefaultMaxCsrBytes);
  const CaConfig fallback = DefaultCaConfig("some-ca");
  EXPECT_EQ(fallback.label, ca.label);
  EXPECT_EQ(fallback.policy, ca.policy);
  EXPECT_EQ(fallback.profiles, ca.profiles);
  EXPECT_EQ(fallback.max_csr_bytes, ca.max_csr_bytes);
}

TEST(ConfigTest, CaTableIsRead) {
  ASSERT_OK_AND_ASSIGN(Config config, Parse(absl::StrCat(kToken, R"([[ca]]
label = "root-ca"
policy = "loose"
profiles = ["client", "server"]
max_csr_bytes = 4096
[[ca]]
label = "issuing-ca"
)")));
  ASSERT_EQ(config.cas.size(), 2u);
  EXPECT_EQ(config.cas[0].label, "root-ca");
  EXPECT_EQ(config.cas[0].policy, "loose");
  EXPECT_THAT(config.cas[0].profiles, ElementsAre("client", "server"));
  EXPECT_EQ(config.cas[0].max_csr_bytes, 4096u);
  // Keys left out keep their defaults.
  EXPECT_EQ(config.cas[1].label, "issuing-ca");
  EXPECT_EQ(config.cas[1].policy, "strict");
  EXPECT_THAT(config.cas[1].profiles,
              ElementsAre("server", "client", "intermediate"));
  EXPECT_EQ(config.cas[1].max_csr_bytes, ca::kDefaultMaxCsrBytes);

  const CaConfig found = config.FindCa("root-ca");
  EXPECT_EQ(found.policy, "loose");
  EXPECT_THAT(found.profiles, ElementsAre("client", "server"));
}

TEST(ConfigTest, CaEmptyProfileListIsKept) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(absl::StrCat(kToken,
                                          "[[ca]]\nlabel = \"ca\"\n"
                                          "profiles = []\n")));
  ASSERT_EQ(config.cas.size(), 1u);
  EXPECT_THAT(config.cas[0].profiles, IsEmpty());
}

TEST(ConfigTest, CaNeedsLabel) {
  EXPECT_THAT(Parse(absl::StrCat(kToken, "[[ca]]\npolicy = \"loose\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:5:1: [[ca]] needs label")));
}

TEST(ConfigTest, CaLabelFollowsTokenRules) {
  EXPECT_THAT(Parse(absl::StrCat(kToken, "[[ca]]\nlabel = \"has space\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("keyhold.toml:6:9: ca.label: key label")));
}

TEST(ConfigTest, DuplicateCaLabelsNameTheFirstLine) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken,
                         "[[ca]]\nlabel = \"a\"\n[[ca]]\nlabel = \"a\"\n")),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("keyhold.toml:8:9: duplicate [[ca]] label \"a\": defined "
                    "on line 6 too")));
}

TEST(ConfigTest, CaMustBeAnArrayOfTables) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken, "[ca]\nlabel = \"a\"\n")),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("keyhold.toml:5:1: ca must be an array of tables (write "
                    "[[ca]], not [ca])")));
  EXPECT_THAT(
      Parse(absl::StrCat("ca = [1]\n", kToken)),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("keyhold.toml:1:7: every [[ca]] must be a table, not an "
                    "integer")));
}

TEST(ConfigTest, UnknownKeyInCaTableIsRefused) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken,
                         "[[ca]]\nlabel = \"a\"\nprofile = \"client\"\n")),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("keyhold.toml:7:1: unknown key \"profile\" in [[ca]]; "
                    "expected one of label, policy, profiles, max_csr_bytes")));
}

TEST(ConfigTest, CaPolicyMustBeKnown) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken, "[[ca]]\nlabel = \"a\"\npolicy = \"nope\"\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(
                   "keyhold.toml:7:10: ca.policy \"nope\" is not strict, loose "
                   "or a [policy.NAME] table (known: loose, strict)")));
}

TEST(ConfigTest, CaProfilesMustBeKnown) {
  EXPECT_THAT(
      Parse(absl::StrCat(
          kToken,
          "[[ca]]\nlabel = \"a\"\nprofiles = [\"client\", \"nope\"]\n")),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr(
                    "keyhold.toml:7:12: ca.profiles: unknown profile \"nope\""),
                Not(HasSubstr("\"client\"")))));
}

TEST(ConfigTest, CaMaxCsrBytesHasLimits) {
  for (const char* value : {"255", "1048577", "-1"}) {
    EXPECT_THAT(
        Parse(absl::StrCat(
            kToken, "[[ca]]\nlabel = \"a\"\nmax_csr_bytes = ", value, "\n")),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 HasSubstr("keyhold.toml:7:17: ca.max_csr_bytes")))
        << value;
  }
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(absl::StrCat(kToken,
                                          "[[ca]]\nlabel = \"a\"\n"
                                          "max_csr_bytes = 1048576\n")));
  EXPECT_EQ(config.cas[0].max_csr_bytes, 1048576u);
}

TEST(ConfigTest, CaMayUseConfiguredPolicyAndProfileWrittenAfterIt) {
  ASSERT_OK_AND_ASSIGN(Config config, Parse(absl::StrCat(kToken, R"([[ca]]
label = "issuing-ca"
policy = "partner"
profiles = ["partner-server"]
[policy.partner]
match = ["C"]
supplied = ["CN"]
[profile.partner-server]
base = "server"
)")));
  ASSERT_EQ(config.cas.size(), 1u);
  EXPECT_EQ(config.cas[0].policy, "partner");
  EXPECT_THAT(config.cas[0].profiles, ElementsAre("partner-server"));
}

TEST(ConfigTest, PolicyTableIsRead) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(absl::StrCat(kToken, R"([policy.team]
match = ["C", "O"]
supplied = ["CN"]
optional = ["OU", "L"]
allow_other_attributes = true
)")));
  ASSERT_TRUE(config.policies.contains("team"));
  const ca::NamePolicy& team = config.policies.at("team");
  EXPECT_EQ(team.name, "team");
  EXPECT_THAT(team.match, ElementsAre("C", "O"));
  EXPECT_THAT(team.supplied, ElementsAre("CN"));
  EXPECT_THAT(team.optional, ElementsAre("OU", "L"));
  EXPECT_TRUE(team.allow_other_attributes);
  // The built-ins stay.
  EXPECT_TRUE(config.policies.contains("strict"));
  EXPECT_TRUE(config.policies.contains("loose"));
}

TEST(ConfigTest, PolicyListsDefaultToEmpty) {
  ASSERT_OK_AND_ASSIGN(
      Config config,
      Parse(absl::StrCat(kToken, "[policy.cn-only]\nsupplied = [\"CN\"]\n")));
  const ca::NamePolicy& policy = config.policies.at("cn-only");
  EXPECT_THAT(policy.match, IsEmpty());
  EXPECT_THAT(policy.optional, IsEmpty());
  EXPECT_FALSE(policy.allow_other_attributes);
}

TEST(ConfigTest, PolicyTableReplacesTheBuiltinOfItsName) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(absl::StrCat(kToken, R"([policy.strict]
match = ["O"]
supplied = ["CN"]
)")));
  const ca::NamePolicy& strict = config.policies.at("strict");
  EXPECT_THAT(strict.match, ElementsAre("O"));
  EXPECT_THAT(strict.optional, IsEmpty());
}

TEST(ConfigTest, PolicyWithUnknownAttributeIsRefused) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken, "[policy.team]\nmatch = [\"Colour\"]\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("keyhold.toml:5:1: policy team: unknown name "
                               "attribute \"Colour\""))));
}

TEST(ConfigTest, PolicyListingAnAttributeTwiceIsRefused) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken,
                         "[policy.team]\nmatch = [\"C\"]\n"
                         "optional = [\"countryName\"]\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("policy team: countryName is listed more than once")));
}

TEST(ConfigTest, PolicyMayListDottedOids) {
  ASSERT_OK_AND_ASSIGN(
      Config config,
      Parse(absl::StrCat(kToken,
                         "[policy.oid]\nsupplied = [\"CN\"]\n"
                         "optional = [\"1.3.6.1.4.1.99999.1\"]\n")));
  EXPECT_THAT(config.policies.at("oid").optional,
              ElementsAre("1.3.6.1.4.1.99999.1"));
}

TEST(ConfigTest, UnknownKeyInPolicyTableIsRefused) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken, "[policy.team]\nrequired = [\"CN\"]\n")),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("keyhold.toml:6:1: unknown key \"required\" in "
                    "[policy.team]; expected one of match, supplied, optional, "
                    "allow_other_attributes")));
}

TEST(ConfigTest, PolicyAndProfileMustBeTables) {
  EXPECT_THAT(
      Parse(absl::StrCat("policy = \"strict\"\n", kToken)),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("keyhold.toml:1:10: policy must be tables ([policy.NAME]), "
                    "not a string")));
  EXPECT_THAT(
      Parse(absl::StrCat("profile = { web = 3 }\n", kToken)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("keyhold.toml:1:19: profile.\"web\" must be a table "
                         "([profile.NAME]), not an integer")));
}

TEST(ConfigTest, PolicyAndProfileNamesAreRestricted) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken,
                         "[policy.\"has space\"]\nsupplied = [\"CN\"]\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(
                   "[policy.\"has space\"]: names are 1 to 64 letters, digits, "
                   "'-' or '_'")));
  EXPECT_THAT(Parse(absl::StrCat(kToken, "[profile.", std::string(65, 'p'),
                                 "]\nbase = \"client\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("names are 1 to 64")));
}

TEST(ConfigTest, ProfileTableStartsFromItsBase) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(absl::StrCat(kToken, R"([profile.web]
base = "server"
allowed_dns = ["*.example.com", "example.com"]
allowed_ip = ["10.0.0.0/8"]
allowed_email = []
allowed_uri = ["spiffe://example.com/*"]
default_days = 30
max_days = 90
)")));
  ASSERT_TRUE(config.profiles.contains("web"));
  const ca::CertificateProfile& web = config.profiles.at("web");
  EXPECT_EQ(web.name, "web");
  // From the base.
  EXPECT_FALSE(web.is_ca);
  EXPECT_THAT(web.key_usage, ElementsAre("digitalSignature"));
  EXPECT_TRUE(web.rsa_key_encipherment);
  EXPECT_THAT(web.extended_key_usage, ElementsAre("serverAuth"));
  EXPECT_TRUE(web.subject_alt_name_required);
  // Set here.
  EXPECT_THAT(web.allowed_dns,
              Optional(ElementsAre("*.example.com", "example.com")));
  EXPECT_THAT(web.allowed_ip, Optional(ElementsAre("10.0.0.0/8")));
  EXPECT_THAT(web.allowed_email, Optional(IsEmpty()));
  EXPECT_THAT(web.allowed_uri, Optional(ElementsAre("spiffe://example.com/*")));
  EXPECT_EQ(web.default_validity, absl::Hours(24 * 30));
  EXPECT_EQ(web.max_validity, absl::Hours(24 * 90));
  // The built-in is untouched.
  EXPECT_EQ(config.profiles.at("server").allowed_dns, std::nullopt);
}

TEST(ConfigTest, ProfileTableSetsEveryKey) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(absl::StrCat(kToken, R"([profile.signer]
base = "client"
ca = false
key_usage = ["digitalSignature", "nonRepudiation"]
rsa_key_encipherment = false
extended_key_usage = ["codeSigning", "1.3.6.1.5.5.7.3.17"]
subject_alt_name_required = true
[profile.sub-ca]
base = "intermediate"
ca = true
path_length = 2
extended_key_usage = []
)")));
  const ca::CertificateProfile& signer = config.profiles.at("signer");
  EXPECT_FALSE(signer.is_ca);
  EXPECT_THAT(signer.key_usage,
              ElementsAre("digitalSignature", "nonRepudiation"));
  EXPECT_FALSE(signer.rsa_key_encipherment);
  EXPECT_THAT(signer.extended_key_usage,
              ElementsAre("codeSigning", "1.3.6.1.5.5.7.3.17"));
  EXPECT_TRUE(signer.subject_alt_name_required);
  const ca::CertificateProfile& sub_ca = config.profiles.at("sub-ca");
  EXPECT_TRUE(sub_ca.is_ca);
  EXPECT_EQ(sub_ca.path_length, std::optional<int>(2));
  EXPECT_THAT(sub_ca.extended_key_usage, IsEmpty());
  EXPECT_EQ(sub_ca.default_validity, absl::Hours(24 * 1825));
}

TEST(ConfigTest, ProfileTableChangesTheBuiltinOfItsName) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(absl::StrCat(kToken, R"([profile.client]
default_days = 30
max_days = 30
)")));
  const ca::CertificateProfile& client = config.profiles.at("client");
  EXPECT_EQ(client.name, "client");
  EXPECT_EQ(client.max_validity, absl::Hours(24 * 30));
  EXPECT_THAT(client.extended_key_usage, ElementsAre("clientAuth"));
}

TEST(ConfigTest, NewProfileNeedsABase) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken, "[profile.web]\nmax_days = 90\n")),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("keyhold.toml:5:1: [profile.web] needs base = \"server\", "
                    "\"client\", \"intermediate\" or \"root\"")));
}

TEST(ConfigTest, ProfileBaseMustBeBuiltin) {
  EXPECT_THAT(
      Parse(absl::StrCat(kToken, "[profile.web]\nbase = \"webby\"\n")),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("keyhold.toml:6:8: profile.web.base must be a built-in "
                    "profile (root, intermediate, server, client), not "
                    "\"webby\"")));
}

TEST(ConfigTest, ProfileIsValidatedAsAWhole) {
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"base = \"client\"\nkey_usage = [\"keyCertSign\"]\n",
            "keyCertSign needs ca = true"},
           {"base = \"client\"\nkey_usage = [\"sign\"]\n",
            "unknown key usage \"sign\""},
           {"base = \"client\"\nextended_key_usage = [\"vpn\"]\n",
            "unknown extended key usage \"vpn\""},
           {"base = \"client\"\npath_length = 1\n",
            "path_length needs ca = true"},
           {"base = \"root\"\nkey_usage = [\"cRLSign\"]\n",
            "a CA profile needs keyCertSign"},
           {"base = \"client\"\ndefault_days = 900\n",
            "default validity is longer than the maximum"},
           {"base = \"client\"\nallowed_dns = [\"a.*.example.com\"]\n",
            "bad DNS pattern \"a.*.example.com\""},
           {"base = \"client\"\nallowed_ip = [\"10.0.0.0/33\"]\n",
            "bad IP pattern"},
           {"base = \"client\"\nallowed_email = [\"*@\"]\n",
            "bad email pattern"},
           {"base = \"client\"\nallowed_uri = [\"no-scheme\"]\n",
            "bad URI pattern"},
       }) {
    EXPECT_THAT(Parse(absl::StrCat(kToken, "[profile.web]\n", c.body)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("keyhold.toml:5:1: profile web: "),
                               HasSubstr(c.message))))
        << c.body;
  }
}

TEST(ConfigTest, ProfileDaysAndPathLengthHaveLimits) {
  for (const char* body : {"default_days = 0\n", "max_days = 36501\n",
                           "path_length = 17\n", "path_length = -1\n"}) {
    EXPECT_THAT(Parse(absl::StrCat(
                    kToken, "[profile.web]\nbase = \"intermediate\"\n", body)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("keyhold.toml:7:")))
        << body;
  }
}

// A leaf made from a CA base: the base's pathlen goes with its CA:TRUE.
TEST(ConfigTest, ProfileTurnedIntoALeafDropsTheBasePathLength) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(absl::StrCat(kToken, R"([profile.leafy]
base = "intermediate"
ca = false
key_usage = ["digitalSignature"]
)")));
  const ca::CertificateProfile& leafy = config.profiles.at("leafy");
  EXPECT_FALSE(leafy.is_ca);
  EXPECT_EQ(leafy.path_length, std::nullopt);
}

// Authority::CreateRoot and CreateIntermediate use these two by name.
TEST(ConfigTest, RootAndIntermediateProfilesStayCaProfiles) {
  for (const char* name : {"root", "intermediate"}) {
    EXPECT_THAT(Parse(absl::StrCat(
                    kToken, "[profile.", name,
                    "]\nca = false\nkey_usage = [\"digitalSignature\"]\n")),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat(
                             "keyhold.toml:5:1: [profile.", name,
                             "] must stay a CA profile (ca = true)"))))
        << name;
  }
  ASSERT_OK_AND_ASSIGN(
      Config config,
      Parse(absl::StrCat(kToken, "[profile.root]\nmax_days = 36500\n")));
  EXPECT_TRUE(config.profiles.at("root").is_ca);
}

TEST(ConfigTest, UnknownKeyInProfileTableIsRefused) {
  EXPECT_THAT(
      Parse(
          absl::StrCat(kToken, "[profile.web]\nbase = \"server\"\ndays = 3\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("keyhold.toml:7:1: unknown key \"days\" in "
                               "[profile.web]"),
                     HasSubstr("default_days, max_days"))));
}

TEST(ConfigTest, KnownConfigKeysListTheCaKeys) {
  const std::vector<std::string> keys = KnownConfigKeys();
  for (const char* key :
       {"ca.label", "ca.policy", "ca.profiles", "ca.max_csr_bytes",
        "policy.NAME.match", "policy.NAME.allow_other_attributes",
        "profile.NAME.base", "profile.NAME.path_length",
        "profile.NAME.allowed_uri", "profile.NAME.max_days"}) {
    EXPECT_THAT(keys, ::testing::Contains(key));
  }
}

std::string ReadDocs() {
  std::ifstream in(std::string(KEYHOLD_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ConfigTest, DocsListEveryKnownKeyInATable) {
  const std::string docs = ReadDocs();
  ASSERT_FALSE(docs.empty()) << "cannot read docs/configuration.md";
  for (const std::string& key : KnownConfigKeys()) {
    EXPECT_THAT(docs, HasSubstr(absl::StrCat("| `", key, "` |"))) << key;
  }
}

TEST(ConfigTest, DocsExamplesParse) {
  const std::string docs = ReadDocs();
  int examples = 0;
  for (size_t start = docs.find("```toml\n"); start != std::string::npos;
       start = docs.find("```toml\n", start)) {
    start += 8;
    const size_t end = docs.find("```", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_THAT(Parse(docs.substr(start, end - start)), IsOk())
        << "example " << examples << ":\n" << docs.substr(start, end - start);
    ++examples;
    start = end + 3;
  }
  EXPECT_GE(examples, 2);
}

// The example that systemd/ installs must stay valid.
TEST(ConfigTest, SystemdExampleParses) {
  std::ifstream in(std::string(KEYHOLD_SOURCE_DIR) +
                   "/systemd/keyhold.toml.example");
  std::stringstream text;
  text << in.rdbuf();
  ASSERT_FALSE(text.str().empty());
  EXPECT_THAT(Parse(text.str()), IsOk());
}

// Truncations, byte flips and random bytes: a result or INVALID_ARGUMENT
// naming the file, never a crash (run under KEYHOLD_SANITIZE for the rest).
TEST(ConfigTest, GarbageNeverCrashes) {
  const std::string full =
      absl::StrCat("log_level = \"error\"\naudit_journald = false\n", kMinimal,
                   "groups = [\"ops\"]\n[[key]]\nlabel = \"ca\"\n",
                   "purpose = \"ca\"\n");
  ASSERT_THAT(Parse(full), IsOk());
  auto check = [](const std::string& text) {
    absl::StatusOr<Config> config = Parse(text);
    if (config.ok()) {
      EXPECT_FALSE(config->audit_log.empty());
      return;
    }
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()),
                ::testing::StartsWith("keyhold.toml"));
  };
  for (size_t n = 0; n <= full.size(); ++n) check(full.substr(0, n));

  std::mt19937 random(4711);
  const std::string alphabet = "[]{}=\"'\\.,#\n\t :-_0aZ\x01\x80\xff";
  for (int i = 0; i < 3000; ++i) {
    std::string text = full;
    for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips) {
      text[random() % text.size()] = alphabet[random() % alphabet.size()];
    }
    check(text);
  }
  for (int i = 0; i < 300; ++i) {
    std::string text(random() % 200, '\0');
    for (char& c : text) c = static_cast<char>(random());
    check(text);
  }
  check(std::string("a = ") + std::string(100000, '['));
  check(std::string("a = ") + std::string(100000, '{'));
  check(std::string(50000, '[') + std::string(50000, ']'));
  check(std::string("socket = \"\0\"\n", 13));
}

TEST(ConfigTest, OversizedTextIsRefused) {
  std::string text(kToken);
  text.append((size_t{1} << 20), '#');
  EXPECT_THAT(Parse(text), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("larger than")));
}

class LoadConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ =
        std::filesystem::temp_directory_path() / "keyhold-config-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& content, mode_t mode = 0640) {
    std::string path = dir_ + "/keyhold.toml";
    std::ofstream(path) << content;
    chmod(path.c_str(), mode);
    return path;
  }

  std::string dir_;
};

TEST_F(LoadConfigTest, ReadsTheFileAndNamesItInErrors) {
  // Numeric ids only: the system's user database is not part of the test.
  ASSERT_OK_AND_ASSIGN(
      Config config, LoadConfig(Write(absl::StrCat("admins = [0]\n", kToken))));
  EXPECT_EQ(config.token.module, "/usr/lib/softhsm/libsofthsm2.so");

  const std::string path = Write(absl::StrCat(kToken, "bogus = 1\n"));
  EXPECT_THAT(LoadConfig(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(absl::StrCat(path, ":5:1: unknown key"))));
}

TEST_F(LoadConfigTest, MissingFileIsNotFound) {
  EXPECT_THAT(LoadConfig(dir_ + "/absent.toml"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent.toml")));
}

TEST_F(LoadConfigTest, FileWritableByGroupOrOthersIsRefused) {
  for (mode_t mode : {0660, 0646}) {
    EXPECT_THAT(LoadConfig(Write(kToken, mode)),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("chmod go-w")))
        << mode;
  }
}

TEST_F(LoadConfigTest, OnlyRegularFilesAreRead) {
  EXPECT_THAT(LoadConfig(dir_), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("not a regular file")));
  // A FIFO would block a plain open(2) until someone writes to it.
  const std::string fifo = dir_ + "/fifo.toml";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(LoadConfig(fifo), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("not a regular file")));
}

TEST_F(LoadConfigTest, OversizedFileIsRefused) {
  EXPECT_THAT(LoadConfig(Write(std::string((size_t{1} << 20) + 1, '#'))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("larger than")));
}

}  // namespace
}  // namespace keyhold::agent

namespace keyhold::agent {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TlsConfigTest, KeyTargetsAreReadForTlsClientKeys) {
  ASSERT_OK_AND_ASSIGN(
      Config config,
      Parse(WithKey("label = \"client\"\npurpose = \"tls-client\"\n"
                    "targets = [\"api.partner.example:443\", \"localhost:*\", \"[::1]:8443\"]\n")));
  ASSERT_TRUE(config.keys[0].targets.has_value());
  EXPECT_THAT(*config.keys[0].targets,
              ElementsAre("api.partner.example:443", "localhost:*", "[::1]:8443"));
}

TEST(TlsConfigTest, KeyWithoutTargetsMayDialAnywhere) {
  ASSERT_OK_AND_ASSIGN(Config config,
                       Parse(WithKey("label = \"client\"\npurpose = \"tls-client\"\n")));
  EXPECT_FALSE(config.keys[0].targets.has_value());
}

TEST(TlsConfigTest, TargetsOnASignKeyAreRefused) {
  EXPECT_THAT(Parse(WithKey("label = \"s\"\npurpose = \"sign\"\ntargets = [\"a.example:443\"]\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key.targets is only valid with purpose")));
}

TEST(TlsConfigTest, MalformedTargetIsRefusedWithItsLine) {
  EXPECT_THAT(Parse(WithKey("label = \"c\"\npurpose = \"tls-client\"\ntargets = [\"nohost\"]\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("keyhold.toml:8:"), HasSubstr("is not host:port"))));
  EXPECT_THAT(Parse(WithKey("label = \"c\"\npurpose = \"tls-client\"\ntargets = [\"a.b:99999\"]\n")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port must be")));
}

TEST(TlsConfigTest, TargetPatternsMatchHostsAndPorts) {
  EXPECT_TRUE(TargetMatches("api.partner.example:443", "API.partner.example", 443));
  EXPECT_FALSE(TargetMatches("api.partner.example:443", "api.partner.example", 8443));
  EXPECT_TRUE(TargetMatches("localhost:*", "localhost", 1234));
  EXPECT_TRUE(TargetMatches("*.partner.example:443", "api.partner.example", 443));
  EXPECT_FALSE(TargetMatches("*.partner.example:443", "a.b.partner.example", 443));
  EXPECT_FALSE(TargetMatches("*.partner.example:443", "partner.example", 443));
  EXPECT_TRUE(TargetMatches("[::1]:8443", "0:0::1", 8443));
  EXPECT_TRUE(TargetMatches("*:*", "anything.example", 1));
  EXPECT_FALSE(TargetMatches("127.0.0.1:443", "127.0.0.2", 443));
}

TEST(TlsConfigTest, TlsProfileIsRead) {
  ASSERT_OK_AND_ASSIGN(
      Config config,
      Parse(absl::StrCat(kToken,
                         "[tls_profile.bank]\nca_file = \"/etc/keyhold/bank.pem\"\n"
                         "tls_max = \"1.2\"\nalpn = [\"http/1.1\"]\n"
                         "targets = [\"api.bank.example:443\"]\n")));
  ASSERT_EQ(config.tls_profiles.count("bank"), 1u);
  const TlsProfile& profile = config.tls_profiles.at("bank");
  EXPECT_EQ(profile.ca_file, "/etc/keyhold/bank.pem");
  EXPECT_EQ(profile.tls_max, "1.2");
  EXPECT_TRUE(profile.verify_hostname);
  EXPECT_THAT(profile.alpn, ElementsAre("http/1.1"));
}

TEST(TlsConfigTest, HostnameCheckOffNeedsExactTargets) {
  EXPECT_THAT(Parse(absl::StrCat(kToken, "[tls_profile.lab]\nverify_hostname = false\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("only allowed for named targets")));
  EXPECT_THAT(Parse(absl::StrCat(kToken, "[tls_profile.lab]\nverify_hostname = false\n"
                                         "targets = [\"*.lab.example:443\"]\n")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("named exactly")));
  EXPECT_THAT(Parse(absl::StrCat(kToken, "[tls_profile.lab]\nverify_hostname = false\n"
                                         "targets = [\"10.0.0.7:8443\"]\n")),
              IsOk());
}

TEST(TlsConfigTest, BadTlsVersionIsRefused) {
  EXPECT_THAT(Parse(absl::StrCat(kToken, "[tls_profile.x]\ntls_min = \"1.1\"\n")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"1.2\" or \"1.3\"")));
}

}  // namespace
}  // namespace keyhold::agent
