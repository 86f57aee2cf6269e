// keyhold key generate | list | show | delete: keys on the agent's token.
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>  // CLI11's parts are not self-contained headers

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/output.h"
#include "client/provider/key_reference.h"

namespace keyhold::cli {

namespace {

template <typename Enum>
std::vector<std::string> NamesOf(const std::vector<std::pair<std::string, Enum>>& table) {
  std::vector<std::string> names;
  for (const auto& entry : table) names.push_back(entry.first);
  return names;
}

template <typename Enum>
Enum ValueOf(const std::vector<std::pair<std::string, Enum>>& table, const std::string& name,
             Enum fallback) {
  for (const auto& [entry_name, value] : table) {
    if (entry_name == name) return value;
  }
  return fallback;
}

struct GenerateOptions {
  std::string label;
  std::string type;
  std::string purpose;  // empty: the purpose the agent's config gives the label
};

absl::Status RunGenerate(const CommandContext& context, const GenerateOptions& options) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<v1::Key> key = (*agent)->GenerateKey(
      options.label, ValueOf(KeyTypeNames(), options.type, v1::KEY_TYPE_UNSPECIFIED),
      ValueOf(KeyPurposeNames(), options.purpose, v1::KEY_PURPOSE_UNSPECIFIED));
  if (options.purpose.empty() && absl::IsInvalidArgument(key.status()) &&
      absl::StartsWith(key.status().message(), "purpose:")) {
    // The agent found no purpose for the label in its config either.
    return UsageError(absl::StrCat("--purpose ca|tls-client|sign is required: the agent's "
                                   "config names no purpose for key \"", options.label, "\""));
  }
  if (!key.ok()) return key.status();
  Emit(context.global, KeyJson(*key), KeyText(*key));
  return absl::OkStatus();
}

absl::Status RunList(const CommandContext& context) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<std::vector<v1::Key>> keys = (*agent)->ListKeys();
  if (!keys.ok()) return keys.status();

  nlohmann::json list = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {{"LABEL", "TYPE", "PURPOSE", "ID", "CERTIFICATE"}};
  for (const v1::Key& key : *keys) {
    list.push_back(KeyJson(key));
    std::string certificate = "-";
    if (!key.certificate_pem().empty()) {
      absl::StatusOr<CertificateSummary> summary = SummarizeCertificate(key.certificate_pem());
      certificate = summary.ok()
                        ? absl::StrCat(summary->subject, " (until ", summary->not_after, ")")
                        : "unreadable";
    }
    rows.push_back({key.label(), KeyTypeName(key.type()).value_or("unknown"),
                    KeyPurposeName(key.purpose()).value_or("-"), HexEncode(key.id()),
                    certificate});
  }
  const std::string text =
      keys->empty() ? "no keys (none on the token, or none you may use)\n" : FormatTable(rows);
  Emit(context.global, nlohmann::json{{"keys", list}}, text);
  return absl::OkStatus();
}

// The key family a reference file records, from the agent's key type.
absl::StatusOr<KeyFamily> FamilyOfKeyType(v1::KeyType type) {
  switch (type) {
    case v1::KEY_TYPE_EC_P256:
    case v1::KEY_TYPE_EC_P384: return KeyFamily::kEc;
    case v1::KEY_TYPE_RSA_2048:
    case v1::KEY_TYPE_RSA_3072:
    case v1::KEY_TYPE_RSA_4096: return KeyFamily::kRsa;
    case v1::KEY_TYPE_ED25519: return KeyFamily::kEd25519;
    default:
      return absl::FailedPreconditionError(
          "cannot write a key reference for a key of a type this CLI does not know");
  }
}

struct ShowOptions {
  std::string label;
  bool reference = false;
};

absl::Status RunShow(const CommandContext& context, const ShowOptions& options) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<v1::Key> key = (*agent)->GetKey(options.label);
  if (!key.ok()) return key.status();
  if (!options.reference) {
    Emit(context.global, KeyJson(*key), KeyText(*key));
    return absl::OkStatus();
  }
  absl::StatusOr<KeyFamily> family = FamilyOfKeyType(key->type());
  if (!family.ok()) return family.status();
  const std::string pem = provider_module::KeyReferencePem(
      {.label = key->label(), .id = key->id(), .family = *family});
  if (pem.empty()) return absl::InternalError("could not encode the key reference");
  Emit(context.global, {{"label", key->label()}, {"reference_pem", pem}}, pem);
  return absl::OkStatus();
}

struct DeleteOptions {
  std::string label;
  bool yes = false;
};

absl::Status RunDelete(const CommandContext& context, const DeleteOptions& options) {
  if (!options.yes) {
    return UsageError(absl::StrCat(
        "not deleting key \"", options.label,
        "\" without --yes: the key pair and its certificate are destroyed for good"));
  }
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  if (absl::Status s = (*agent)->DeleteKey(options.label); !s.ok()) return s;
  Emit(context.global, {{"label", options.label}, {"deleted", true}},
       absl::StrCat("deleted key \"", options.label, "\" and its certificate\n"));
  return absl::OkStatus();
}

}  // namespace

void AddKeyCommands(CLI::App& app, CommandContext& context) {
  CLI::App* key = app.add_subcommand("key", "Generate, list, show and delete keys on the token");
  key->require_subcommand(1);

  auto generate_options = std::make_shared<GenerateOptions>();
  CLI::App* generate = key->add_subcommand(
      "generate", "Generate a non-exportable key pair on the agent's token (admins only)");
  generate->add_option("LABEL", generate_options->label,
                       "The new key's label: 1-64 characters from A-Z a-z 0-9 . _ -")
      ->required();
  generate->add_option("--type", generate_options->type, "Key type")
      ->required()
      ->check(CLI::IsMember(NamesOf(KeyTypeNames())));
  generate->add_option("--purpose", generate_options->purpose,
                       "What the key may do; may be left out when the agent's config "
                       "names the label")
      ->check(CLI::IsMember(NamesOf(KeyPurposeNames())));
  generate->callback([&context, generate_options] {
    context.result = RunGenerate(context, *generate_options);
  });

  CLI::App* list = key->add_subcommand("list", "List the keys you may use");
  list->callback([&context] { context.result = RunList(context); });

  auto show_options = std::make_shared<ShowOptions>();
  CLI::App* show = key->add_subcommand(
      "show", "Show a key's attributes, protection flags, certificate and public key");
  show->add_option("LABEL", show_options->label, "The key's label")->required();
  show->add_flag("--reference", show_options->reference,
                 "Print a PEM key reference (label and id, no secret) for the "
                 "keyhold-provider OpenSSL module instead");
  show->callback([&context, show_options] { context.result = RunShow(context, *show_options); });

  auto delete_options = std::make_shared<DeleteOptions>();
  CLI::App* remove = key->add_subcommand(
      "delete", "Destroy a key pair and its certificate (admins only; needs --yes)");
  remove->add_option("LABEL", delete_options->label, "The key's label")->required();
  remove->add_flag("--yes", delete_options->yes,
                   "Confirm that the key is to be destroyed; nothing is deleted without it");
  remove->callback([&context, delete_options] {
    context.result = RunDelete(context, *delete_options);
  });
}

}  // namespace keyhold::cli
