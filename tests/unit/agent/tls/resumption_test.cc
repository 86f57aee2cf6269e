// Session resumption per (key, target) against `openssl s_server`: a
// repeat connection resumes (TLS 1.3 ticket, TLS 1.2 session) and the
// token signs nothing; other targets and other caches start afresh.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "agent/tls/client_context_cache.h"
#include "agent/tls/http_exchange.h"
#include "tests/status_matchers.h"
#include "tests/unit/agent/tls/tls_fixture.h"

namespace keyhold::testing {
namespace {

using agent::tls::ClientContextCache;
using agent::tls::Fetch;
using agent::tls::HttpResponse;
using agent::tls::TlsSettings;

struct ResumptionCase {
  std::string name;
  KeyType key_type;
  std::string server_flag;
};

class ResumptionTest : public TlsFixture,
                       public ::testing::WithParamInterface<ResumptionCase> {
 protected:
  absl::StatusOr<HttpResponse> Get(const TlsSettings& settings,
                                   ClientContextCache& contexts) {
    return Fetch(*loop_, contexts, settings, {}, absl::Seconds(10));
  }
};

TEST_P(ResumptionTest, RepeatConnectionResumesWithoutSigning) {
  ASSERT_OK_AND_ASSIGN(ClientKey client,
                       env_->MakeClientKey(GetParam().key_type));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OpensslServer> server,
                       StartOpensslServer({GetParam().server_flag, "-www"}));
  const TlsSettings settings = env_->SettingsFor(client, server->port());

  ASSERT_OK_AND_ASSIGN(HttpResponse first, Get(settings, *contexts_));
  EXPECT_EQ(first.status, 200);
  EXPECT_FALSE(first.handshake.session_reused);
  EXPECT_EQ(client.signatures(), 1u);

  for (int repeat = 0; repeat < 2; ++repeat) {
    ASSERT_OK_AND_ASSIGN(HttpResponse again, Get(settings, *contexts_));
    EXPECT_EQ(again.status, 200);
    EXPECT_TRUE(again.handshake.session_reused) << "repeat " << repeat;
    EXPECT_EQ(again.handshake.peer_subject, "CN=localhost");
  }
  EXPECT_EQ(client.signatures(), 1u);
}

TEST_P(ResumptionTest, AnotherCacheHasNoSessions) {
  ASSERT_OK_AND_ASSIGN(ClientKey client,
                       env_->MakeClientKey(GetParam().key_type));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OpensslServer> server,
                       StartOpensslServer({GetParam().server_flag, "-www"}));
  const TlsSettings settings = env_->SettingsFor(client, server->port());
  ASSERT_OK_AND_ASSIGN(HttpResponse first, Get(settings, *contexts_));
  ClientContextCache other_cache;
  ASSERT_OK_AND_ASSIGN(HttpResponse fresh, Get(settings, other_cache));
  EXPECT_FALSE(fresh.handshake.session_reused);
  EXPECT_EQ(client.signatures(), 2u);
}

INSTANTIATE_TEST_SUITE_P(
    Versions, ResumptionTest,
    ::testing::Values(ResumptionCase{"EcTls12", KeyType::kEcP256, "-tls1_2"},
                      ResumptionCase{"EcTls13", KeyType::kEcP256, "-tls1_3"},
                      ResumptionCase{"RsaTls13", KeyType::kRsa2048, "-tls1_3"}),
    [](const auto& param_info) { return param_info.param.name; });

class CrossTargetResumptionTest : public TlsFixture {};

TEST_F(CrossTargetResumptionTest, SessionsDoNotCrossTargets) {
  ASSERT_OK_AND_ASSIGN(ClientKey client, env_->MakeClientKey(KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OpensslServer> first_server,
                       StartOpensslServer({"-www"}));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OpensslServer> second_server,
                       StartOpensslServer({"-www"}));
  ASSERT_OK_AND_ASSIGN(
      HttpResponse first,
      Fetch(*loop_, *contexts_, env_->SettingsFor(client, first_server->port()),
            {}, absl::Seconds(10)));
  ASSERT_OK_AND_ASSIGN(HttpResponse second,
                       Fetch(*loop_, *contexts_,
                             env_->SettingsFor(client, second_server->port()),
                             {}, absl::Seconds(10)));
  EXPECT_FALSE(second.handshake.session_reused);
  EXPECT_EQ(client.signatures(), 2u);
}

}  // namespace
}  // namespace keyhold::testing
