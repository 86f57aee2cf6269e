#include "agent/config_ca.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tokens/token.h"

namespace keyhold::agent {

namespace {

constexpr absl::string_view kCaKeys[] = {"label", "policy", "profiles", "max_csr_bytes"};
constexpr absl::string_view kPolicyKeys[] = {"match", "supplied", "optional",
                                             "allow_other_attributes"};
constexpr absl::string_view kProfileKeys[] = {
    "base",           "ca",           "path_length",   "key_usage",
    "rsa_key_encipherment", "extended_key_usage", "subject_alt_name_required",
    "allowed_dns",    "allowed_ip",   "allowed_email", "allowed_uri",
    "default_days",   "max_days"};

constexpr int64_t kMaxDays = 36500;
constexpr int64_t kMaxCsrBytesLimit = 1 << 20;

void ParsePolicy(const std::string& name, const toml::table& table, ConfigReader& in,
                 Config& config) {
  const std::string where = absl::StrCat("policy.", name);
  in.CheckKeys(table, kPolicyKeys, absl::StrCat("[", where, "]"), absl::StrJoin(kPolicyKeys, ", "));
  ca::NamePolicy policy;
  policy.name = name;
  if (auto v = in.StringList(table, "match", absl::StrCat(where, ".match"))) policy.match = *v;
  if (auto v = in.StringList(table, "supplied", absl::StrCat(where, ".supplied"))) {
    policy.supplied = *v;
  }
  if (auto v = in.StringList(table, "optional", absl::StrCat(where, ".optional"))) {
    policy.optional = *v;
  }
  if (auto v = in.Bool(table, "allow_other_attributes",
                       absl::StrCat(where, ".allow_other_attributes"))) {
    policy.allow_other_attributes = *v;
  }
  if (absl::Status s = ca::ValidateNamePolicy(policy); !s.ok()) {
    in.problems().At(table, s.message());
    return;
  }
  config.policies[name] = std::move(policy);
}

void ParseProfile(const std::string& name, const toml::table& table, ConfigReader& in,
                  Config& config, const std::map<std::string, ca::CertificateProfile>& builtin) {
  const std::string where = absl::StrCat("profile.", name);
  in.CheckKeys(table, kProfileKeys, absl::StrCat("[", where, "]"),
               absl::StrJoin(kProfileKeys, ", "));
  // A profile starts as its `base` (a built-in), or as the built-in of its
  // own name when it changes one.
  ca::CertificateProfile profile;
  std::optional<std::string> base = in.String(table, "base", absl::StrCat(where, ".base"));
  const std::string base_name = base.value_or(name);
  auto it = builtin.find(base_name);
  if (it != builtin.end()) {
    profile = it->second;
  } else if (base) {
    in.problems().At(*table.get("base"),
                     absl::StrCat(where, ".base must be a built-in profile (root, "
                                         "intermediate, server, client), not ",
                                  Quote(*base)));
    return;
  } else {
    in.problems().At(table, absl::StrCat("[", where, "] needs base = \"server\", \"client\", "
                                         "\"intermediate\" or \"root\" to start from"));
    return;
  }
  profile.name = name;
  if (auto v = in.Bool(table, "ca", absl::StrCat(where, ".ca"))) {
    profile.is_ca = *v;
    // A base's pathlen belongs to its CA:TRUE; TOML cannot unset it.
    if (!profile.is_ca) profile.path_length.reset();
  }
  if (auto v = in.Integer(table, "path_length", absl::StrCat(where, ".path_length"), 0, 16)) {
    profile.path_length = static_cast<int>(*v);
  }
  if (auto v = in.StringList(table, "key_usage", absl::StrCat(where, ".key_usage"))) {
    profile.key_usage = *v;
  }
  if (auto v = in.Bool(table, "rsa_key_encipherment",
                       absl::StrCat(where, ".rsa_key_encipherment"))) {
    profile.rsa_key_encipherment = *v;
  }
  if (auto v = in.StringList(table, "extended_key_usage",
                             absl::StrCat(where, ".extended_key_usage"))) {
    profile.extended_key_usage = *v;
  }
  if (auto v = in.Bool(table, "subject_alt_name_required",
                       absl::StrCat(where, ".subject_alt_name_required"))) {
    profile.subject_alt_name_required = *v;
  }
  if (auto v = in.StringList(table, "allowed_dns", absl::StrCat(where, ".allowed_dns"))) {
    profile.allowed_dns = *v;
  }
  if (auto v = in.StringList(table, "allowed_ip", absl::StrCat(where, ".allowed_ip"))) {
    profile.allowed_ip = *v;
  }
  if (auto v = in.StringList(table, "allowed_email", absl::StrCat(where, ".allowed_email"))) {
    profile.allowed_email = *v;
  }
  if (auto v = in.StringList(table, "allowed_uri", absl::StrCat(where, ".allowed_uri"))) {
    profile.allowed_uri = *v;
  }
  if (auto v = in.Integer(table, "default_days", absl::StrCat(where, ".default_days"), 1,
                          kMaxDays)) {
    profile.default_validity = absl::Hours(24 * *v);
  }
  if (auto v = in.Integer(table, "max_days", absl::StrCat(where, ".max_days"), 1, kMaxDays)) {
    profile.max_validity = absl::Hours(24 * *v);
  }
  if (absl::Status s = ca::ValidateProfile(profile); !s.ok()) {
    in.problems().At(table, s.message());
    return;
  }
  // `keyhold ca init` and `ca intermediate` issue CA certificates with
  // these two whatever the table says.
  if ((name == "root" || name == "intermediate") && !profile.is_ca) {
    in.problems().At(table, absl::StrCat("[", where, "] must stay a CA profile (ca = true)"));
    return;
  }
  config.profiles[name] = std::move(profile);
}

void ParseCa(const toml::table& table, ConfigReader& in, const Config& config, CaConfig& out) {
  in.CheckKeys(table, kCaKeys, "[[ca]]", absl::StrJoin(kCaKeys, ", "));
  in.Require(table, "label", "[[ca]] needs label (the CA key's CKA_LABEL)");
  if (auto label = in.String(table, "label", "ca.label")) {
    if (absl::Status valid = ValidateKeyLabel(*label); !valid.ok()) {
      in.problems().At(*table.get("label"), absl::StrCat("ca.label: ", valid.message()));
    }
    out.label = *std::move(label);
  }
  if (auto policy = in.String(table, "policy", "ca.policy")) {
    if (!config.policies.contains(*policy)) {
      std::vector<std::string> names;
      for (const auto& [known, unused] : config.policies) names.push_back(known);
      in.problems().At(*table.get("policy"),
                       absl::StrCat("ca.policy ", Quote(*policy), " is not strict, loose or a "
                                    "[policy.NAME] table (known: ", absl::StrJoin(names, ", "),
                                    ")"));
    }
    out.policy = *std::move(policy);
  }
  if (auto profiles = in.StringList(table, "profiles", "ca.profiles")) {
    for (const std::string& name : *profiles) {
      if (!config.profiles.contains(name)) {
        in.problems().At(*table.get("profiles"),
                         absl::StrCat("ca.profiles: unknown profile ", Quote(name)));
      }
    }
    out.profiles = *std::move(profiles);
  }
  if (auto max = in.Integer(table, "max_csr_bytes", "ca.max_csr_bytes", 256, kMaxCsrBytesLimit)) {
    out.max_csr_bytes = static_cast<size_t>(*max);
  }
}

}  // namespace

void ParseCaSections(const toml::table& root, ConfigReader& in, Config& config) {
  const std::map<std::string, ca::CertificateProfile> builtin = ca::BuiltinProfiles();
  ForEachNamedTable(root, in, "policy", [&](const std::string& name, const toml::table& table) {
    ParsePolicy(name, table, in, config);
  });
  ForEachNamedTable(root, in, "profile", [&](const std::string& name, const toml::table& table) {
    ParseProfile(name, table, in, config, builtin);
  });

  const toml::node* node = root.get("ca");
  if (node == nullptr) return;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    in.problems().At(*node, absl::StrCat("ca must be an array of tables (write [[ca]], not "
                                         "[ca]), not ", TypeName(*node)));
    return;
  }
  std::map<std::string, uint32_t> label_lines;
  for (const toml::node& element : *array) {
    const toml::table* table = element.as_table();
    if (table == nullptr) {
      in.problems().At(element, absl::StrCat("every [[ca]] must be a table, not ",
                                             TypeName(element)));
      continue;
    }
    CaConfig ca;
    ParseCa(*table, in, config, ca);
    if (!ca.label.empty()) {
      const toml::node& label = *table->get("label");
      auto [first, inserted] = label_lines.emplace(ca.label, label.source().begin.line);
      if (!inserted) {
        in.problems().At(label, absl::StrCat("duplicate [[ca]] label ", Quote(ca.label),
                                             ": defined on line ", first->second, " too"));
      }
    }
    config.cas.push_back(std::move(ca));
  }
}

std::vector<std::string> KnownCaConfigKeys() {
  std::vector<std::string> keys;
  for (absl::string_view key : kCaKeys) keys.push_back(absl::StrCat("ca.", key));
  for (absl::string_view key : kPolicyKeys) keys.push_back(absl::StrCat("policy.NAME.", key));
  for (absl::string_view key : kProfileKeys) keys.push_back(absl::StrCat("profile.NAME.", key));
  return keys;
}

}  // namespace keyhold::agent
