#include "agent/ca/subject_alt_names.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include <openssl/asn1.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {

namespace {

using GeneralNamePtr = OpenSslPtr<GENERAL_NAME, GENERAL_NAME_free>;
using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using Asn1Ia5StringPtr = OpenSslPtr<ASN1_IA5STRING, ASN1_IA5STRING_free>;

constexpr size_t kMaxDnsNameBytes = 253;
constexpr size_t kMaxDnsLabelBytes = 63;
constexpr size_t kMaxEmailLocalBytes = 64;
constexpr size_t kMaxUriBytes = 2048;

// Names are quoted in messages C-escaped and cut short, so a hostile CSR
// cannot forge log lines or flood them.
std::string Quote(absl::string_view text) {
  constexpr size_t kMaxQuoted = 80;
  std::string quoted = absl::CHexEscape(text.substr(0, kMaxQuoted));
  if (text.size() > kMaxQuoted) quoted += "...";
  return absl::StrCat("\"", quoted, "\"");
}

absl::Status Invalid(SubjectAltName::Kind kind, absl::string_view value,
                     absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("subject alternative name ",
                   Quote(absl::StrCat(SubjectAltNameKindName(kind), ":", value)), ": ", why));
}

bool IsLdh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// Lower-cases, drops one trailing dot and checks LDH labels. The error
// text is the reason only; callers say which name it was.
absl::StatusOr<std::string> NormaliseDnsName(absl::string_view text, bool allow_wildcard) {
  std::string name = absl::AsciiStrToLower(text);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) return absl::InvalidArgumentError("empty DNS name");
  if (name.size() > kMaxDnsNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("DNS name longer than ", kMaxDnsNameBytes, " bytes"));
  }
  const std::vector<absl::string_view> labels = absl::StrSplit(name, '.');
  for (size_t i = 0; i < labels.size(); ++i) {
    const absl::string_view label = labels[i];
    if (i == 0 && label == "*") {
      if (!allow_wildcard) return absl::InvalidArgumentError("wildcard not allowed here");
      if (labels.size() < 2) {
        return absl::InvalidArgumentError("a wildcard needs a domain after \"*.\"");
      }
      continue;
    }
    if (label.empty()) return absl::InvalidArgumentError("empty DNS label");
    if (label.size() > kMaxDnsLabelBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("DNS label longer than ", kMaxDnsLabelBytes, " bytes"));
    }
    if (label.find('*') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "a wildcard is allowed only as the whole leftmost label (\"*.\")");
    }
    if (!std::all_of(label.begin(), label.end(), IsLdh)) {
      return absl::InvalidArgumentError(
          "DNS labels hold only letters, digits and '-'");
    }
    if (label.front() == '-' || label.back() == '-') {
      return absl::InvalidArgumentError("a DNS label neither starts nor ends with '-'");
    }
  }
  return name;
}

// 4 or 16 bytes of address, or nullopt.
std::optional<std::string> IpAddressBytes(absl::string_view text) {
  const std::string c_text(text);  // inet_pton wants NUL termination
  if (c_text.find('\0') != std::string::npos) return std::nullopt;
  unsigned char buffer[sizeof(in6_addr)];
  if (inet_pton(AF_INET, c_text.c_str(), buffer) == 1) {
    return std::string(reinterpret_cast<const char*>(buffer), sizeof(in_addr));
  }
  if (inet_pton(AF_INET6, c_text.c_str(), buffer) == 1) {
    return std::string(reinterpret_cast<const char*>(buffer), sizeof(in6_addr));
  }
  return std::nullopt;
}

std::optional<std::string> IpAddressText(absl::string_view bytes) {
  const int family = bytes.size() == sizeof(in_addr)    ? AF_INET
                     : bytes.size() == sizeof(in6_addr) ? AF_INET6
                                                        : AF_UNSPEC;
  if (family == AF_UNSPEC) return std::nullopt;
  unsigned char address[sizeof(in6_addr)];
  std::copy(bytes.begin(), bytes.end(), address);
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(family, address, text, sizeof(text)) == nullptr) return std::nullopt;
  return std::string(text);
}

