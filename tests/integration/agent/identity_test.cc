// Caller identity end to end: the CLI run as another uid (setpriv, as
// nobody) is judged by the uid the kernel reports for its connection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "keyhold/v1/key_service.grpc.pb.h"
#include "tests/integration/agent_process.h"
#include "tests/status_matchers.h"

namespace keyhold {
namespace {

namespace v1 = ::keyhold::v1;
using ::keyhold::testing::AgentOptions;
using ::keyhold::testing::AgentProcess;
using ::testing::HasSubstr;

constexpr int kNobody = 65534;

struct ShellResult {
  int exit_code;
  std::string output;
};

// Runs `command` through /bin/sh, capturing stdout and stderr.
ShellResult Shell(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run the CLI as nobody";
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv missing";
    AgentOptions options;
    options.world_traversable_dir = true;
    options.socket_group_line = "socket_group = 65534";
    options.extra_config =
        "[[key]]\nlabel = \"for-nobody\"\npurpose = \"sign\"\nusers = [65534]\n"
        "[[key]]\nlabel = \"admins-only\"\npurpose = \"sign\"\n";
    ASSERT_OK_AND_ASSIGN(agent_, AgentProcess::Start(options));
    auto keys = v1::KeyService::NewStub(agent_->Channel());
    for (const char* label : {"for-nobody", "admins-only"}) {
      grpc::ClientContext ctx;
      v1::GenerateKeyRequest req;
      req.set_label(label);
      req.set_type(v1::KEY_TYPE_EC_P256);
      v1::Key key;
      ASSERT_TRUE(keys->GenerateKey(&ctx, req, &key).ok());
    }
    // A scratch directory nobody can write to.
    work_ = agent_->dir() + "/nobody";
    std::filesystem::create_directory(work_);
    chmod(work_.c_str(), 0777);
    std::ofstream(work_ + "/data.txt") << "signed by nobody\n";
    chmod((work_ + "/data.txt").c_str(), 0644);
  }

  ShellResult AsNobody(const std::string& args) {
    return Shell("/usr/bin/setpriv --reuid=" + std::to_string(kNobody) +
                 " --regid=" + std::to_string(kNobody) + " --clear-groups " +
                 testing::KeyholdCliPath() + " --socket " + agent_->socket_path() + " " + args);
  }

  std::unique_ptr<AgentProcess> agent_;
  std::string work_;
};

TEST_F(IdentityTest, AllowedUidSignsAndTheSignatureVerifies) {
  ShellResult sign = AsNobody("sign for-nobody --digest sha256 --in " + work_ + "/data.txt --out " +
                      work_ + "/data.sig");
  ASSERT_EQ(sign.exit_code, 0) << sign.output;
  ShellResult show = Shell(testing::KeyholdCliPath() + " --socket " + agent_->socket_path() +
                   " key show for-nobody | sed -n '/BEGIN PUBLIC/,/END PUBLIC/p' > " + work_ +
                   "/pub.pem");
  ASSERT_EQ(show.exit_code, 0) << show.output;
  ShellResult verify = Shell("openssl dgst -sha256 -verify " + work_ + "/pub.pem -signature " + work_ +
                     "/data.sig " + work_ + "/data.txt");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(agent_->ReadAuditLog(), HasSubstr("\"uid\":65534"));
}

TEST_F(IdentityTest, OtherUidIsDeniedAndAudited) {
  ShellResult sign = AsNobody("sign admins-only --digest sha256 --in " + work_ + "/data.txt --out " +
                      work_ + "/denied.sig");
  EXPECT_EQ(sign.exit_code, 4) << sign.output;
  EXPECT_THAT(sign.output, HasSubstr("uid 65534 may not use key \"admins-only\""));
  EXPECT_FALSE(std::filesystem::exists(work_ + "/denied.sig"));
  const std::string audit = agent_->ReadAuditLog();
  // The CLI looks the key up (GetKey) before signing; the first call that
  // touches the key is the one refused. Audit fields are in key order.
  EXPECT_THAT(audit, ::testing::ContainsRegex(
                         "\"uid\":65534.*\"label\":\"admins-only\".*"
                         "\"op\":\"KeyService\\.(GetKey|Sign)\".*\"result\":\"denied\""));
}

TEST_F(IdentityTest, NonAdminCannotGenerateOrDelete) {
  ShellResult gen = AsNobody("key generate sneaky --type ec-p256 --purpose sign");
  EXPECT_EQ(gen.exit_code, 4) << gen.output;
  ShellResult del = AsNobody("key delete for-nobody --yes");
  EXPECT_EQ(del.exit_code, 4) << del.output;
}

TEST_F(IdentityTest, ListShowsOnlyTheCallersKeys) {
  ShellResult list = AsNobody("--json key list");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("for-nobody"));
  EXPECT_THAT(list.output, ::testing::Not(HasSubstr("admins-only")));
}

}  // namespace
}  // namespace keyhold
