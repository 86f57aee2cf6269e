#include "agent/ca/profile.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include <openssl/objects.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {

namespace {

constexpr absl::string_view kKeyUsageNames[] = {
    "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
    "keyAgreement",     "keyCertSign",    "cRLSign"};
constexpr absl::string_view kExtendedKeyUsageNames[] = {
    "serverAuth", "clientAuth", "codeSigning", "emailProtection", "timeStamping",
    "OCSPSigning"};

constexpr absl::Duration kDay = absl::Hours(24);

bool Contains(std::span<const absl::string_view> list, absl::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

bool IsDottedOid(const std::string& text) {
  if (text.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(text[0]))) return false;
  Asn1ObjectPtr object(OBJ_txt2obj(text.c_str(), /*no_name=*/1));
  if (!object) return false;
  // OBJ_txt2obj forgives "1.2.3." (as 1.2.3), "1..2" (as 1.0.2) and
  // trailing blanks: a typo would become another OID in every certificate.
  // Only the canonical spelling counts.
  char canonical[256];
  const int length = OBJ_obj2txt(canonical, sizeof(canonical), object.get(), /*no_name=*/1);
  return length > 0 && static_cast<size_t>(length) < sizeof(canonical) && text == canonical;
}

// An address, as 4 or 16 bytes, from its text.
std::optional<std::vector<uint8_t>> ParseAddress(const std::string& text) {
  std::array<uint8_t, 16> bytes{};
  if (inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) {
    return std::vector<uint8_t>(bytes.begin(), bytes.begin() + 4);
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) {
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  }
  return std::nullopt;
}

struct Network {
  std::vector<uint8_t> address;
  int prefix_bits = 0;
};

std::optional<Network> ParseNetwork(const std::string& pattern) {
  std::vector<std::string> parts = absl::StrSplit(pattern, absl::MaxSplits('/', 1));
  std::optional<std::vector<uint8_t>> address = ParseAddress(parts[0]);
  if (!address) return std::nullopt;
  const int max_bits = static_cast<int>(address->size() * 8);
  int bits = max_bits;
  if (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &bits) || bits < 0 || bits > max_bits)) {
    return std::nullopt;
  }
  return Network{*std::move(address), bits};
}

bool InNetwork(const Network& network, const std::vector<uint8_t>& address) {
  if (address.size() != network.address.size()) return false;
  int bits = network.prefix_bits;
  for (size_t i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((address[i] & mask) != (network.address[i] & mask)) return false;
  }
  return true;
}

// "*.example.com" matches one label in place of '*' (and the wildcard name
// "*.example.com" itself); anything else matches exactly. Both lower-case.
bool DnsMatches(absl::string_view pattern, absl::string_view name) {
  if (!absl::StartsWith(pattern, "*.")) return pattern == name;
  const absl::string_view suffix = pattern.substr(1);  // ".example.com"
  if (!absl::EndsWith(name, suffix) || name.size() == suffix.size()) return false;
  const absl::string_view label = name.substr(0, name.size() - suffix.size());
  return !absl::StrContains(label, '.');
}

bool EmailMatches(absl::string_view pattern, absl::string_view email) {
  if (absl::StartsWith(pattern, "*@")) {
    const size_t at = email.rfind('@');
    return at != absl::string_view::npos &&
           absl::EqualsIgnoreCase(email.substr(at + 1), pattern.substr(2));
  }
  return absl::EqualsIgnoreCase(pattern, email);
}

bool UriMatches(absl::string_view pattern, absl::string_view uri) {
  if (absl::EndsWith(pattern, "*")) {
    return absl::StartsWith(uri, pattern.substr(0, pattern.size() - 1));
  }
  return pattern == uri;
}

bool Matches(SubjectAltName::Kind kind, const std::string& pattern,
             const SubjectAltName& name) {
  switch (kind) {
    case SubjectAltName::Kind::kDns: {
      // Normalised as names are (subject_alt_names.h): lower case, no
      // trailing dot; ValidateProfile() accepts "host.example.com.".
      std::string normal = absl::AsciiStrToLower(pattern);
      if (absl::EndsWith(normal, ".")) normal.pop_back();
      return DnsMatches(normal, name.value);
    }
    case SubjectAltName::Kind::kIp: {
      std::optional<Network> network = ParseNetwork(pattern);
      std::optional<std::vector<uint8_t>> address = ParseAddress(name.value);
      return network && address && InNetwork(*network, *address);
    }
    case SubjectAltName::Kind::kEmail:
      return EmailMatches(pattern, name.value);
    case SubjectAltName::Kind::kUri:
      return UriMatches(pattern, name.value);
  }
  return false;
}

const std::optional<std::vector<std::string>>& AllowedFor(const CertificateProfile& profile,
                                                           SubjectAltName::Kind kind) {
  switch (kind) {
    case SubjectAltName::Kind::kDns: return profile.allowed_dns;
    case SubjectAltName::Kind::kIp: return profile.allowed_ip;
    case SubjectAltName::Kind::kEmail: return profile.allowed_email;
    case SubjectAltName::Kind::kUri: break;
  }
  return profile.allowed_uri;
}

