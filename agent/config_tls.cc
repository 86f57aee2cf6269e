#include "agent/config_tls.h"

#include <arpa/inet.h>

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/tls/tls_settings.h"

namespace keyhold::agent {

namespace {

constexpr absl::string_view kTlsProfileKeys[] = {
    "ca_file", "system_trust", "verify_hostname", "targets",     "tls_min",
    "tls_max", "alpn",         "cipher_list",     "ciphersuites"};

struct SplitTarget {
  std::string host;  // brackets removed
  std::string port;
};

std::optional<SplitTarget> Split(absl::string_view text) {
  SplitTarget parts;
  if (!SplitHostPort(text, parts.host, parts.port)) return std::nullopt;
  return parts;
}

// Normalised IP text, so "::1" and "0:0::1" compare equal.
std::string CanonicalIp(const std::string& host) {
  std::array<unsigned char, 16> buffer{};
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_pton(AF_INET, host.c_str(), buffer.data()) == 1) {
    return inet_ntop(AF_INET, buffer.data(), text.data(), text.size());
  }
  if (inet_pton(AF_INET6, host.c_str(), buffer.data()) == 1) {
    return inet_ntop(AF_INET6, buffer.data(), text.data(), text.size());
  }
  return absl::AsciiStrToLower(host);
}

bool HostMatches(const std::string& pattern, absl::string_view host_in) {
  if (pattern == "*") return true;
  const std::string host = CanonicalIp(std::string(host_in));
  if (absl::StartsWith(pattern, "*.")) {
    const std::string suffix = absl::AsciiStrToLower(pattern.substr(1));
    return absl::EndsWith(host, suffix) && host.size() > suffix.size() &&
           host.substr(0, host.size() - suffix.size()).find('.') == std::string::npos;
  }
  return CanonicalIp(pattern) == host;
}

}  // namespace

bool SplitHostPort(absl::string_view text, std::string& host, std::string& port) {
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find("]:");
    if (close == absl::string_view::npos) return false;
    host = std::string(text.substr(1, close - 1));
    port = std::string(text.substr(close + 2));
    return true;
  }
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos ||
      text.substr(0, colon).find(':') != absl::string_view::npos) {
    return false;
  }
  host = std::string(text.substr(0, colon));
  port = std::string(text.substr(colon + 1));
  return true;
}

absl::Status ValidateTargetPattern(absl::string_view pattern) {
  std::optional<SplitTarget> parts = Split(pattern);
  if (!parts) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(pattern), " is not host:port (IPv6 as [::1]:443; port may be *)"));
  }
  const std::string& host = parts->host;
  const bool host_ok = host == "*" || tls::IsIpLiteral(host) ||
                       (absl::StartsWith(host, "*.") && tls::IsHostName(host.substr(2))) ||
                       tls::IsHostName(host);
  if (!host_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(pattern), ": the host must be a DNS name, *.domain, an IP address or *"));
  }
  uint32_t port = 0;
  if (parts->port != "*" &&
      (!absl::SimpleAtoi(parts->port, &port) || port == 0 || port > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(pattern), ": the port must be 1 to 65535 or *"));
  }
  return absl::OkStatus();
}

bool TargetMatches(absl::string_view pattern, absl::string_view host, uint16_t port) {
  std::optional<SplitTarget> parts = Split(pattern);
  if (!parts) return false;
  uint32_t want = 0;
  if (parts->port != "*" && (!absl::SimpleAtoi(parts->port, &want) || want != port)) return false;
  return HostMatches(parts->host, host);
}

void ParseTlsProfiles(const toml::table& root, ConfigReader& in, Config& config) {
  ForEachNamedTable(root, in, "tls_profile", [&](const std::string& name,
                                                 const toml::table& table) {
    const std::string where = absl::StrCat("tls_profile.", name);
    in.CheckKeys(table, kTlsProfileKeys, absl::StrCat("[", where, "]"),
                 absl::StrJoin(kTlsProfileKeys, ", "));
    TlsProfile profile;
    profile.name = name;
    if (auto v = in.AbsolutePath(table, "ca_file", absl::StrCat(where, ".ca_file"))) {
      profile.ca_file = *v;
    }
    if (auto v = in.Bool(table, "system_trust", absl::StrCat(where, ".system_trust"))) {
      profile.system_trust = *v;
    }
    if (auto v = in.Bool(table, "verify_hostname", absl::StrCat(where, ".verify_hostname"))) {
      profile.verify_hostname = *v;
    }
    if (auto v = in.StringList(table, "targets", absl::StrCat(where, ".targets"))) {
      for (const std::string& target : *v) {
        if (absl::Status s = ValidateTargetPattern(target); !s.ok()) {
          in.problems().At(*table.get("targets"), absl::StrCat(where, ".targets: ", s.message()));
        }
        if (!profile.verify_hostname && absl::StrContains(target, '*')) {
          in.problems().At(*table.get("targets"),
                           absl::StrCat(where, ": verify_hostname = false needs targets named "
                                               "exactly (no *), not ", Quote(target)));
        }
      }
      profile.targets = *v;
    }
    if (!profile.verify_hostname && profile.targets.empty()) {
      in.problems().At(table, absl::StrCat(where, ": verify_hostname = false is only allowed "
                                                  "for named targets; add targets = [...]"));
    }
    for (const char* key : {"tls_min", "tls_max"}) {
      if (auto v = in.String(table, key, absl::StrCat(where, ".", key))) {
        if (*v != "1.2" && *v != "1.3") {
          in.problems().At(*table.get(key),
                           absl::StrCat(where, ".", key, " must be \"1.2\" or \"1.3\""));
        }
        (std::string(key) == "tls_min" ? profile.tls_min : profile.tls_max) = *v;
      }
    }
    if (auto v = in.StringList(table, "alpn", absl::StrCat(where, ".alpn"))) profile.alpn = *v;
    if (auto v = in.String(table, "cipher_list", absl::StrCat(where, ".cipher_list"))) {
      profile.cipher_list = *v;
    }
    if (auto v = in.String(table, "ciphersuites", absl::StrCat(where, ".ciphersuites"))) {
      profile.ciphersuites = *v;
    }
    config.tls_profiles[name] = std::move(profile);
  });
}

std::vector<std::string> KnownTlsConfigKeys() {
  std::vector<std::string> keys;
  for (absl::string_view key : kTlsProfileKeys) {
    keys.push_back(absl::StrCat("tls_profile.NAME.", key));
  }
  return keys;
}

}  // namespace keyhold::agent
