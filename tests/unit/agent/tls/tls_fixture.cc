#include "tests/unit/agent/tls/tls_fixture.h"

#include "absl/strings/str_cat.h"
#include "tests/status_matchers.h"

namespace keyhold::testing {

void TlsFixture::SetUp() {
  ASSERT_OK_AND_ASSIGN(env_, TlsTestEnv::Create());
  contexts_ = std::make_unique<agent::tls::ClientContextCache>();
  ASSERT_OK_AND_ASSIGN(loop_, agent::tls::EventLoop::Start());
}

absl::StatusOr<std::unique_ptr<OpensslServer>> TlsFixture::StartOpensslServer(
    const std::vector<std::string>& extra) {
  std::vector<std::string> args = {
      "-Verify", "1",
      "-CAfile", env_->client_ca_file(),
      "-cert",   env_->server_certificate_file(),
      "-key",    env_->server_key_file(),
  };
  args.insert(args.end(), extra.begin(), extra.end());
  return OpensslServer::Start(
      args, env_->File(absl::StrCat("s_server-", ++server_count_, ".log")));
}

absl::StatusOr<std::unique_ptr<TestTlsServer>> TlsFixture::StartTestServer(
    TestTlsServer::Options options) {
  if (options.certificate == nullptr) {
    options.certificate = env_->server_certificate();
  }
  if (options.key == nullptr) options.key = env_->server_key();
  if (options.client_ca == nullptr) options.client_ca = env_->client_ca();
  return TestTlsServer::Start(std::move(options));
}

}  // namespace keyhold::testing