absl::Status CheckPatterns(const CertificateProfile& profile, SubjectAltName::Kind kind) {
  const std::optional<std::vector<std::string>>& patterns = AllowedFor(profile, kind);
  if (!patterns) return absl::OkStatus();
  for (const std::string& pattern : *patterns) {
    bool ok = !pattern.empty();
    switch (kind) {
      case SubjectAltName::Kind::kDns: {
        // A pattern is a valid name once its wildcard is replaced by a label.
        const std::string probe =
            absl::StartsWith(pattern, "*.") ? absl::StrCat("x", pattern.substr(1)) : pattern;
        ok = ok && ParseSubjectAltName(absl::StrCat("DNS:", probe)).ok() &&
             !absl::StrContains(probe, '*');
        break;
      }
      case SubjectAltName::Kind::kIp:
        ok = ok && ParseNetwork(pattern).has_value();
        break;
      case SubjectAltName::Kind::kEmail: {
        // "*@domain": the domain must be one an address could have.
        const std::string probe =
            absl::StartsWith(pattern, "*@") ? absl::StrCat("x", pattern.substr(1)) : pattern;
        ok = ok && ParseSubjectAltName(absl::StrCat("email:", probe)).ok();
        break;
      }
      case SubjectAltName::Kind::kUri:
        ok = ok && absl::StrContains(pattern, ':');
        break;
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "profile ", profile.name, ": bad ", SubjectAltNameKindName(kind), " pattern \"",
          pattern, "\""));
    }
  }
  return absl::OkStatus();
}

CertificateProfile CaProfile(std::string name, std::optional<int> path_length,
                             absl::Duration default_validity, absl::Duration max_validity) {
  CertificateProfile p;
  p.name = std::move(name);
  p.is_ca = true;
  p.path_length = path_length;
  p.key_usage = {"keyCertSign", "cRLSign", "digitalSignature"};
  p.default_validity = default_validity;
  p.max_validity = max_validity;
  return p;
}

CertificateProfile LeafProfile(std::string name, std::string eku, bool san_required) {
  CertificateProfile p;
  p.name = std::move(name);
  p.key_usage = {"digitalSignature"};
  p.rsa_key_encipherment = true;
  p.extended_key_usage = {std::move(eku)};
  p.subject_alt_name_required = san_required;
  p.default_validity = 365 * kDay;
  p.max_validity = 825 * kDay;
  return p;
}

}  // namespace

std::span<const absl::string_view> KeyUsageNames() { return kKeyUsageNames; }
std::span<const absl::string_view> ExtendedKeyUsageNames() { return kExtendedKeyUsageNames; }

std::map<std::string, CertificateProfile> BuiltinProfiles() {
  std::map<std::string, CertificateProfile> profiles;
  for (CertificateProfile p :
       {CaProfile("root", std::nullopt, 3650 * kDay, 7300 * kDay),
        CaProfile("intermediate", 0, 1825 * kDay, 3650 * kDay),
        LeafProfile("server", "serverAuth", /*san_required=*/true),
        LeafProfile("client", "clientAuth", /*san_required=*/false)}) {
    std::string name = p.name;
    profiles.emplace(std::move(name), std::move(p));
  }
  return profiles;
}

absl::Status ValidateProfile(const CertificateProfile& profile) {
  const std::string where = absl::StrCat("profile ", profile.name, ": ");
  for (const std::string& usage : profile.key_usage) {
    if (!Contains(kKeyUsageNames, usage)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "unknown key usage \"", usage, "\" (known: ",
          absl::StrJoin(kKeyUsageNames, ", "), ")"));
    }
  }
  for (const std::string& usage : profile.extended_key_usage) {
    if (!Contains(kExtendedKeyUsageNames, usage) && !IsDottedOid(usage)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "unknown extended key usage \"", usage, "\" (known: ",
          absl::StrJoin(kExtendedKeyUsageNames, ", "), ", or a dotted OID)"));
    }
  }
  const bool cert_sign = std::find(profile.key_usage.begin(), profile.key_usage.end(),
                                   "keyCertSign") != profile.key_usage.end();
  if (profile.is_ca && !cert_sign) {
    return absl::InvalidArgumentError(absl::StrCat(where, "a CA profile needs keyCertSign"));
  }
  if (!profile.is_ca && cert_sign) {
    return absl::InvalidArgumentError(absl::StrCat(where, "keyCertSign needs ca = true"));
  }
  if (!profile.is_ca && profile.path_length) {
    return absl::InvalidArgumentError(absl::StrCat(where, "path_length needs ca = true"));
  }
  if (profile.path_length && *profile.path_length < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, "path_length must be 0 or more"));
  }
  if (profile.default_validity <= absl::ZeroDuration() ||
      profile.max_validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(where, "validity must be at least a day"));
  }
  if (profile.default_validity > profile.max_validity) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "default validity is longer than the maximum"));
  }
  for (SubjectAltName::Kind kind : {SubjectAltName::Kind::kDns, SubjectAltName::Kind::kIp,
                                    SubjectAltName::Kind::kEmail, SubjectAltName::Kind::kUri}) {
    if (absl::Status s = CheckPatterns(profile, kind); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckSubjectAltName(const CertificateProfile& profile, const SubjectAltName& name) {
  const std::optional<std::vector<std::string>>& patterns = AllowedFor(profile, name.kind);
  if (!patterns) return absl::OkStatus();
  for (const std::string& pattern : *patterns) {
    if (Matches(name.kind, pattern, name)) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "profile ", profile.name, " does not allow ", SubjectAltNameKindName(name.kind), ":",
      name.value, " (allowed: ",
      patterns->empty() ? "none" : absl::StrJoin(*patterns, ", "), ")"));
}

}  // namespace keyhold::agent::ca
