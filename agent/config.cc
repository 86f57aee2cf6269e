#include "agent/config.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <utility>

#include <toml++/toml.h>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/config_ca.h"
#include "agent/config_tls.h"
#include "agent/config_reader.h"
#include "tokens/token.h"

namespace keyhold::agent {
namespace {

constexpr size_t kMaxConfigBytes = size_t{1} << 20;
constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;

// The one list of keys: the unknown-key checks and KnownConfigKeys() read it.
constexpr absl::string_view kTopLevelKeys[] = {
    "socket",    "socket_group",   "state_dir", "admins",
    "audit_log", "audit_journald", "log_level"};
constexpr absl::string_view kTokenKeys[] = {"module", "uri", "pin_file",
                                            "pin_env", "pin_credential"};
constexpr absl::string_view kKeyKeys[] = {"label", "purpose", "users",
                                          "groups", "allow_raw_sign", "targets"};
constexpr absl::string_view kPinKeys[] = {"pin_file", "pin_env",
                                          "pin_credential"};
constexpr absl::string_view kLogLevels[] = {"debug", "info", "warning",
                                            "error"};
constexpr char kWhereThePinGoes[] =
    "set [token] pin_file, pin_env or pin_credential";

// RFC 7512 lets a URI carry the PIN (pin-value) or point at one
// (pin-source). Query attributes follow '?' and are separated by '&'; path
// attributes use ';'.
bool UriNamesPin(absl::string_view uri) {
  for (absl::string_view attribute :
       absl::StrSplit(uri, absl::ByAnyChar(";?&"))) {
    const std::string name =
        absl::AsciiStrToLower(attribute.substr(0, attribute.find('=')));
    if (name == "pin-value" || name == "pin-source") return true;
  }
  return false;
}

bool IsEnvironmentName(absl::string_view name) {
  return !absl::ascii_isdigit(static_cast<unsigned char>(name.front())) &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                  c == '_';
         });
}

// What systemd accepts after LoadCredential=: a plain file name.
bool IsCredentialName(absl::string_view name) {
  return name != "." && name != ".." && name.size() <= 255 &&
         !absl::StrContains(name, '/');
}

void ParseToken(const toml::table& table, ConfigReader& in,
                TokenSettings& out) {
  ConfigProblems& problems = in.problems();
  in.CheckKeys(table, kTokenKeys, "[token]", absl::StrJoin(kTokenKeys, ", "));

  in.Require(table, "module",
             "[token] needs module (the PKCS#11 module's absolute path)");
  if (auto module = in.AbsolutePath(table, "module", "token.module")) {
    out.module = *std::move(module);
  }

  in.Require(table, "uri", "[token] needs uri (e.g. \"pkcs11:token=keyhold\")");
  if (auto uri = in.String(table, "uri", "token.uri")) {
    if (!absl::StartsWith(*uri, "pkcs11:")) {
      problems.At(*table.get("uri"),
                  "token.uri must be a PKCS#11 URI starting with \"pkcs11:\"");
    } else if (UriNamesPin(*uri)) {
      problems.At(*table.get("uri"),
                  absl::StrCat("token.uri must not carry pin-value or "
                               "pin-source; ", kWhereThePinGoes, " instead"));
    } else {
      out.uri = *std::move(uri);
    }
  }

  std::vector<std::string> given;
  for (absl::string_view key : kPinKeys) {
    if (const toml::node* node = table.get(Std(key))) {
      given.push_back(
          absl::StrCat(key, " (line ", node->source().begin.line, ")"));
    }
  }
  if (given.size() != 1) {
    problems.At(table, given.empty()
                           ? "[token] needs one of pin_file, pin_env or "
                             "pin_credential (where the agent reads the PIN)"
                           : absl::StrCat("[token] sets ",
                                          absl::StrJoin(given, " and "),
                                          "; set exactly one of pin_file, "
                                          "pin_env or pin_credential"));
    return;
  }
  if (auto file = in.AbsolutePath(table, "pin_file", "token.pin_file",
                                  /*secret=*/true)) {
    out.pin = PinSource::File(*std::move(file));
  }
  if (auto env = in.String(table, "pin_env", "token.pin_env", /*secret=*/true)) {
    if (IsEnvironmentName(*env)) {
      out.pin = PinSource::Env(*std::move(env));
    } else {
      problems.At(*table.get("pin_env"),
                  "token.pin_env must be the name of an environment variable "
                  "(letters, digits and '_'), not the PIN");
    }
  }
  if (auto credential = in.String(table, "pin_credential",
                                  "token.pin_credential", /*secret=*/true)) {
    if (IsCredentialName(*credential)) {
      out.pin = PinSource::Credential(*std::move(credential));
    } else {
      problems.At(*table.get("pin_credential"),
                  "token.pin_credential must be a systemd credential name "
                  "(a plain file name, see LoadCredential=)");
    }
  }
}

