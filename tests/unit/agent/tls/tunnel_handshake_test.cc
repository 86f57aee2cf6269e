// Handshakes against a real `openssl s_server -Verify 1`: the token key
// (here a counting software signer behind the keyhold provider) signs once,
// and the facts report what was negotiated.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/tls/tunnel.h"
#include "tests/status_matchers.h"
#include "tests/unit/agent/tls/tls_fixture.h"
#include "tests/unit/agent/tls/tunnel_probe.h"

namespace keyhold::testing {
namespace {

using agent::tls::HandshakeFacts;
using agent::tls::TlsSettings;
using agent::tls::TlsVersion;
using agent::tls::Tunnel;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct HandshakeCase {
  std::string name;
  KeyType key_type;
  std::string server_flag;  // -tls1_2 / -tls1_3
  std::string protocol;
};

class TunnelHandshakeTest
    : public TlsFixture,
      public ::testing::WithParamInterface<HandshakeCase> {};

TEST_P(TunnelHandshakeTest, ReportsNegotiatedFactsAndSignsOnce) {
  ASSERT_OK_AND_ASSIGN(ClientKey client,
                       env_->MakeClientKey(GetParam().key_type));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OpensslServer> server,
                       StartOpensslServer({GetParam().server_flag, "-www"}));
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Tunnel> tunnel,
                       probe->Open(*loop_, *contexts_,
                                   env_->SettingsFor(client, server->port())));
  ASSERT_TRUE(probe->WaitEstablished()) << probe->WaitClosed();
  const HandshakeFacts facts = *probe->facts();
  EXPECT_EQ(facts.protocol, GetParam().protocol);
  EXPECT_FALSE(facts.cipher.empty());
  EXPECT_FALSE(facts.session_reused);
  EXPECT_EQ(facts.peer_address, absl::StrCat("127.0.0.1:", server->port()));
  EXPECT_EQ(facts.peer_subject, "CN=localhost");
  EXPECT_EQ(facts.verify_result, "ok");
  EXPECT_THAT(facts.peer_chain_pem, StartsWith("-----BEGIN CERTIFICATE-----"));
  EXPECT_EQ(client.signatures(), 1u);
  tunnel->Close();
  EXPECT_THAT(probe->WaitClosed(), IsOk());
}

INSTANTIATE_TEST_SUITE_P(
    KeysAndVersions, TunnelHandshakeTest,
    ::testing::Values(
        HandshakeCase{"EcTls12", KeyType::kEcP256, "-tls1_2", "TLSv1.2"},
        HandshakeCase{"EcTls13", KeyType::kEcP256, "-tls1_3", "TLSv1.3"},
        HandshakeCase{"RsaTls12", KeyType::kRsa2048, "-tls1_2", "TLSv1.2"},
        HandshakeCase{"RsaTls13", KeyType::kRsa2048, "-tls1_3", "TLSv1.3"}),
    [](const auto& param_info) { return param_info.param.name; });

class TunnelNegotiationTest : public TlsFixture {
 protected:
  absl::StatusOr<HandshakeFacts> Negotiate(
      const std::vector<std::string>& server_flags,
      const std::function<void(TlsSettings&)>& adjust) {
    absl::StatusOr<ClientKey> client = env_->MakeClientKey(KeyType::kEcP256);
    if (!client.ok()) return client.status();
    absl::StatusOr<std::unique_ptr<OpensslServer>> server =
        StartOpensslServer(server_flags);
    if (!server.ok()) return server.status();
    TlsSettings settings = env_->SettingsFor(*client, (*server)->port());
    adjust(settings);
    auto probe = TunnelProbe::Create();
    absl::StatusOr<std::shared_ptr<Tunnel>> tunnel =
        probe->Open(*loop_, *contexts_, settings);
    if (!tunnel.ok()) return tunnel.status();
    if (!probe->WaitEstablished()) return probe->WaitClosed();
    (*tunnel)->Close();
    return *probe->facts();
  }
};

TEST_F(TunnelNegotiationTest, MaxTls12AgainstTls12OnlyServer) {
  ASSERT_OK_AND_ASSIGN(
      HandshakeFacts facts,
      Negotiate({"-tls1_2", "-www"}, [](TlsSettings& settings) {
        settings.max_version = TlsVersion::kTls12;
      }));
  EXPECT_EQ(facts.protocol, "TLSv1.2");
}

TEST_F(TunnelNegotiationTest, AlpnReportsServerChoice) {
  ASSERT_OK_AND_ASSIGN(
      HandshakeFacts facts,
      Negotiate({"-alpn", "http/1.1", "-www"}, [](TlsSettings& settings) {
        settings.alpn = {"h2", "http/1.1"};
      }));
  EXPECT_EQ(facts.alpn, "http/1.1");
}

TEST_F(TunnelNegotiationTest, Tls13CiphersuiteRestrictionIsHonoured) {
  ASSERT_OK_AND_ASSIGN(HandshakeFacts facts,
                       Negotiate({"-www"}, [](TlsSettings& settings) {
                         settings.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256";
                       }));
  EXPECT_EQ(facts.protocol, "TLSv1.3");
  EXPECT_EQ(facts.cipher, "TLS_CHACHA20_POLY1305_SHA256");
}

TEST_F(TunnelNegotiationTest, Tls12CipherListRestrictionIsHonoured) {
  ASSERT_OK_AND_ASSIGN(HandshakeFacts facts,
                       Negotiate({"-www"}, [](TlsSettings& settings) {
                         settings.max_version = TlsVersion::kTls12;
                         settings.cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256";
                       }));
  EXPECT_EQ(facts.protocol, "TLSv1.2");
  EXPECT_EQ(facts.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
}

}  // namespace
}  // namespace keyhold::testing
