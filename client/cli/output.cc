#include "client/cli/output.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <ctime>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"
#include "tokens/pem.h"

namespace keyhold::cli {

namespace {

struct OpenSslStringDeleter {
  void operator()(char* p) const { OPENSSL_free(p); }
};

std::string NameString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // RFC 2253 order and escaping, but UTF-8 kept as is (not \XX escaped).
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    return "";
  }
  return MemBioContents(bio.get());
}

std::string TimeString(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return "";
  char out[32];
  size_t n = std::strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(out, n);
}

std::string SerialString(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return "";
  std::unique_ptr<char, OpenSslStringDeleter> hex(BN_bn2hex(bn.get()));
  return hex ? absl::AsciiStrToLower(hex.get()) : "";
}

std::string YesNo(bool value) { return value ? "yes" : "no"; }

}  // namespace

void Emit(const GlobalOptions& global, const nlohmann::json& object, const std::string& text) {
  if (global.json) {
    // Replace rather than throw on invalid UTF-8 (certificate names are
    // untrusted bytes).
    std::cout << object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << text;
    if (!text.empty() && text.back() != '\n') std::cout << "\n";
  }
  std::cout.flush();
}

const std::vector<std::pair<std::string, v1::KeyType>>& KeyTypeNames() {
  static const auto* names = new std::vector<std::pair<std::string, v1::KeyType>>{
      {"ec-p256", v1::KEY_TYPE_EC_P256},   {"ec-p384", v1::KEY_TYPE_EC_P384},
      {"rsa-2048", v1::KEY_TYPE_RSA_2048}, {"rsa-3072", v1::KEY_TYPE_RSA_3072},
      {"rsa-4096", v1::KEY_TYPE_RSA_4096}, {"ed25519", v1::KEY_TYPE_ED25519},
  };
  return *names;
}

const std::vector<std::pair<std::string, v1::KeyPurpose>>& KeyPurposeNames() {
  static const auto* names = new std::vector<std::pair<std::string, v1::KeyPurpose>>{
      {"ca", v1::KEY_PURPOSE_CA},
      {"tls-client", v1::KEY_PURPOSE_TLS_CLIENT},
      {"sign", v1::KEY_PURPOSE_SIGN},
  };
  return *names;
}

std::optional<std::string> KeyTypeName(v1::KeyType type) {
  for (const auto& [name, value] : KeyTypeNames()) {
    if (value == type) return name;
  }
  return std::nullopt;
}

std::optional<std::string> KeyPurposeName(v1::KeyPurpose purpose) {
  for (const auto& [name, value] : KeyPurposeNames()) {
    if (value == purpose) return name;
  }
  return std::nullopt;
}

std::string HexEncode(const std::string& bytes) { return absl::BytesToHexString(bytes); }

absl::StatusOr<CertificateSummary> SummarizeCertificate(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    return OpenSslError("the stored certificate does not parse",
                        absl::StatusCode::kDataLoss);
  }
  CertificateSummary summary;
  summary.subject = NameString(X509_get_subject_name(cert.get()));
  summary.issuer = NameString(X509_get_issuer_name(cert.get()));
  summary.serial = SerialString(X509_get0_serialNumber(cert.get()));
  summary.not_before = TimeString(X509_get0_notBefore(cert.get()));
  summary.not_after = TimeString(X509_get0_notAfter(cert.get()));
  return summary;
}

nlohmann::json CertificateJson(const std::string& pem) {
  nlohmann::json out = {{"pem", pem}};
  absl::StatusOr<CertificateSummary> summary = SummarizeCertificate(pem);
  if (summary.ok()) {
    out["subject"] = summary->subject;
    out["issuer"] = summary->issuer;
    out["serial"] = summary->serial;
    out["not_before"] = summary->not_before;
    out["not_after"] = summary->not_after;
  } else {
    for (const char* field : {"subject", "issuer", "serial", "not_before", "not_after"}) {
      out[field] = nullptr;
    }
  }
  return out;
}

nlohmann::json KeyJson(const v1::Key& key) {
  nlohmann::json out;
  out["label"] = key.label();
  out["id"] = HexEncode(key.id());
  std::optional<std::string> type = KeyTypeName(key.type());
  out["type"] = type ? nlohmann::json(*type) : nlohmann::json(nullptr);
  std::optional<std::string> purpose = KeyPurposeName(key.purpose());
  out["purpose"] = purpose ? nlohmann::json(*purpose) : nlohmann::json(nullptr);
  out["uri"] = key.uri();
  out["public_key_pem"] = key.public_key_pem();
  if (key.has_protection()) {
    out["protection"] = {
        {"sensitive", key.protection().sensitive()},
        {"extractable", key.protection().extractable()},
        {"always_sensitive", key.protection().always_sensitive()},
        {"never_extractable", key.protection().never_extractable()},
    };
  } else {
    out["protection"] = nullptr;
  }
  out["certificate"] =
      key.certificate_pem().empty() ? nlohmann::json(nullptr) : CertificateJson(key.certificate_pem());
  return out;
}

std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& field : fields) width = std::max(width, field.first.size());
  std::string out;
  for (const auto& [name, value] : fields) {
    absl::StrAppend(&out, name, ":", std::string(width - name.size() + 2, ' '), value, "\n");
  }
  return out;
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string KeyText(const v1::Key& key) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"label", key.label()},
      {"id", HexEncode(key.id())},
      {"type", KeyTypeName(key.type()).value_or("unknown")},
      {"purpose", KeyPurposeName(key.purpose()).value_or("none")},
      {"uri", key.uri()},
  };
  if (key.has_protection()) {
    const v1::KeyProtection& p = key.protection();
    fields.push_back({"sensitive", YesNo(p.sensitive())});
    fields.push_back({"extractable", YesNo(p.extractable())});
    fields.push_back({"always sensitive", YesNo(p.always_sensitive())});
    fields.push_back({"never extractable", YesNo(p.never_extractable())});
  }
  if (key.certificate_pem().empty()) {
    fields.push_back({"certificate", "none"});
  } else if (absl::StatusOr<CertificateSummary> cert = SummarizeCertificate(key.certificate_pem());
             cert.ok()) {
    fields.push_back({"cert subject", cert->subject});
    fields.push_back({"cert issuer", cert->issuer});
    fields.push_back({"cert serial", cert->serial});
    fields.push_back({"cert not before", cert->not_before});
    fields.push_back({"cert not after", cert->not_after});
  } else {
    fields.push_back({"certificate", std::string(cert.status().message())});
  }
  return absl::StrCat(FormatFields(fields), key.public_key_pem());
}

}  // namespace keyhold::cli
