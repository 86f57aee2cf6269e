// The agent's configuration: a TOML file (docs/configuration.md), parsed and
// checked in full before the agent acts on any of it.
//
// Parsing is strict: an unknown key, a value of the wrong type or a bad value
// is an INVALID_ARGUMENT error whose message names the file, the line (and
// column) and the key. Every problem in the file is reported (up to 20), one
// per line of the message, in line order. A PIN never appears in the config:
// only where to read it; an error never echoes a value given for a pin_* key
// or a key that looks like one. Parsing untrusted text never crashes.
#ifndef KEYHOLD_AGENT_CONFIG_H_
#define KEYHOLD_AGENT_CONFIG_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/ca/csr.h"
#include "agent/ca/name_policy.h"
#include "agent/ca/profile.h"
#include "tokens/pin_source.h"

namespace keyhold::agent {

// What a key may be used for; see DESIGN.md "Authorization".
enum class KeyPurpose {
  kCa,         // "ca": certificates and CRLs the agent builds under a profile
  kTlsClient,  // "tls-client": handshakes carried out by the agent
  kSign,       // "sign": raw digest signing
};

// "ca", "tls-client", "sign".
absl::string_view KeyPurposeName(KeyPurpose purpose);
// The inverse of KeyPurposeName; INVALID_ARGUMENT for anything else.
absl::StatusOr<KeyPurpose> ParseKeyPurpose(absl::string_view name);

// One [[key]] table. Callers in `users`, or whose primary or supplementary
// group is in `groups`, may use the key for its purpose; admins may use every
// key. A key with neither users nor groups is admin-only, as is every key on
// the token that the config does not name.
struct KeyPolicy {
  std::string label;  // CKA_LABEL on the token; ValidateKeyLabel() holds
  KeyPurpose purpose = KeyPurpose::kSign;
  std::vector<uid_t> users;
  std::vector<gid_t> groups;
  // tls-client only: lets the provider module have raw digests signed with
  // the key (otherwise only handshakes run by the agent use it).
  bool allow_raw_sign = false;
  // tls-client only: the targets the agent may dial with the key, as
  // "host:port" patterns (TargetPattern). Unset: anywhere.
  std::optional<std::vector<std::string>> targets;
};

// A [tls_profile.NAME] table: handshake settings a TlsService call can name
// instead of spelling them out. Unset fields leave the call's (or the
// default) in place.
struct TlsProfile {
  std::string name;
  std::string ca_file;  // absolute path of a PEM bundle of trust anchors
  bool system_trust = false;
  // false only together with `targets`: hostname checks are skipped for
  // those targets and no others.
  bool verify_hostname = true;
  std::vector<std::string> targets;  // "host:port" patterns the profile is for
  std::string tls_min;               // "1.2" | "1.3"; empty: unset
  std::string tls_max;
  std::vector<std::string> alpn;
  std::string cipher_list;
  std::string ciphersuites;
};

// "host:port" patterns for [[key]] targets and profiles: host is a DNS
// name, "*.example.com" (one label in place of '*'), an IP literal (IPv6
// in brackets), or "*"; port is a number or "*".
bool TargetMatches(absl::string_view pattern, absl::string_view host, uint16_t port);
// "host:port" / "[v6]:port" into its parts (brackets removed); false when
// there is no port part. Shared by the patterns and the TLS targets.
bool SplitHostPort(absl::string_view text, std::string& host, std::string& port);
// INVALID_ARGUMENT describing what is wrong with `pattern`.
absl::Status ValidateTargetPattern(absl::string_view pattern);

struct TokenSettings {
  std::string module;  // absolute path of the PKCS#11 module
  std::string uri;     // RFC 7512 token URI, "pkcs11:..."
  // Always set explicitly by ParseConfig; the default only makes the struct
  // default-constructible (PinSource has no empty state) and matches
  // TokenConfig's.
  PinSource pin = PinSource::Env("KEYHOLD_PIN");
};

// One [[ca]] table: how the CA whose key has `label` issues. A CA key the
// config does not list uses DefaultCaConfig().
struct CaConfig {
  std::string label;
  std::string policy = "strict";  // a key of Config::policies
  // Profiles `ca sign` may use (keys of Config::profiles).
  std::vector<std::string> profiles = {"server", "client", "intermediate"};
  size_t max_csr_bytes = ca::kDefaultMaxCsrBytes;
};

CaConfig DefaultCaConfig(absl::string_view label);

struct Config {
  std::string socket = "/run/keyhold/agent.sock";
  std::optional<gid_t> socket_group;  // unset: the agent's own group
  std::string state_dir = "/var/lib/keyhold";
  std::vector<uid_t> admins = {0};
  // Defaults to <state_dir>/audit.log; never empty after ParseConfig.
  std::string audit_log;
  bool audit_journald = true;
  std::string log_level = "info";  // debug | info | warning | error
  TokenSettings token;
  std::vector<KeyPolicy> keys;  // labels are unique
  std::vector<CaConfig> cas;    // labels are unique
  // Built-in name policies and profiles, with [policy.NAME] and
  // [profile.NAME] tables added or replacing them.
  std::map<std::string, ca::NamePolicy> policies = ca::BuiltinNamePolicies();
  std::map<std::string, ca::CertificateProfile> profiles = ca::BuiltinProfiles();
  std::map<std::string, TlsProfile> tls_profiles;

  // The policy for `label`, or nullptr when the config does not name it (the
  // key is then admin-only). The pointer lives as long as this Config.
  const KeyPolicy* FindKey(absl::string_view label) const;
  // The [[ca]] for `label`, else DefaultCaConfig(label).
  CaConfig FindCa(absl::string_view label) const;
};

// Turns user and group names into ids. Either function returns nullopt for a
// name it does not know.
struct NameResolver {
  std::function<std::optional<uid_t>(const std::string&)> user;
  std::function<std::optional<gid_t>(const std::string&)> group;
};

// getpwnam_r / getgrnam_r (so NSS: /etc/passwd, LDAP, systemd-userdb, ...).
// A failed lookup counts as an unknown name.
NameResolver SystemNameResolver();

// Parses and checks `toml_text`; `source_name` (normally the file path)
// starts every error message. Names are resolved with SystemNameResolver().
absl::StatusOr<Config> ParseConfig(absl::string_view toml_text,
                                   absl::string_view source_name);
absl::StatusOr<Config> ParseConfig(absl::string_view toml_text,
                                   absl::string_view source_name,
                                   const NameResolver& names);

// Reads `path` and parses it with SystemNameResolver(). The file must be a
// regular file of at most 1 MiB that neither its group nor others may write
// (whoever writes it decides who is an admin). NOT_FOUND / PERMISSION_DENIED
// when it cannot be opened, FAILED_PRECONDITION when it is not a regular
// file or is writable by group or others, INVALID_ARGUMENT when it is too
// large or does not parse.
absl::StatusOr<Config> LoadConfig(const std::string& path);

// Every key the parser accepts, as dotted paths: "socket",
// "token.pin_file", "key.label", "policy.NAME.match", ... Tables themselves
// ("token", "key") are not listed. docs/configuration.md is checked against this list.
std::vector<std::string> KnownConfigKeys();

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_CONFIG_H_