// Fills `out` from one [[key]] table; returns whether its purpose is valid.
bool ParseKey(const toml::table& table, ConfigReader& in, KeyPolicy& out) {
  ConfigProblems& problems = in.problems();
  in.CheckKeys(table, kKeyKeys, "[[key]]", absl::StrJoin(kKeyKeys, ", "));

  in.Require(table, "label", "[[key]] needs label (the key's CKA_LABEL)");
  if (auto label = in.String(table, "label", "key.label")) {
    if (absl::Status valid = ValidateKeyLabel(*label); !valid.ok()) {
      problems.At(*table.get("label"),
                  absl::StrCat("key.label: ", valid.message()));
    }
    out.label = *std::move(label);
  }

  bool purpose_ok = false;
  in.Require(table, "purpose",
             "[[key]] needs purpose: \"ca\", \"tls-client\" or \"sign\"");
  if (auto purpose = in.String(table, "purpose", "key.purpose")) {
    absl::StatusOr<KeyPurpose> parsed = ParseKeyPurpose(*purpose);
    if (parsed.ok()) {
      out.purpose = *parsed;
      purpose_ok = true;
    } else {
      problems.At(*table.get("purpose"),
                  absl::StrCat("key.purpose: ", parsed.status().message()));
    }
  }

  if (auto users = in.IdList(table, "users", "key.users",
                             ConfigReader::IdKind::kUser)) {
    out.users.assign(users->begin(), users->end());
  }
  if (auto groups = in.IdList(table, "groups", "key.groups",
                              ConfigReader::IdKind::kGroup)) {
    out.groups.assign(groups->begin(), groups->end());
  }

  if (auto raw = in.Bool(table, "allow_raw_sign", "key.allow_raw_sign")) {
    if (purpose_ok && out.purpose != KeyPurpose::kTlsClient) {
      problems.At(*table.get("allow_raw_sign"),
                  absl::StrCat("key.allow_raw_sign is only valid with purpose "
                               "\"tls-client\", not ",
                               Quote(KeyPurposeName(out.purpose))));
    }
    out.allow_raw_sign = *raw;
  }
  if (auto targets = in.StringList(table, "targets", "key.targets")) {
    if (purpose_ok && out.purpose != KeyPurpose::kTlsClient) {
      problems.At(*table.get("targets"),
                  absl::StrCat("key.targets is only valid with purpose "
                               "\"tls-client\", not ",
                               Quote(KeyPurposeName(out.purpose))));
    }
    for (const std::string& target : *targets) {
      if (absl::Status valid = ValidateTargetPattern(target); !valid.ok()) {
        problems.At(*table.get("targets"),
                    absl::StrCat("key.targets: ", valid.message()));
      }
    }
    out.targets = *std::move(targets);
  }
  return purpose_ok;
}

void ParseKeys(const toml::node& node, ConfigReader& in,
               std::vector<KeyPolicy>& out) {
  ConfigProblems& problems = in.problems();
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    problems.At(node, absl::StrCat("key must be an array of tables (write "
                                   "[[key]], not [key]), not ",
                                   TypeName(node)));
    return;
  }
  std::map<std::string, uint32_t> label_lines;
  for (const toml::node& element : *array) {
    const toml::table* table = element.as_table();
    if (table == nullptr) {
      problems.At(element, absl::StrCat("every [[key]] must be a table, not ",
                                        TypeName(element)));
      continue;
    }
    KeyPolicy key;
    ParseKey(*table, in, key);
    if (!key.label.empty()) {
      const toml::node& label = *table->get("label");
      const uint32_t line = label.source().begin.line;
      auto [first, inserted] = label_lines.emplace(key.label, line);
      if (!inserted) {
        problems.At(label, absl::StrCat("duplicate key label ",
                                        Quote(key.label), ": defined on line ",
                                        first->second, " and again on line ",
                                        line));
      }
    }
    out.push_back(std::move(key));
  }
}