// RFC 5322 atext plus '.', without the characters that would confuse the
// "a,b" list syntax or need quoting.
bool IsEmailLocalChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return absl::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) != absl::string_view::npos;
}

absl::StatusOr<std::string> NormaliseEmail(absl::string_view text) {
  const size_t at = text.rfind('@');
  if (at == absl::string_view::npos) {
    return absl::InvalidArgumentError("an email address is local@domain");
  }
  const absl::string_view local = text.substr(0, at);
  if (local.empty() || local.size() > kMaxEmailLocalBytes ||
      !std::all_of(local.begin(), local.end(), IsEmailLocalChar)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the local part is 1..", kMaxEmailLocalBytes,
        " bytes of letters, digits, '.' and !#$%&'*+-/=?^_`{|}~"));
  }
  absl::StatusOr<std::string> domain =
      NormaliseDnsName(text.substr(at + 1), /*allow_wildcard=*/false);
  if (!domain.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("domain: ", domain.status().message()));
  }
  return absl::StrCat(local, "@", *domain);
}

absl::Status CheckUri(absl::string_view text) {
  if (text.size() > kMaxUriBytes) {
    return absl::InvalidArgumentError(absl::StrCat("URI longer than ", kMaxUriBytes, " bytes"));
  }
  const size_t colon = text.find(':');
  const absl::string_view scheme = text.substr(0, colon);
  const auto scheme_char = [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' ||
           c == '.';
  };
  if (colon == absl::string_view::npos || scheme.empty() ||
      !absl::ascii_isalpha(static_cast<unsigned char>(scheme[0])) ||
      !std::all_of(scheme.begin(), scheme.end(), scheme_char)) {
    return absl::InvalidArgumentError("a URI starts with a scheme (\"https:\")");
  }
  if (colon + 1 == text.size()) return absl::InvalidArgumentError("nothing after the scheme");
  for (char c : text) {
    // Printable ASCII without space; no ',' so the list syntax stays
    // unambiguous (percent-encode it as %2C).
    if (c <= ' ' || c > '~' || c == ',') {
      return absl::InvalidArgumentError(
          "a URI is printable ASCII without spaces or ',' (use %2C)");
    }
  }
  return absl::OkStatus();
}

// The normalised value of a `kind` name, or INVALID_ARGUMENT naming it.
absl::StatusOr<std::string> NormaliseValue(SubjectAltName::Kind kind, absl::string_view value) {
  absl::StatusOr<std::string> normalised;
  switch (kind) {
    case SubjectAltName::Kind::kDns:
      normalised = NormaliseDnsName(value, /*allow_wildcard=*/true);
      break;
    case SubjectAltName::Kind::kIp: {
      std::optional<std::string> bytes = IpAddressBytes(value);
      std::optional<std::string> text = bytes ? IpAddressText(*bytes) : std::nullopt;
      if (!text) return Invalid(kind, value, "not an IPv4 or IPv6 address");
      normalised = *std::move(text);
      break;
    }
    case SubjectAltName::Kind::kEmail:
      normalised = NormaliseEmail(value);
      break;
    case SubjectAltName::Kind::kUri:
      if (absl::Status s = CheckUri(value); !s.ok()) {
        normalised = s;
      } else {
        normalised = std::string(value);
      }
      break;
  }
  if (!normalised.ok()) return Invalid(kind, value, normalised.status().message());
  return normalised;
}

// Appends `name` unless already present; refuses to grow past the cap.
absl::Status AddUnique(SubjectAltName name, std::vector<SubjectAltName>* names) {
  if (std::find(names->begin(), names->end(), name) != names->end()) return absl::OkStatus();
  if (names->size() == kMaxSubjectAltNames) {
    return absl::InvalidArgumentError(absl::StrCat(
        "more than ", kMaxSubjectAltNames, " subject alternative names"));
  }
  names->push_back(std::move(name));
  return absl::OkStatus();
}

