#include "tests/integration/softhsm_token.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace keyhold::testing {

absl::StatusOr<std::unique_ptr<SoftHsmToken>> SoftHsmToken::Create(
    const std::string& label) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp",
                                   "/keyhold-softhsm-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  std::unique_ptr<SoftHsmToken> token(new SoftHsmToken(templ, label));
  const std::string tokens = token->dir_ + "/tokens";
  std::filesystem::create_directory(tokens);
  const std::string conf = token->dir_ + "/softhsm2.conf";
  {
    std::ofstream out(conf);
    out << "directories.tokendir = " << tokens << "\n"
        << "objectstore.backend = file\n"
        << "log.level = ERROR\n"
        << "slots.removable = false\n";
  }
  {
    std::ofstream out(token->pin_file_);
    out << kTestPin << "\n";
  }
  chmod(token->pin_file_.c_str(), 0600);
  setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  absl::Status init = InitializeToken(kSoftHsmModule, label, Secret(kTestSoPin),
                                      Secret(kTestPin));
  if (!init.ok()) return init;
  return token;
}

SoftHsmToken::~SoftHsmToken() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

TokenConfig SoftHsmToken::config() const {
  TokenConfig config;
  config.module_path = kSoftHsmModule;
  config.uri = absl::StrCat("pkcs11:token=", label_);
  config.pin = PinSource::File(pin_file_);
  return config;
}

}  // namespace keyhold::testing
