// Every way a dial can fail comes back as a status naming the cause: DNS,
// refused, timeouts, version mismatch, verification, the server's alert,
// a reset. Verification failures send nothing and sign nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "agent/tls/tunnel.h"
#include "tests/status_matchers.h"
#include "tests/unit/agent/tls/tls_fixture.h"
#include "tests/unit/agent/tls/tunnel_probe.h"

namespace keyhold::testing {
namespace {

using agent::tls::TlsSettings;
using agent::tls::TlsVersion;
using agent::tls::Tunnel;
using agent::tls::UniqueFd;
using ::testing::AllOf;
using ::testing::HasSubstr;

class TunnelErrorsTest : public TlsFixture {
 protected:
  void SetUp() override {
    TlsFixture::SetUp();
    ASSERT_OK_AND_ASSIGN(client_, env_->MakeClientKey(KeyType::kEcP256));
  }

  // Opens a tunnel with `settings` and returns how it ended (it must not
  // establish).
  absl::Status Dial(const TlsSettings& settings) {
    auto probe = TunnelProbe::Create();
    absl::StatusOr<std::shared_ptr<Tunnel>> tunnel =
        probe->Open(*loop_, *contexts_, settings);
    if (!tunnel.ok()) return tunnel.status();
    absl::Status status = probe->WaitClosed();
    EXPECT_FALSE(probe->facts().has_value()) << "established unexpectedly";
    return status;
  }

  absl::StatusOr<std::string> OtherCaPem() {
    absl::StatusOr<CertificateAuthority> other =
        MakeCertificateAuthority(nullptr, "some other CA");
    if (!other.ok()) return other.status();
    return CertificatePem(other->certificate.get());
  }

  ClientKey client_;
};

TEST_F(TunnelErrorsTest, Tls13MinimumAgainstTls12OnlyServerNamesVersion) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OpensslServer> server,
                       StartOpensslServer({"-tls1_2", "-www"}));
  TlsSettings settings = env_->SettingsFor(client_, server->port());
  settings.min_version = TlsVersion::kTls13;
  EXPECT_THAT(Dial(settings),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("TLS protocol version mismatch"),
                             HasSubstr("protocol version"),
                             HasSubstr("TLSv1.3 only"))));
  EXPECT_EQ(client_.signatures(), 0u);
}

TEST_F(TunnelErrorsTest, Tls12MaximumAgainstTls13OnlyServerNamesVersion) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OpensslServer> server,
                       StartOpensslServer({"-tls1_3", "-www"}));
  TlsSettings settings = env_->SettingsFor(client_, server->port());
  settings.max_version = TlsVersion::kTls12;
  EXPECT_THAT(Dial(settings),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("TLS protocol version mismatch"),
                             HasSubstr("TLSv1.2 only"))));
}

TEST_F(TunnelErrorsTest, WrongTrustBundleFailsVerificationAndSendsNothing) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  TlsSettings settings = env_->SettingsFor(client_, server->port());
  ASSERT_OK_AND_ASSIGN(settings.trust.pem_bundle, OtherCaPem());
  // Hold the loop so the bytes are queued before the dial even starts.
  absl::Notification gate;
  loop_->Post([&gate] { gate.WaitForNotification(); });
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Tunnel> tunnel,
                       probe->Open(*loop_, *contexts_, settings));
  absl::Status queued = tunnel->Write("secret request");
  gate.Notify();
  ASSERT_THAT(queued, IsOk());
  EXPECT_THAT(
      probe->WaitClosed(),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("server certificate verification failed: unable to "
                         "get local issuer certificate")));
  EXPECT_FALSE(probe->facts().has_value());
  EXPECT_EQ(server->bytes_received(), 0);
  EXPECT_EQ(server->handshakes(), 0);
  EXPECT_EQ(client_.signatures(), 0u);
}

TEST_F(TunnelErrorsTest, HostnameMismatchIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  TlsSettings settings = env_->SettingsFor(client_, server->port());
  settings.sni = "api.partner.example";
  EXPECT_THAT(Dial(settings),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("hostname mismatch"),
                             HasSubstr("\"api.partner.example\""))));
  EXPECT_EQ(server->handshakes(), 0);
}

TEST_F(TunnelErrorsTest, IpAddressMismatchIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  TlsSettings settings = env_->SettingsFor(client_, server->port());
  settings.sni = "";  // Verify 127.0.0.1, which the certificate lacks.
  EXPECT_THAT(Dial(settings), StatusIs(absl::StatusCode::kFailedPrecondition,
                                       HasSubstr("IP address mismatch")));
}

TEST_F(TunnelErrorsTest, HostnameCheckOffStillVerifiesTheChain) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  TlsSettings settings = env_->SettingsFor(client_, server->port());
  settings.sni = "api.partner.example";
  settings.verify_hostname = false;
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Tunnel> tunnel,
                       probe->Open(*loop_, *contexts_, settings));
  ASSERT_TRUE(probe->WaitEstablished());
  tunnel->Close();
  ASSERT_THAT(probe->WaitClosed(), IsOk());

  ASSERT_OK_AND_ASSIGN(settings.trust.pem_bundle, OtherCaPem());
  EXPECT_THAT(Dial(settings),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("server certificate verification failed")));
}

