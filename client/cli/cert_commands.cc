// keyhold cert import | show: the certificate stored next to a key.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>  // CLI11's parts are not self-contained headers

#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/local_files.h"
#include "client/cli/output.h"

namespace keyhold::cli {

namespace {

// The agent's limit for ImportCertificateRequest.certificate.
constexpr size_t kMaxCertificateBytes = 64 * 1024;

nlohmann::json CertificateResult(const v1::Key& key) {
  return {{"label", key.label()}, {"certificate", CertificateJson(key.certificate_pem())}};
}

struct ImportOptions {
  std::string label;
  std::string file;
};

absl::Status RunImport(const CommandContext& context, const ImportOptions& options) {
  absl::StatusOr<std::string> certificate =
      ReadSmallFile(options.file, kMaxCertificateBytes, "certificate file");
  if (!certificate.ok()) return certificate.status();
  if (certificate->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("certificate file ", options.file, " is empty"));
  }
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<v1::Key> key = (*agent)->ImportCertificate(options.label, *std::move(certificate));
  if (!key.ok()) return key.status();

  std::string text = absl::StrCat("stored the certificate for key \"", key->label(), "\"\n");
  if (absl::StatusOr<CertificateSummary> summary = SummarizeCertificate(key->certificate_pem());
      summary.ok()) {
    absl::StrAppend(&text, FormatFields({{"subject", summary->subject},
                                         {"issuer", summary->issuer},
                                         {"not after", summary->not_after}}));
  }
  Emit(context.global, CertificateResult(*key), text);
  return absl::OkStatus();
}

absl::Status RunShow(const CommandContext& context, const std::string& label) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<v1::Key> key = (*agent)->GetKey(label);
  if (!key.ok()) return key.status();
  if (key->certificate_pem().empty()) {
    return absl::NotFoundError(absl::StrCat("key \"", key->label(), "\" has no certificate"));
  }
  // Text output is the PEM alone, so `keyhold cert show k > k.pem` works.
  Emit(context.global, CertificateResult(*key), key->certificate_pem());
  return absl::OkStatus();
}

}  // namespace

void AddCertCommands(CLI::App& app, CommandContext& context) {
  CLI::App* cert = app.add_subcommand("cert", "Store and show the certificate of a key");
  cert->require_subcommand(1);

  auto import_options = std::make_shared<ImportOptions>();
  CLI::App* import = cert->add_subcommand(
      "import", "Store a certificate (PEM or DER) next to its key (admins only)");
  import->add_option("LABEL", import_options->label, "The key's label")->required();
  import->add_option("FILE", import_options->file,
                     "The certificate, PEM or DER, at most 64 KiB; its public key must be "
                     "the key's")
      ->required()
      ->check(CLI::ExistingFile);
  import->callback([&context, import_options] {
    context.result = RunImport(context, *import_options);
  });

  auto show_label = std::make_shared<std::string>();
  CLI::App* show = cert->add_subcommand("show", "Print a key's certificate as PEM");
  show->add_option("LABEL", *show_label, "The key's label")->required();
  show->callback([&context, show_label] { context.result = RunShow(context, *show_label); });
}

}  // namespace keyhold::cli
