// The fixture of the agent/tls network tests: a TlsTestEnv, an EventLoop,
// a ClientContextCache, and one-line starts for the peers (openssl
// s_server requiring a client certificate; the in-process TestTlsServer).
#ifndef KEYHOLD_TESTS_UNIT_AGENT_TLS_TLS_FIXTURE_H_
#define KEYHOLD_TESTS_UNIT_AGENT_TLS_TLS_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/tls/client_context_cache.h"
#include "agent/tls/event_loop.h"
#include "tests/unit/agent/tls/openssl_server.h"
#include "tests/unit/agent/tls/test_tls_server.h"
#include "tests/unit/agent/tls/tls_test_env.h"

namespace keyhold::testing {

class TlsFixture : public ::testing::Test {
 protected:
  void SetUp() override;

  // `openssl s_server -Verify 1 -CAfile <client CA> -cert ... -key ...
  // <extra>` (e.g. {"-tls1_2", "-www"}).
  absl::StatusOr<std::unique_ptr<OpensslServer>> StartOpensslServer(
      const std::vector<std::string>& extra);

  // A TestTlsServer with the env's server certificate and client CA
  // filled in where `options` leaves them null.
  absl::StatusOr<std::unique_ptr<TestTlsServer>> StartTestServer(
      TestTlsServer::Options options);

  // Destroyed in reverse: the loop (joins its thread), the cache (SSL_CTXs
  // in the env's library context), then the env.
  std::unique_ptr<TlsTestEnv> env_;
  std::unique_ptr<agent::tls::ClientContextCache> contexts_;
  std::unique_ptr<agent::tls::EventLoop> loop_;
  int server_count_ = 0;
};

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_UNIT_AGENT_TLS_TLS_FIXTURE_H_