absl::string_view GeneralNameTypeName(int type) {
  switch (type) {
    case GEN_OTHERNAME: return "otherName";
    case GEN_X400: return "x400Address";
    case GEN_DIRNAME: return "directoryName";
    case GEN_EDIPARTY: return "ediPartyName";
    case GEN_RID: return "registeredID";
    default: return "unknown";
  }
}

absl::StatusOr<SubjectAltName> FromGeneralName(const GENERAL_NAME* general_name) {
  SubjectAltName::Kind kind = SubjectAltName::Kind::kDns;
  switch (general_name->type) {
    case GEN_DNS: kind = SubjectAltName::Kind::kDns; break;
    case GEN_EMAIL: kind = SubjectAltName::Kind::kEmail; break;
    case GEN_URI: kind = SubjectAltName::Kind::kUri; break;
    case GEN_IPADD: {
      const ASN1_OCTET_STRING* bytes = general_name->d.iPAddress;
      std::optional<std::string> text =
          bytes == nullptr ? std::nullopt
                           : IpAddressText(absl::string_view(
                                 reinterpret_cast<const char*>(ASN1_STRING_get0_data(bytes)),
                                 static_cast<size_t>(ASN1_STRING_length(bytes))));
      if (!text) {
        return absl::InvalidArgumentError(
            "subject alternative name IP: the address is not 4 or 16 bytes");
      }
      return SubjectAltName{.kind = SubjectAltName::Kind::kIp, .value = *std::move(text)};
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "subject alternative name of type ", GeneralNameTypeName(general_name->type),
          " is not supported; only DNS, IP, email and URI are"));
  }
  const ASN1_IA5STRING* ia5 = general_name->d.ia5;
  if (ia5 == nullptr || ASN1_STRING_type(ia5) != V_ASN1_IA5STRING) {
    return Invalid(kind, "", "not an IA5String");
  }
  const absl::string_view value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ia5)),
                                static_cast<size_t>(ASN1_STRING_length(ia5)));
  for (char c : value) {
    // Visible ASCII only: an embedded NUL ("good.com\0.evil.com") or a
    // control character is an attack on whoever reads the name.
    if (c <= ' ' || c > '~') return Invalid(kind, value, "has a byte that is not visible ASCII");
  }
  absl::StatusOr<std::string> normalised = NormaliseValue(kind, value);
  if (!normalised.ok()) return normalised.status();
  return SubjectAltName{.kind = kind, .value = *std::move(normalised)};
}

absl::StatusOr<GeneralNamePtr> ToGeneralName(const SubjectAltName& name) {
  absl::StatusOr<std::string> value = NormaliseValue(name.kind, name.value);
  if (!value.ok()) return value.status();
  GeneralNamePtr general_name(GENERAL_NAME_new());
  if (general_name == nullptr) return OpenSslError("GENERAL_NAME_new");
  if (name.kind == SubjectAltName::Kind::kIp) {
    std::optional<std::string> bytes = IpAddressBytes(*value);
    Asn1OctetStringPtr octets(ASN1_OCTET_STRING_new());
    if (!bytes || octets == nullptr ||
        ASN1_OCTET_STRING_set(octets.get(), reinterpret_cast<const unsigned char*>(bytes->data()),
                              static_cast<int>(bytes->size())) != 1) {
      return OpenSslError("encoding an IP address");
    }
    GENERAL_NAME_set0_value(general_name.get(), GEN_IPADD, octets.release());
    return general_name;
  }
  const int type = name.kind == SubjectAltName::Kind::kDns     ? GEN_DNS
                   : name.kind == SubjectAltName::Kind::kEmail ? GEN_EMAIL
                                                               : GEN_URI;
  Asn1Ia5StringPtr ia5(ASN1_IA5STRING_new());
  if (ia5 == nullptr ||
      ASN1_STRING_set(ia5.get(), value->data(), static_cast<int>(value->size())) != 1) {
    return OpenSslError("encoding a subject alternative name");
  }
  GENERAL_NAME_set0_value(general_name.get(), type, ia5.release());
  return general_name;
}

}  // namespace

