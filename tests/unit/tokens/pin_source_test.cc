#include "tokens/pin_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/status_matchers.h"

namespace keyhold {
namespace {

using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class PinSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = std::filesystem::temp_directory_path() / "pin-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content,
                    mode_t mode = 0600) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    chmod(path.c_str(), mode);
    return path;
  }

  std::string dir_;
};

TEST_F(PinSourceTest, FileDropsOneTrailingNewline) {
  ASSERT_OK_AND_ASSIGN(Secret pin, PinSource::File(Write("pin", "1234\n")).Read());
  EXPECT_EQ(pin.Reveal(), "1234");
}

TEST_F(PinSourceTest, FileDropsCrLf) {
  ASSERT_OK_AND_ASSIGN(Secret pin, PinSource::File(Write("pin", "1234\r\n")).Read());
  EXPECT_EQ(pin.Reveal(), "1234");
}

TEST_F(PinSourceTest, FileReadableByOthersIsRefused) {
  EXPECT_THAT(PinSource::File(Write("pin", "1234", 0644)).Read(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("chmod o-rwx")));
}

TEST_F(PinSourceTest, MissingFileNamesThePath) {
  EXPECT_THAT(PinSource::File(dir_ + "/absent").Read(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(dir_ + "/absent")));
}

TEST_F(PinSourceTest, EmptyPinIsRefused) {
  EXPECT_THAT(PinSource::File(Write("pin", "\n")).Read(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST_F(PinSourceTest, MultiLinePinIsRefusedWithoutEchoingIt) {
  absl::StatusOr<Secret> pin = PinSource::File(Write("pin", "12\n34\n")).Read();
  EXPECT_THAT(pin, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("more than one line")));
  EXPECT_THAT(std::string(pin.status().message()), Not(HasSubstr("34")));
}

TEST_F(PinSourceTest, OverlongPinIsRefused) {
  EXPECT_THAT(PinSource::File(Write("pin", std::string(300, '7'))).Read(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer")));
}

TEST_F(PinSourceTest, EnvironmentVariable) {
  setenv("KEYHOLD_PIN_SOURCE_TEST", "9876", 1);
  ASSERT_OK_AND_ASSIGN(Secret pin, PinSource::Env("KEYHOLD_PIN_SOURCE_TEST").Read());
  EXPECT_EQ(pin.Reveal(), "9876");
  unsetenv("KEYHOLD_PIN_SOURCE_TEST");
  EXPECT_THAT(PinSource::Env("KEYHOLD_PIN_SOURCE_TEST").Read(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not set")));
}

TEST_F(PinSourceTest, SystemdCredential) {
  Write("pin", "4321\n", 0400);
  setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  ASSERT_OK_AND_ASSIGN(Secret pin, PinSource::Credential("pin").Read());
  EXPECT_EQ(pin.Reveal(), "4321");
  unsetenv("CREDENTIALS_DIRECTORY");
}

TEST_F(PinSourceTest, CredentialWithoutCredentialsDirectoryIsExplained) {
  unsetenv("CREDENTIALS_DIRECTORY");
  EXPECT_THAT(PinSource::Credential("pin").Read(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("LoadCredential=")));
}

TEST_F(PinSourceTest, CredentialNameCannotEscapeTheDirectory) {
  setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  EXPECT_THAT(PinSource::Credential("../etc/shadow").Read(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("plain file name")));
  unsetenv("CREDENTIALS_DIRECTORY");
}

TEST_F(PinSourceTest, DescribeNeverHoldsThePin) {
  EXPECT_EQ(PinSource::Env("X").Describe(), "environment variable X");
  EXPECT_EQ(PinSource::File("/etc/keyhold/pin").Describe(), "PIN file /etc/keyhold/pin");
}

}  // namespace
}  // namespace keyhold
