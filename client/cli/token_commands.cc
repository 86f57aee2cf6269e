// keyhold token init: prepares a PKCS#11 token (e.g. a SoftHSM2 slot)
// locally, without the agent, before keyholdd is first started on it. PINs
// come from files (never argv) that other users may not read.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>  // CLI11's parts are not self-contained headers

#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/output.h"
#include "tokens/pin_source.h"
#include "tokens/secret.h"
#include "tokens/token.h"

namespace keyhold::cli {

namespace {

struct InitOptions {
  std::string module;
  std::string label;
  std::string so_pin_file;
  std::string pin_file;
};

absl::Status RunInit(const CommandContext& context, const InitOptions& options) {
  absl::StatusOr<Secret> so_pin = PinSource::File(options.so_pin_file).Read();
  if (!so_pin.ok()) return so_pin.status();
  absl::StatusOr<Secret> user_pin = PinSource::File(options.pin_file).Read();
  if (!user_pin.ok()) return user_pin.status();
  if (absl::Status s = InitializeToken(options.module, options.label, *so_pin, *user_pin);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("token init: ", s.message()));
  }
  Emit(context.global,
       {{"module", options.module}, {"label", options.label}, {"initialized", true}},
       absl::StrCat("initialised token \"", options.label, "\" in ", options.module,
                    "\nuse it in keyholdd's config as uri = \"pkcs11:token=", options.label,
                    "\"\n"));
  return absl::OkStatus();
}

}  // namespace

void AddTokenCommands(CLI::App& app, CommandContext& context) {
  CLI::App* token = app.add_subcommand("token", "Prepare a PKCS#11 token (locally, no agent)");
  token->require_subcommand(1);

  auto options = std::make_shared<InitOptions>();
  CLI::App* init = token->add_subcommand(
      "init", "Initialise the module's first uninitialised token with a label, SO PIN and "
              "user PIN");
  init->add_option("--module", options->module,
                   "PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so")
      ->required()
      ->check(CLI::ExistingFile);
  init->add_option("--label", options->label, "The token's label, 1-32 characters")->required();
  init->add_option("--so-pin-file", options->so_pin_file,
                   "File holding the security officer PIN (not readable by other users)")
      ->required()
      ->check(CLI::ExistingFile);
  init->add_option("--pin-file", options->pin_file,
                   "File holding the user PIN keyholdd will log in with (not readable by "
                   "other users)")
      ->required()
      ->check(CLI::ExistingFile);
  init->callback([&context, options] { context.result = RunInit(context, *options); });
}

}  // namespace keyhold::cli
