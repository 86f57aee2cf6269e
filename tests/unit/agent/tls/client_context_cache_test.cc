// Which settings share a client context (and so its sessions), and how
// building one fails.
#include "agent/tls/client_context_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/status_matchers.h"
#include "tests/unit/agent/tls/tls_fixture.h"

namespace keyhold::testing {
namespace {

using agent::tls::ClientContext;
using agent::tls::ClientContextCache;
using agent::tls::TlsSettings;
using ::testing::HasSubstr;

class ClientContextCacheTest : public TlsFixture {
 protected:
  void SetUp() override {
    TlsFixture::SetUp();
    ASSERT_OK_AND_ASSIGN(client_, env_->MakeClientKey(KeyType::kEcP256));
  }

  TlsSettings Settings(uint16_t port = 8443) const {
    return env_->SettingsFor(client_, port);
  }

  ClientKey client_;
};

TEST_F(ClientContextCacheTest, SameSettingsShareOneContext) {
  ClientContextCache cache;
  ASSERT_OK_AND_ASSIGN(auto first, cache.Get(Settings()));
  TlsSettings later = Settings();
  later.timeouts.idle = absl::Seconds(1);  // Not part of the identity.
  ASSERT_OK_AND_ASSIGN(auto second, cache.Get(later));
  EXPECT_EQ(first, second);
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(ClientContextCacheTest, ReparsedCertificateFindsSameContext) {
  ClientContextCache cache;
  ASSERT_OK_AND_ASSIGN(auto first, cache.Get(Settings()));
  X509Ptr copy(X509_dup(client_.certificate.get()));
  TlsSettings settings = Settings();
  settings.certificate_chain = {copy.get()};
  ASSERT_OK_AND_ASSIGN(auto second, cache.Get(settings));
  EXPECT_EQ(first, second);
}

TEST_F(ClientContextCacheTest, TargetKeyAndVersionsSeparateContexts) {
  ClientContextCache cache;
  ASSERT_OK_AND_ASSIGN(auto base, cache.Get(Settings()));
  ASSERT_OK_AND_ASSIGN(auto other_port, cache.Get(Settings(9443)));
  EXPECT_NE(base, other_port);

  ASSERT_OK_AND_ASSIGN(ClientKey other, env_->MakeClientKey(KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(auto other_key,
                       cache.Get(env_->SettingsFor(other, 8443)));
  EXPECT_NE(base, other_key);

  TlsSettings tls13 = Settings();
  tls13.min_version = agent::tls::TlsVersion::kTls13;
  ASSERT_OK_AND_ASSIGN(auto other_versions, cache.Get(tls13));
  EXPECT_NE(base, other_versions);
  EXPECT_EQ(cache.size(), 4u);
}

TEST_F(ClientContextCacheTest, LeastRecentlyUsedIsDropped) {
  ClientContextCache cache(2);
  ASSERT_OK_AND_ASSIGN(auto a, cache.Get(Settings(1001)));
  ASSERT_OK_AND_ASSIGN(auto b, cache.Get(Settings(1002)));
  ASSERT_OK_AND_ASSIGN(auto a_again, cache.Get(Settings(1001)));
  ASSERT_OK_AND_ASSIGN(auto c, cache.Get(Settings(1003)));  // Drops b.
  EXPECT_EQ(cache.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto a_third, cache.Get(Settings(1001)));
  EXPECT_EQ(a, a_third);
  ASSERT_OK_AND_ASSIGN(auto b_again, cache.Get(Settings(1002)));
  EXPECT_NE(b, b_again);
}

TEST_F(ClientContextCacheTest, ForgetDropsTheKeysContexts) {
  ClientContextCache cache;
  ASSERT_OK_AND_ASSIGN(auto a, cache.Get(Settings(1001)));
  ASSERT_OK_AND_ASSIGN(auto b, cache.Get(Settings(1002)));
  cache.Forget(client_.key.get());
  EXPECT_EQ(cache.size(), 0u);
  ASSERT_OK_AND_ASSIGN(auto a_again, cache.Get(Settings(1001)));
  EXPECT_NE(a, a_again);
}

TEST_F(ClientContextCacheTest, ChangedTrustFileBuildsNewContext) {
  ClientContextCache cache;
  const std::string path = env_->File("trust.pem");
  ASSERT_THAT(WriteFile(path, env_->server_ca_pem()), IsOk());
  TlsSettings settings = Settings();
  settings.trust = {.file = path};
  ASSERT_OK_AND_ASSIGN(auto before, cache.Get(settings));
  ASSERT_THAT(WriteFile(path, env_->server_ca_pem() + env_->server_ca_pem()),
              IsOk());
  ASSERT_OK_AND_ASSIGN(auto after, cache.Get(settings));
  EXPECT_NE(before, after);
}

TEST_F(ClientContextCacheTest, MissingTrustFileIsNotFound) {
  TlsSettings settings = Settings();
  settings.trust = {.file = env_->File("absent.pem")};
  EXPECT_THAT(
      ClientContextCache().Get(settings),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("trust anchors file")));
}

TEST_F(ClientContextCacheTest, TrustBundleWithoutCertificatesIsRefused) {
  TlsSettings settings = Settings();
  settings.trust = {.pem_bundle = "not a certificate"};
  EXPECT_THAT(ClientContext::New(settings),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no PEM certificate")));
  settings.trust = {.pem_bundle =
                        "-----BEGIN CERTIFICATE-----\nAAAA\n"
                        "-----END CERTIFICATE-----\n"};
  EXPECT_THAT(ClientContext::New(settings),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("damaged certificate")));
}

TEST_F(ClientContextCacheTest, UnknownCipherIsInvalidArgument) {
  TlsSettings settings = Settings();
  settings.cipher_list = "NO-SUCH-CIPHER";
  EXPECT_THAT(ClientContext::New(settings),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cipher list \"NO-SUCH-CIPHER\"")));
  settings = Settings();
  settings.ciphersuites = "TLS_NO_SUCH_SUITE";
  EXPECT_THAT(
      ClientContext::New(settings),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ciphersuites")));
}

TEST_F(ClientContextCacheTest, KeyThatDoesNotFitCertificateIsRefused) {
  ASSERT_OK_AND_ASSIGN(ClientKey other, env_->MakeClientKey(KeyType::kRsa2048));
  TlsSettings settings = Settings();
  settings.certificate_chain = {other.certificate.get()};
  EXPECT_THAT(ClientContext::New(settings),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not fit the client certificate")));
  ASSERT_OK_AND_ASSIGN(ClientKey same_type,
                       env_->MakeClientKey(KeyType::kEcP384));
  settings.certificate_chain = {same_type.certificate.get()};
  EXPECT_THAT(ClientContext::New(settings),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not fit the client certificate")));
}

TEST_F(ClientContextCacheTest, IpLiteralServerNameSendsNoSniButIsVerified) {
  TlsSettings settings = Settings();
  settings.sni = "";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ClientContext> context,
                       ClientContext::New(settings));
  EXPECT_EQ(context->expected_name(), "127.0.0.1");
  ASSERT_OK_AND_ASSIGN(SslPtr ssl, context->NewConnection());
  EXPECT_EQ(SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name), nullptr);
}

TEST_F(ClientContextCacheTest, HostnameCheckOffLeavesNoExpectedName) {
  TlsSettings settings = Settings();
  settings.verify_hostname = false;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ClientContext> context,
                       ClientContext::New(settings));
  EXPECT_EQ(context->expected_name(), "");
  ASSERT_OK_AND_ASSIGN(SslPtr ssl, context->NewConnection());
  EXPECT_STREQ(SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name),
               "localhost");
}

}  // namespace
}  // namespace keyhold::testing
