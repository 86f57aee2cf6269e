// keyhold ca init | sign | list | revoke | crl, and keyhold csr create: the
// CA on the agent's token (docs/ca.md, docs/cli.md).
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>  // CLI11's parts are not self-contained headers

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cli/commands.h"
#include "client/cli/local_files.h"
#include "client/cli/output.h"

namespace keyhold::cli {

namespace {

// Matches the agent's largest CSR limit (ca.max_csr_bytes); the agent
// applies the CA's own, usually smaller, limit.
constexpr size_t kMaxCsrFileBytes = 1 << 20;

std::string Iso8601(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

// PEM text to --out (atomically) or, without it, to stdout.
absl::Status Deliver(const CommandContext& context, const std::string& out, const std::string& pem,
                     nlohmann::json json, const std::string& what) {
  if (!out.empty()) {
    if (absl::Status s = WriteFileAtomically(out, pem); !s.ok()) return s;
    json["file"] = out;
    Emit(context.global, json, absl::StrCat("wrote ", what, " to ", out, "\n"));
  } else {
    Emit(context.global, json, pem);
  }
  return absl::OkStatus();
}

nlohmann::json RecordJson(const v1::IssuedCertificate& record) {
  nlohmann::json out = {{"serial", record.serial_hex()},
                        {"subject", record.subject()},
                        {"subject_alt_names", record.subject_alt_names()},
                        {"profile", record.profile()},
                        {"not_before", Iso8601(record.not_before())},
                        {"not_after", Iso8601(record.not_after())},
                        {"issued_at", Iso8601(record.issued_at())},
                        {"caller_uid", record.caller_uid()},
                        {"status", record.revoked() ? "revoked" : "valid"}};
  if (record.revoked()) {
    out["revoked_at"] = Iso8601(record.revoked_at());
    out["revocation_reason"] = record.revocation_reason();
  }
  return out;
}

struct InitOptions {
  std::string label;
  std::string subject;
  uint32_t days = 0;
  std::string parent;
  int path_length = -1;
  std::string generate;
  std::string out;
};

absl::Status RunInit(const CommandContext& context, const InitOptions& options) {
  v1::InitCaRequest request;
  request.set_label(options.label);
  request.set_subject(options.subject);
  request.set_days(options.days);
  request.set_parent(options.parent);
  if (options.path_length >= 0) {
    if (options.parent.empty()) return UsageError("--pathlen is only for an intermediate (--parent)");
    request.set_path_length(static_cast<uint32_t>(options.path_length));
  }
  if (!options.generate.empty()) {
    for (const auto& [name, type] : KeyTypeNames()) {
      if (name == options.generate) request.set_generate(type);
    }
  }
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<v1::CaCertificate> ca = (*agent)->InitCa(request);
  if (!ca.ok()) return ca.status();
  return Deliver(context, options.out, ca->certificate_pem(),
                 {{"label", ca->label()}, {"certificate", CertificateJson(ca->certificate_pem())}},
                 "the CA certificate");
}

struct SignOptions {
  std::string ca;
  std::string profile;
  std::string csr_file;
  uint32_t days = 0;
  std::vector<std::string> sans;
  std::string out;
  bool chain = false;
};

absl::Status RunSign(const CommandContext& context, const SignOptions& options) {
  absl::StatusOr<std::string> csr = ReadSmallFile(options.csr_file, kMaxCsrFileBytes, "CSR file");
  if (!csr.ok()) return csr.status();
  v1::SignCsrRequest request;
  request.set_ca(options.ca);
  request.set_profile(options.profile);
  request.set_csr(*std::move(csr));
  request.set_days(options.days);
  for (const std::string& san : options.sans) request.add_subject_alt_names(san);
  request.set_include_chain(options.chain);
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<v1::SignCsrResponse> issued = (*agent)->SignCsr(request);
  if (!issued.ok()) return issued.status();
  nlohmann::json json = RecordJson(issued->record());
  json["certificate"] = CertificateJson(issued->certificate_pem());
  if (options.chain) json["chain_pem"] = issued->chain_pem();
  return Deliver(context, options.out, issued->certificate_pem() + issued->chain_pem(),
                 std::move(json), options.chain ? "the certificate and chain" : "the certificate");
}

absl::Status RunList(const CommandContext& context, const std::string& ca) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  v1::ListCertificatesRequest request;
  request.set_ca(ca);
  absl::StatusOr<v1::ListCertificatesResponse> list = (*agent)->ListCertificates(request);
  if (!list.ok()) return list.status();
  nlohmann::json certificates = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {
      {"SERIAL", "STATUS", "PROFILE", "NOT AFTER", "SUBJECT"}};
  for (const v1::IssuedCertificate& record : list->certificates()) {
    certificates.push_back(RecordJson(record));
    rows.push_back({record.serial_hex(),
                    record.revoked() ? absl::StrCat("revoked (", record.revocation_reason(), ")")
                                     : "valid",
                    record.profile(), Iso8601(record.not_after()), record.subject()});
  }
  Emit(context.global, {{"ca", ca}, {"certificates", certificates}}, FormatTable(rows));
  return absl::OkStatus();
}

struct RevokeOptions {
  std::string ca;
  std::string serial;
  std::string reason;
};

absl::Status RunRevoke(const CommandContext& context, const RevokeOptions& options) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  v1::RevokeRequest request;
  request.set_ca(options.ca);
  request.set_serial_hex(options.serial);
  request.set_reason(options.reason);
  absl::StatusOr<v1::IssuedCertificate> record = (*agent)->Revoke(request);
  if (!record.ok()) return record.status();
  Emit(context.global, RecordJson(*record),
       absl::StrCat("revoked ", record->serial_hex(), " (", record->subject(), "), reason ",
                    record->revocation_reason(), "\n"));
  return absl::OkStatus();
}

struct CrlOptions {
  std::string ca;
  uint32_t days = 0;
  std::string out;
};

absl::Status RunCrl(const CommandContext& context, const CrlOptions& options) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  v1::GenerateCrlRequest request;
  request.set_ca(options.ca);
  request.set_days(options.days);
  absl::StatusOr<v1::GenerateCrlResponse> crl = (*agent)->GenerateCrl(request);
  if (!crl.ok()) return crl.status();
  return Deliver(context, options.out, crl->crl_pem(),
                 {{"ca", options.ca}, {"crl_number", crl->crl_number()}, {"pem", crl->crl_pem()}},
                 absl::StrCat("CRL number ", crl->crl_number()));
}