void ParseTopLevel(const toml::table& root, ConfigReader& in,
                   Config& config) {
  ConfigProblems& problems = in.problems();
  std::vector<absl::string_view> allowed(std::begin(kTopLevelKeys),
                                         std::end(kTopLevelKeys));
  allowed.insert(allowed.end(),
                 {"token", "key", "ca", "policy", "profile", "tls_profile"});
  in.CheckKeys(root, allowed, "the top level",
               absl::StrCat(absl::StrJoin(kTopLevelKeys, ", "),
                            ", [token], [[key]], [[ca]], [policy.NAME], "
                            "[profile.NAME], [tls_profile.NAME]"));

  if (auto socket = in.AbsolutePath(root, "socket", "socket")) {
    if (socket->size() > kMaxSocketPath) {
      problems.At(*root.get("socket"),
                  absl::StrCat("socket path is ", socket->size(),
                               " bytes; a unix socket path holds at most ",
                               kMaxSocketPath));
    }
    config.socket = *std::move(socket);
  }
  if (const toml::node* group = root.get("socket_group")) {
    config.socket_group =
        in.Id(*group, "socket_group", ConfigReader::IdKind::kGroup);
  }
  if (auto dir = in.AbsolutePath(root, "state_dir", "state_dir")) {
    config.state_dir = *std::move(dir);
  }
  if (auto admins =
          in.IdList(root, "admins", "admins", ConfigReader::IdKind::kUser)) {
    config.admins.assign(admins->begin(), admins->end());
  }
  if (auto log = in.AbsolutePath(root, "audit_log", "audit_log")) {
    config.audit_log = *std::move(log);
  } else {
    config.audit_log = absl::StrCat(
        config.state_dir, absl::EndsWith(config.state_dir, "/") ? "" : "/",
        "audit.log");
  }
  if (auto journald = in.Bool(root, "audit_journald", "audit_journald")) {
    config.audit_journald = *journald;
  }
  if (auto level = in.String(root, "log_level", "log_level")) {
    if (std::find(std::begin(kLogLevels), std::end(kLogLevels), *level) !=
        std::end(kLogLevels)) {
      config.log_level = *std::move(level);
    } else {
      problems.At(*root.get("log_level"),
                  absl::StrCat("log_level ", Quote(*level), " must be one of ",
                               absl::StrJoin(kLogLevels, ", ")));
    }
  }

  if (const toml::node* token = root.get("token")) {
    if (const toml::table* table = token->as_table()) {
      ParseToken(*table, in, config.token);
    } else {
      problems.At(*token, absl::StrCat("token must be a table ([token]), not ",
                                       TypeName(*token)));
    }
  } else {
    problems.Add(
        "missing [token] (module, uri and one of pin_file, pin_env or "
        "pin_credential)");
  }
  if (const toml::node* keys = root.get("key")) {
    ParseKeys(*keys, in, config.keys);
  }
  ParseCaSections(root, in, config);
  ParseTlsProfiles(root, in, config);
}

// getpwnam_r / getgrnam_r, growing the buffer on ERANGE.
template <typename Entry, typename Id>
std::optional<Id> LookUp(int (*look_up)(const char*, Entry*, char*, size_t,
                                        Entry**),
                         int size_hint_name, Id Entry::*id,
                         const std::string& name) {
  if (name.empty() || name.find('\0') != std::string::npos) return std::nullopt;
  const long hint = sysconf(size_hint_name);
  std::vector<char> buffer(hint > 0 ? static_cast<size_t>(hint) : 16384);
  for (;;) {
    Entry entry{};
    Entry* found = nullptr;
    const int rc =
        look_up(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < (size_t{1} << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0 || found == nullptr) return std::nullopt;
    return entry.*id;
  }
}

}  // namespace

