// How `keyhold` prints results: text for people, or (--json) exactly one
// JSON object per command on one line, with the fields docs/cli.md lists.
// The JSON shapes built here are a contract with scripts: add fields, never
// rename or remove them.
#ifndef KEYHOLD_CLIENT_CLI_OUTPUT_H_
#define KEYHOLD_CLIENT_CLI_OUTPUT_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "client/cli/commands.h"
#include "keyhold/v1/keys.pb.h"

namespace keyhold::cli {

// Writes `object` (in --json mode) or `text` (otherwise) to stdout.
void Emit(const GlobalOptions& global, const nlohmann::json& object, const std::string& text);

// CLI spellings: "ec-p256" ... "ed25519"; "ca", "tls-client", "sign".
const std::vector<std::pair<std::string, v1::KeyType>>& KeyTypeNames();
const std::vector<std::pair<std::string, v1::KeyPurpose>>& KeyPurposeNames();
// The CLI spelling, or nullopt for UNSPECIFIED / values this CLI predates.
std::optional<std::string> KeyTypeName(v1::KeyType type);
std::optional<std::string> KeyPurposeName(v1::KeyPurpose purpose);

std::string HexEncode(const std::string& bytes);

// What `keyhold` shows of a stored certificate. Names are RFC 2253 strings,
// times ISO 8601 UTC ("2026-01-31T12:00:00Z"), the serial in hex.
struct CertificateSummary {
  std::string subject;
  std::string issuer;
  std::string serial;
  std::string not_before;
  std::string not_after;
};
absl::StatusOr<CertificateSummary> SummarizeCertificate(const std::string& pem);

// {"pem", "subject", "issuer", "serial", "not_before", "not_after"}; the
// parsed fields are null if the PEM does not parse.
nlohmann::json CertificateJson(const std::string& pem);
// {"label", "id", "type", "purpose", "uri", "public_key_pem",
//  "protection", "certificate"}; see docs/cli.md.
nlohmann::json KeyJson(const v1::Key& key);

// "label: value" lines with the values aligned.
std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields);
// Rows of cells, columns padded to their widest cell, two spaces apart.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);
// A key's attributes, protection flags, certificate summary and public key
// PEM, as `keyhold key show` prints them.
std::string KeyText(const v1::Key& key);

}  // namespace keyhold::cli

#endif  // KEYHOLD_CLIENT_CLI_OUTPUT_H_