class ServerRejectsClientTest
    : public TunnelErrorsTest,
      public ::testing::WithParamInterface<TlsVersion> {};

// In TLS 1.3 the client sees its handshake finish before the server's
// verdict; the alert then ends the tunnel. Either way the alert is named.
TEST_P(ServerRejectsClientTest, UnknownClientCaIsNamedFromTheServersAlert) {
  ASSERT_OK_AND_ASSIGN(
      CertificateAuthority other,
      MakeCertificateAuthority(nullptr, "a CA the server trusts"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho,
                                        .client_ca = other.certificate.get()}));
  TlsSettings settings = env_->SettingsFor(client_, server->port());
  settings.min_version = settings.max_version = GetParam();
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Tunnel> tunnel,
                       probe->Open(*loop_, *contexts_, settings));
  EXPECT_THAT(probe->WaitClosed(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("the server sent alert: unknown CA")));
  // The server counts after its alert is on the wire.
  EXPECT_TRUE(WaitUntil([&] { return server->failed_handshakes() == 1; }));
}

INSTANTIATE_TEST_SUITE_P(Versions, ServerRejectsClientTest,
                         ::testing::Values(TlsVersion::kTls12,
                                           TlsVersion::kTls13),
                         [](const auto& param_info) {
                           return param_info.param == TlsVersion::kTls12
                                      ? "Tls12"
                                      : "Tls13";
                         });

TEST_F(TunnelErrorsTest, ConnectionRefusedIsUnavailable) {
  ASSERT_OK_AND_ASSIGN(uint16_t port, UnusedPort());
  EXPECT_THAT(Dial(env_->SettingsFor(client_, port)),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("connection refused")));
}

TEST_F(TunnelErrorsTest, UnresolvableHostFailsAtOpen) {
  TlsSettings settings = env_->SettingsFor(client_, 443);
  settings.host = "nonexistent.invalid";
  auto probe = TunnelProbe::Create();
  EXPECT_THAT(probe->Open(*loop_, *contexts_, settings),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("cannot resolve host: nonexistent.invalid")));
}

TEST_F(TunnelErrorsTest, SilentServerHitsHandshakeTimeout) {
  uint16_t port = 0;
  ASSERT_OK_AND_ASSIGN(UniqueFd listener, ListenWithoutAccepting(port));
  TlsSettings settings = env_->SettingsFor(client_, port);
  settings.timeouts.handshake = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  EXPECT_THAT(Dial(settings),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       HasSubstr("handshake timed out after 200ms")));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
}

TEST_F(TunnelErrorsTest, PeerResetIsNamed) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kReset}));
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Tunnel> tunnel,
                       probe->Open(*loop_, *contexts_,
                                   env_->SettingsFor(client_, server->port())));
  ASSERT_TRUE(probe->WaitEstablished());
  ASSERT_THAT(tunnel->Write("trigger"), IsOk());
  EXPECT_THAT(probe->WaitClosed(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("connection reset by peer")));
}

// A TLS 1.3 tunnel closed before the server's ticket came is handed to a
// TicketWait, which outlives the Tunnel. An alert then (here the client's
// bad_record_mac for a corrupt record) must not be logged into the Tunnel
// that is gone (ASan: heap-use-after-free before the fix).
TEST_F(TunnelErrorsTest, AlertWhileWaitingForTheTicketAfterCloseIsHarmless) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kCorruptRecord,
                                        .min_version = TLS1_3_VERSION}));
  {
    auto probe = TunnelProbe::Create();
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Tunnel> tunnel,
                         probe->Open(*loop_, *contexts_,
                                     env_->SettingsFor(client_, server->port())));
    ASSERT_TRUE(probe->WaitEstablished()) << probe->WaitClosed();
    ASSERT_THAT(tunnel->Write("trigger"), IsOk());
    tunnel->Close();
    EXPECT_THAT(probe->WaitClosed(), IsOk());
  }
  // The corrupt record arrives while the TicketWait reads (at most 250 ms).
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_EQ(server->handshakes(), 1);
  EXPECT_GE(server->bytes_received(), 7);
}

TEST_F(TunnelErrorsTest, NextAddressIsTriedWhenOneRefuses) {
  // "localhost" may resolve to ::1 first; the server listens on 127.0.0.1.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  TlsSettings settings = env_->SettingsFor(client_, server->port());
  settings.host = "localhost";
  settings.sni = "";
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Tunnel> tunnel,
                       probe->Open(*loop_, *contexts_, settings));
  ASSERT_TRUE(probe->WaitEstablished()) << probe->WaitClosed();
  EXPECT_EQ(probe->facts()->peer_address,
            absl::StrCat("127.0.0.1:", server->port()));
  tunnel->Close();
  EXPECT_THAT(probe->WaitClosed(), IsOk());
}

}  // namespace
}  // namespace keyhold::testing
