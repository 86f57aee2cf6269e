// keyhold token init: local, without an agent.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/cli/cli_fixture.h"
#include "tests/integration/softhsm_token.h"
#include "tests/status_matchers.h"
#include "tokens/token.h"

namespace keyhold {
namespace {

using ::keyhold::testing::CliResult;
using ::keyhold::testing::Describe;
using ::keyhold::testing::RunKeyhold;
using ::keyhold::testing::TempDirectory;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// `token init` works without the agent, on a SoftHSM2 configuration of
// its own (SOFTHSM2_CONF for the child only).
class TokenInitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(dir_, TempDirectory::Create());
    std::filesystem::create_directory(dir_->File("tokens"));
    conf_ = dir_->File("softhsm2.conf");
    ASSERT_THAT(keyhold::testing::WriteFile(
                    conf_, absl::StrCat("directories.tokendir = ", dir_->File("tokens"),
                                        "\nobjectstore.backend = file\nlog.level = ERROR\n")),
                keyhold::testing::IsOk());
    so_pin_ = WritePin("so.pin", "so-pin-5678\n");
    pin_ = WritePin("user.pin", "user-pin-1234\n");
  }

  std::string WritePin(const std::string& name, const std::string& pin, mode_t mode = 0600) {
    const std::string path = dir_->File(name);
    EXPECT_THAT(keyhold::testing::WriteFile(path, pin), keyhold::testing::IsOk());
    chmod(path.c_str(), mode);
    return path;
  }

  CliResult Init(const std::string& label, const std::string& so_pin, const std::string& pin) {
    return RunKeyhold(*dir_,
                      {"token", "init", "--module", keyhold::testing::kSoftHsmModule, "--label",
                       label, "--so-pin-file", so_pin, "--pin-file", pin},
                      {{"SOFTHSM2_CONF", conf_}});
  }

  std::optional<TempDirectory> dir_;
  std::string conf_;
  std::string so_pin_;
  std::string pin_;
};

TEST_F(TokenInitTest, InitialisesOnceAndRefusesTheSameLabelAgain) {
  CliResult first = Init("fresh-token", so_pin_, pin_);
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  EXPECT_THAT(first.out, HasSubstr("pkcs11:token=fresh-token"));

  // The token is usable with the user PIN.
  setenv("SOFTHSM2_CONF", conf_.c_str(), 1);
  TokenConfig config;
  config.module_path = keyhold::testing::kSoftHsmModule;
  config.uri = "pkcs11:token=fresh-token";
  config.pin = PinSource::File(pin_);
  EXPECT_THAT(Token::Open(config), keyhold::testing::IsOk());

  CliResult second = Init("fresh-token", so_pin_, pin_);
  EXPECT_NE(second.exit_code, 0) << Describe(second);
  EXPECT_THAT(second.err, StartsWith("keyhold: token init: "));
  EXPECT_THAT(second.err, HasSubstr("already exists"));
}

TEST_F(TokenInitTest, RefusesAWorldReadablePinFile) {
  const std::string readable = WritePin("readable.pin", "user-pin-1234\n", 0644);
  CliResult r = Init("fresh-token", so_pin_, readable);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("chmod o-rwx"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("user-pin-1234")));
}

TEST_F(TokenInitTest, JsonReportsTheToken) {
  CliResult r = RunKeyhold(*dir_,
                           {"--json", "token", "init", "--module",
                            keyhold::testing::kSoftHsmModule, "--label", "j", "--so-pin-file",
                            so_pin_, "--pin-file", pin_},
                           {{"SOFTHSM2_CONF", conf_}});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  nlohmann::json out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["label"], "j");
  EXPECT_EQ(out["initialized"], true);
}

}  // namespace
}  // namespace keyhold
