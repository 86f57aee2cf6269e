// client::AgentClient against a real keyholdd: connection failures become
// the documented statuses, and each RPC's agent status arrives unchanged.
#include "client/agent_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <openssl/sha.h>

#include "tests/integration/agent_process.h"
#include "tests/status_matchers.h"
#include "tests/testing/openssl_cli.h"

namespace keyhold::client {
namespace {

using ::keyhold::testing::AgentProcess;
using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::keyhold::testing::TempDirectory;
using ::testing::AllOf;
using ::testing::HasSubstr;

class AgentClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(agent_, AgentProcess::Start());
    ASSERT_OK_AND_ASSIGN(client_, AgentClient::Connect(agent_->socket_path()));
  }

  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<AgentClient> client_;
};

TEST_F(AgentClientTest, StatusAnswers) {
  ASSERT_OK_AND_ASSIGN(v1::StatusResponse status, client_->Status());
  EXPECT_EQ(status.token().label(), "keyhold-agent");
}

TEST_F(AgentClientTest, KeyLifecycle) {
  ASSERT_OK_AND_ASSIGN(v1::Key made,
                       client_->GenerateKey("k", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN));
  EXPECT_EQ(made.label(), "k");
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Key> keys, client_->ListKeys());
  ASSERT_EQ(keys.size(), 1u);
  ASSERT_OK_AND_ASSIGN(v1::Key shown, client_->GetKey("k"));
  EXPECT_EQ(shown.id(), made.id());

  v1::SignRequest sign;
  sign.mutable_key()->set_label("k");
  sign.set_digest_algorithm(v1::DIGEST_ALGORITHM_SHA256);
  sign.set_digest(std::string(SHA256_DIGEST_LENGTH, '\x01'));
  ASSERT_OK_AND_ASSIGN(std::string signature, client_->Sign(sign));
  EXPECT_FALSE(signature.empty());

  EXPECT_THAT(client_->DeleteKey("k"), IsOk());
  EXPECT_THAT(client_->GetKey("k"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("\"k\"")));
}

TEST_F(AgentClientTest, AgentStatusesArriveUnchanged) {
  ASSERT_THAT(client_->GenerateKey("root", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_CA), IsOk());
  v1::SignRequest sign;
  sign.mutable_key()->set_label("root");
  sign.set_digest_algorithm(v1::DIGEST_ALGORITHM_SHA256);
  sign.set_digest(std::string(SHA256_DIGEST_LENGTH, '\x01'));
  EXPECT_THAT(client_->Sign(sign),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("CA key")));
  EXPECT_THAT(client_->ImportCertificate("root", "not a certificate"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("certificate")));
  EXPECT_THAT(client_->GenerateKey("root", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_CA),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
}

TEST_F(AgentClientTest, AStoppedAgentIsUnavailable) {
  ASSERT_OK_AND_ASSIGN(int code, agent_->Stop());
  ASSERT_EQ(code, 0);
  // The open connection is gone...
  EXPECT_THAT(client_->Status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("lost the connection to the agent at"),
                             HasSubstr("(is keyholdd running?)"))));
  // ...and a new one cannot be made.
  EXPECT_THAT(AgentClient::Connect(agent_->socket_path()),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("cannot reach the agent at " + agent_->socket_path()),
                             HasSubstr("No such file or directory"),
                             HasSubstr("(is keyholdd running?)"))));
}

TEST(AgentClientConnectTest, RefusedConnectionIsUnavailable) {
  ASSERT_OK_AND_ASSIGN(TempDirectory dir, TempDirectory::Create());
  const std::string path = dir.File("stale.sock");
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  close(fd);  // bound, never listened on
  EXPECT_THAT(AgentClient::Connect(path),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("Connection refused")));
}

TEST(AgentClientConnectTest, UnusablePathsAreInvalidArgument) {
  EXPECT_THAT(AgentClient::Connect(""), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(AgentClient::Connect("/" + std::string(200, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than")));
}

}  // namespace
}  // namespace keyhold::client