struct CsrOptions {
  std::string label;
  std::string subject;
  std::vector<std::string> sans;
  std::string out;
};

absl::Status RunCsrCreate(const CommandContext& context, const CsrOptions& options) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  v1::CreateCsrRequest request;
  request.mutable_key()->set_label(options.label);
  request.set_subject(options.subject);
  for (const std::string& san : options.sans) request.add_subject_alt_names(san);
  absl::StatusOr<v1::CreateCsrResponse> csr = (*agent)->CreateCsr(request);
  if (!csr.ok()) return csr.status();
  return Deliver(context, options.out, csr->csr_pem(),
                 {{"label", options.label}, {"csr_pem", csr->csr_pem()}}, "the CSR");
}

constexpr char kSanHelp[] =
    "Subject alternative names: DNS:host, IP:addr, email:x, URI:u (comma-separated or "
    "repeated)";

}  // namespace

void AddCaCommands(CLI::App& app, CommandContext& context) {
  CLI::App* ca = app.add_subcommand("ca", "The CA whose key is on the token");
  ca->require_subcommand(1);

  auto init = std::make_shared<InitOptions>();
  CLI::App* init_cmd = ca->add_subcommand(
      "init", "Make the CA certificate for a ca key: a root, or with --parent an intermediate "
              "(admins only)");
  init_cmd->add_option("LABEL", init->label, "The CA key's label")->required();
  init_cmd->add_option("--subject", init->subject, "\"/C=BR/ST=SP/O=Example/CN=Example Root CA\"")
      ->required();
  init_cmd->add_option("--days", init->days, "Validity (root 3650, intermediate 1825 by default)")
      ->check(CLI::Range(1, 36500));
  init_cmd->add_option("--parent", init->parent, "Label of the CA that signs this intermediate");
  init_cmd->add_option("--pathlen", init->path_length, "Intermediate pathlen (default 0)")
      ->check(CLI::Range(0, 16));
  std::vector<std::string> type_names;
  for (const auto& entry : KeyTypeNames()) type_names.push_back(entry.first);
  init_cmd->add_option("--generate", init->generate, "Generate the key first, of this type")
      ->check(CLI::IsMember(type_names));
  init_cmd->add_option("--out", init->out, "Write the certificate (PEM) here instead of stdout");
  init_cmd->callback([&context, init] { context.result = RunInit(context, *init); });

  auto sign = std::make_shared<SignOptions>();
  CLI::App* sign_cmd = ca->add_subcommand("sign", "Verify a CSR and issue a certificate");
  sign_cmd->add_option("CALABEL", sign->ca, "The CA key's label")->required();
  sign_cmd->add_option("--profile", sign->profile, "server, client, intermediate or a configured "
                                                   "profile")
      ->required();
  sign_cmd->add_option("--csr", sign->csr_file, "The CSR, PEM or DER")
      ->required()
      ->check(CLI::ExistingFile);
  sign_cmd->add_option("--days", sign->days, "Validity (default: the profile's)")
      ->check(CLI::Range(1, 36500));
  sign_cmd->add_option("--san", sign->sans, kSanHelp);
  sign_cmd->add_option("--out", sign->out, "Write the certificate (PEM) here instead of stdout");
  sign_cmd->add_flag("--chain", sign->chain, "Append the CA certificate(s) after the certificate");
  sign_cmd->callback([&context, sign] { context.result = RunSign(context, *sign); });

  auto list_ca = std::make_shared<std::string>();
  CLI::App* list_cmd = ca->add_subcommand("list", "List the certificates a CA issued");
  list_cmd->add_option("CALABEL", *list_ca, "The CA key's label")->required();
  list_cmd->callback([&context, list_ca] { context.result = RunList(context, *list_ca); });

  auto revoke = std::make_shared<RevokeOptions>();
  CLI::App* revoke_cmd = ca->add_subcommand("revoke", "Revoke an issued certificate (admins only)");
  revoke_cmd->add_option("CALABEL", revoke->ca, "The CA key's label")->required();
  revoke_cmd->add_option("--serial", revoke->serial, "The certificate's serial, hex")->required();
  revoke_cmd->add_option("--reason", revoke->reason,
                         "keyCompromise, cACompromise, affiliationChanged, superseded, "
                         "cessationOfOperation, certificateHold, privilegeWithdrawn, "
                         "aACompromise (default: unspecified)");
  revoke_cmd->callback([&context, revoke] { context.result = RunRevoke(context, *revoke); });

  auto crl = std::make_shared<CrlOptions>();
  CLI::App* crl_cmd = ca->add_subcommand("crl", "Issue the CA's next CRL, signed on the token");
  crl_cmd->add_option("CALABEL", crl->ca, "The CA key's label")->required();
  crl_cmd->add_option("--days", crl->days, "Until nextUpdate (default 30)")
      ->check(CLI::Range(1, 366));
  crl_cmd->add_option("--out", crl->out, "Write the CRL (PEM) here instead of stdout");
  crl_cmd->callback([&context, crl] { context.result = RunCrl(context, *crl); });

  CLI::App* csr = app.add_subcommand("csr", "Certificate signing requests for token keys");
  csr->require_subcommand(1);
  auto create = std::make_shared<CsrOptions>();
  CLI::App* create_cmd =
      csr->add_subcommand("create", "Make a CSR signed by the token key (proof of possession)");
  create_cmd->add_option("LABEL", create->label, "The key's label")->required();
  create_cmd->add_option("--subject", create->subject, "\"/CN=client\"")->required();
  create_cmd->add_option("--san", create->sans, kSanHelp);
  create_cmd->add_option("--out", create->out, "Write the CSR (PEM) here instead of stdout");
  create_cmd->callback([&context, create] { context.result = RunCsrCreate(context, *create); });
}

}  // namespace keyhold::cli
