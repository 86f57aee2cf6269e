#include "agent/tls/tls_settings.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/tls1.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace keyhold::agent::tls {
namespace {

// RFC 1035 limits on a full name and on one label.
constexpr size_t kMaxHostLength = 253;
constexpr size_t kMaxLabelLength = 63;
// RFC 7301: each protocol name is 1..255 bytes, the list at most 2^16-1.
constexpr size_t kMaxAlpnNameLength = 255;
constexpr size_t kMaxAlpnWireLength = 65535;

bool IsPositive(absl::Duration d) { return d > absl::ZeroDuration(); }

absl::Status CheckTimeouts(const TlsTimeouts& timeouts) {
  if (!IsPositive(timeouts.connect)) {
    return absl::InvalidArgumentError("the connect timeout must be positive");
  }
  if (!IsPositive(timeouts.handshake)) {
    return absl::InvalidArgumentError("the handshake timeout must be positive");
  }
  if (!IsPositive(timeouts.idle)) {
    return absl::InvalidArgumentError("the idle timeout must be positive");
  }
  return absl::OkStatus();
}

absl::Status CheckAlpn(const std::vector<std::string>& alpn) {
  size_t wire = 0;
  for (const std::string& name : alpn) {
    if (name.empty() || name.size() > kMaxAlpnNameLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ALPN protocol names are 1 to 255 bytes; got \"", name, "\""));
    }
    wire += 1 + name.size();
  }
  if (wire > kMaxAlpnWireLength) {
    return absl::InvalidArgumentError("the ALPN list is too long");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TlsVersion> ParseTlsVersion(absl::string_view text) {
  if (text == "1.2" || text == "TLSv1.2") return TlsVersion::kTls12;
  if (text == "1.3" || text == "TLSv1.3") return TlsVersion::kTls13;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown TLS version \"", text, "\" (expected 1.2 or 1.3)"));
}

absl::string_view TlsVersionName(TlsVersion version) {
  return version == TlsVersion::kTls12 ? "TLSv1.2" : "TLSv1.3";
}

int OpenSslProtocolVersion(TlsVersion version) {
  return version == TlsVersion::kTls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
}

bool IsHostName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxHostLength) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > kMaxLabelLength || label.front() == '-' ||
        label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return false;
      }
    }
  }
  return true;
}

bool IsIpLiteral(absl::string_view host) {
  const std::string text(host);
  in_addr v4;
  in6_addr v6;
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 ||
         inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

std::string TlsSettings::target() const {
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::Status ValidateTlsSettings(const TlsSettings& settings) {
  if (!IsIpLiteral(settings.host) && !IsHostName(settings.host)) {
    return absl::InvalidArgumentError(
        absl::StrCat("host \"", settings.host,
                     "\" is neither a DNS name nor an IP address"));
  }
  if (settings.port == 0) {
    return absl::InvalidArgumentError("the port must be 1 to 65535");
  }
  if (!settings.sni.empty() && !IsHostName(settings.sni)) {
    return absl::InvalidArgumentError(
        absl::StrCat("SNI \"", settings.sni, "\" is not a DNS name"));
  }
  if (settings.client_key == nullptr) {
    return absl::InvalidArgumentError("a client key is required");
  }
  if (settings.certificate_chain.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate is required (the chain is empty)");
  }
  for (X509* certificate : settings.certificate_chain) {
    if (certificate == nullptr) {
      return absl::InvalidArgumentError(
          "the client certificate chain has a null entry");
    }
  }
  if (settings.trust.empty()) {
    return absl::InvalidArgumentError(
        "no trust anchors for the server: give a PEM bundle, a file, or ask "
        "for the system store");
  }
  if (settings.min_version > settings.max_version) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the minimum TLS version (", TlsVersionName(settings.min_version),
        ") is above the maximum (", TlsVersionName(settings.max_version), ")"));
  }
  if (absl::Status s = CheckAlpn(settings.alpn); !s.ok()) return s;
  return CheckTimeouts(settings.timeouts);
}

}  // namespace keyhold::agent::tls