absl::string_view SubjectAltNameKindName(SubjectAltName::Kind kind) {
  switch (kind) {
    case SubjectAltName::Kind::kDns: return "DNS";
    case SubjectAltName::Kind::kIp: return "IP";
    case SubjectAltName::Kind::kEmail: return "email";
    case SubjectAltName::Kind::kUri: return "URI";
  }
  return "unknown";
}

absl::StatusOr<SubjectAltName> ParseSubjectAltName(absl::string_view text) {
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subject alternative name ", Quote(text),
        ": expected KIND:value with KIND one of DNS, IP, email, URI"));
  }
  const absl::string_view kind_text = text.substr(0, colon);
  const absl::string_view value = text.substr(colon + 1);
  SubjectAltName name;
  if (absl::EqualsIgnoreCase(kind_text, "DNS")) {
    name.kind = SubjectAltName::Kind::kDns;
  } else if (absl::EqualsIgnoreCase(kind_text, "IP")) {
    name.kind = SubjectAltName::Kind::kIp;
  } else if (absl::EqualsIgnoreCase(kind_text, "email")) {
    name.kind = SubjectAltName::Kind::kEmail;
  } else if (absl::EqualsIgnoreCase(kind_text, "URI")) {
    name.kind = SubjectAltName::Kind::kUri;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "subject alternative name ", Quote(text), ": unknown kind ", Quote(kind_text),
        "; expected DNS, IP, email or URI"));
  }
  absl::StatusOr<std::string> normalised = NormaliseValue(name.kind, value);
  if (!normalised.ok()) return normalised.status();
  name.value = *std::move(normalised);
  return name;
}

absl::StatusOr<std::vector<SubjectAltName>> ParseSubjectAltNames(absl::string_view text) {
  std::vector<SubjectAltName> names;
  if (absl::StripAsciiWhitespace(text).empty()) return names;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) {
      return absl::InvalidArgumentError(
          "subject alternative names: empty item in the comma-separated list");
    }
    absl::StatusOr<SubjectAltName> name = ParseSubjectAltName(item);
    if (!name.ok()) return name.status();
    if (absl::Status s = AddUnique(*std::move(name), &names); !s.ok()) return s;
  }
  return names;
}

std::string FormatSubjectAltNames(std::span<const SubjectAltName> names) {
  std::string out;
  for (const SubjectAltName& name : names) {
    if (!out.empty()) out += ',';
    absl::StrAppend(&out, SubjectAltNameKindName(name.kind), ":", name.value);
  }
  return out;
}

absl::StatusOr<GENERAL_NAMES*> ToGeneralNames(std::span<const SubjectAltName> names) {
  if (names.size() > kMaxSubjectAltNames) {
    return absl::InvalidArgumentError(absl::StrCat(
        "more than ", kMaxSubjectAltNames, " subject alternative names"));
  }
  GeneralNamesPtr general_names(sk_GENERAL_NAME_new_null());
  if (general_names == nullptr) return OpenSslError("sk_GENERAL_NAME_new_null");
  for (const SubjectAltName& name : names) {
    absl::StatusOr<GeneralNamePtr> general_name = ToGeneralName(name);
    if (!general_name.ok()) return general_name.status();
    if (sk_GENERAL_NAME_push(general_names.get(), general_name->get()) <= 0) {
      return OpenSslError("sk_GENERAL_NAME_push");
    }
    general_name->release();  // now owned by the stack
  }
  return general_names.release();
}

absl::StatusOr<std::vector<SubjectAltName>> FromGeneralNames(const GENERAL_NAMES* names) {
  std::vector<SubjectAltName> out;
  if (names == nullptr) return out;
  const int count = sk_GENERAL_NAME_num(names);
  for (int i = 0; i < count; ++i) {
    const GENERAL_NAME* general_name = sk_GENERAL_NAME_value(names, i);
    if (general_name == nullptr) {
      return absl::InvalidArgumentError("subject alternative names: a missing entry");
    }
    absl::StatusOr<SubjectAltName> name = FromGeneralName(general_name);
    if (!name.ok()) return name.status();
    if (absl::Status s = AddUnique(*std::move(name), &out); !s.ok()) return s;
  }
  return out;
}

}  // namespace keyhold::agent::ca