absl::string_view KeyPurposeName(KeyPurpose purpose) {
  switch (purpose) {
    case KeyPurpose::kCa: return "ca";
    case KeyPurpose::kTlsClient: return "tls-client";
    case KeyPurpose::kSign: return "sign";
  }
  return "unknown";
}

absl::StatusOr<KeyPurpose> ParseKeyPurpose(absl::string_view name) {
  for (KeyPurpose purpose :
       {KeyPurpose::kCa, KeyPurpose::kTlsClient, KeyPurpose::kSign}) {
    if (name == KeyPurposeName(purpose)) return purpose;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown key purpose ", Quote(name),
                   "; expected one of ca, tls-client, sign"));
}

CaConfig DefaultCaConfig(absl::string_view label) {
  CaConfig ca;
  ca.label = std::string(label);
  return ca;
}

CaConfig Config::FindCa(absl::string_view label) const {
  for (const CaConfig& ca : cas) {
    if (ca.label == label) return ca;
  }
  return DefaultCaConfig(label);
}

const KeyPolicy* Config::FindKey(absl::string_view label) const {
  for (const KeyPolicy& key : keys) {
    if (key.label == label) return &key;
  }
  return nullptr;
}

NameResolver SystemNameResolver() {
  return NameResolver{
      .user =
          [](const std::string& name) {
            return LookUp<passwd, uid_t>(getpwnam_r, _SC_GETPW_R_SIZE_MAX,
                                         &passwd::pw_uid, name);
          },
      .group =
          [](const std::string& name) {
            return LookUp<group, gid_t>(getgrnam_r, _SC_GETGR_R_SIZE_MAX,
                                        &group::gr_gid, name);
          },
  };
}

absl::StatusOr<Config> ParseConfig(absl::string_view toml_text,
                                   absl::string_view source_name) {
  return ParseConfig(toml_text, source_name, SystemNameResolver());
}

absl::StatusOr<Config> ParseConfig(absl::string_view toml_text,
                                   absl::string_view source_name,
                                   const NameResolver& names) {
  if (toml_text.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": larger than ", kMaxConfigBytes, " bytes"));
  }
  absl::StatusOr<toml::table> root = ParseToml(toml_text, source_name);
  if (!root.ok()) return root.status();

  ConfigProblems problems(source_name);
  const std::string secret_key_advice = absl::StrCat(
      "a PIN is never written in the config file: ", kWhereThePinGoes);
  ConfigReader reader(problems, names, secret_key_advice);
  Config config;
  ParseTopLevel(*root, reader, config);
  if (!problems.empty()) return problems.ToStatus();
  return config;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  // O_NONBLOCK: a FIFO in the config's place must not hang the agent; it
  // changes nothing for the regular file we insist on.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    const std::string message =
        absl::StrCat("cannot open ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }
  absl::Cleanup closer = [fd] { close(fd); };
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a regular file"));
  }
  // Whoever can write the config can make themselves an admin.
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is writable by its group or by others; run: "
                           "chmod go-w ", path));
  }
  std::string text(kMaxConfigBytes + 1, '\0');
  size_t used = 0;
  while (used < text.size()) {
    const ssize_t n = read(fd, text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (used > kMaxConfigBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": larger than ", kMaxConfigBytes, " bytes; not a config file"));
  }
  text.resize(used);
  return ParseConfig(text, path);
}

std::vector<std::string> KnownConfigKeys() {
  std::vector<std::string> keys(std::begin(kTopLevelKeys),
                                std::end(kTopLevelKeys));
  for (absl::string_view key : kTokenKeys) {
    keys.push_back(absl::StrCat("token.", key));
  }
  for (absl::string_view key : kKeyKeys) {
    keys.push_back(absl::StrCat("key.", key));
  }
  for (std::string& key : KnownCaConfigKeys()) keys.push_back(std::move(key));
  for (std::string& key : KnownTlsConfigKeys()) keys.push_back(std::move(key));
  return keys;
}

}  // namespace keyhold::agent
