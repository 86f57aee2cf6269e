#include "agent/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
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
