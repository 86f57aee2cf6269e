// The relay after the handshake: bytes intact both ways, half-close,
// backpressure, paused reading, idle timeout, Close, loop shutdown — and
// many tunnels on the loop's one thread.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "agent/tls/tunnel.h"
#include "tests/status_matchers.h"
#include "tests/unit/agent/tls/tls_fixture.h"
#include "tests/unit/agent/tls/tunnel_probe.h"

namespace keyhold::testing {
namespace {

using agent::tls::EventLoop;
using agent::tls::HandshakeFacts;
using agent::tls::TlsSettings;
using agent::tls::Tunnel;
using agent::tls::TunnelCallbacks;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Bytes that differ per tunnel and per position, so a mix-up shows.
std::string Pattern(int seed, size_t size) {
  std::string bytes(size, '\0');
  uint32_t state = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (char& c : bytes) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 24);
  }
  return bytes;
}

class TunnelRelayTest : public TlsFixture {
 protected:
  void SetUp() override {
    TlsFixture::SetUp();
    ASSERT_OK_AND_ASSIGN(client_, env_->MakeClientKey(KeyType::kEcP256));
  }

  TlsSettings Settings(uint16_t port) const {
    return env_->SettingsFor(client_, port);
  }

  ClientKey client_;
};

TEST_F(TunnelRelayTest, EchoRoundTripWithHalfClose) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<Tunnel> tunnel,
      probe->Open(*loop_, *contexts_, Settings(server->port())));
  const std::string payload = Pattern(1, 100000);
  ASSERT_THAT(tunnel->Write(payload.substr(0, 30000)), IsOk());
  ASSERT_THAT(tunnel->Write(payload.substr(30000)), IsOk());
  tunnel->CloseWrite();
  EXPECT_THAT(tunnel->Write("late"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("closed for writing")));
  // The server echoes everything, then answers close_notify with its own.
  EXPECT_THAT(probe->WaitClosed(), IsOk());
  EXPECT_EQ(probe->data(), payload);
  ASSERT_TRUE(probe->peer_closed().has_value());
  EXPECT_THAT(*probe->peer_closed(), IsOk());
}

TEST_F(TunnelRelayTest, HundredConcurrentTunnelsOnOneLoopThread) {
  constexpr int kTunnels = 100;
  constexpr size_t kBytesEach = 128 * 1024;
  // The fixture's loop thread is running; this test adds the server's.
  const int threads_before = ThreadCount();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  // 100 handshakes queue up behind one another on both single-threaded
  // ends; on a loaded machine (or under sanitizers) that takes a while.
  TlsSettings settings = Settings(server->port());
  settings.timeouts.handshake = absl::Seconds(120);
  constexpr absl::Duration kPatience = absl::Seconds(120);
  std::vector<std::shared_ptr<TunnelProbe>> probes;
  std::vector<std::shared_ptr<Tunnel>> tunnels;
  for (int i = 0; i < kTunnels; ++i) {
    probes.push_back(TunnelProbe::Create());
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Tunnel> tunnel,
                         probes.back()->Open(*loop_, *contexts_, settings));
    tunnels.push_back(std::move(tunnel));
  }
  for (auto& probe : probes) {
    ASSERT_TRUE(probe->WaitEstablished(kPatience))
        << probe->WaitClosed(absl::ZeroDuration());
  }
  // All open at once: still one loop thread (plus the test server's).
  EXPECT_EQ(ThreadCount(), threads_before + 1);
  for (int i = 0; i < kTunnels; ++i) {
    ASSERT_THAT(tunnels[i]->Write(Pattern(i, kBytesEach)), IsOk());
    tunnels[i]->CloseWrite();
  }
  for (int i = 0; i < kTunnels; ++i) {
    ASSERT_THAT(probes[i]->WaitClosed(kPatience), IsOk()) << i;
    EXPECT_TRUE(probes[i]->data() == Pattern(i, kBytesEach))
        << "tunnel " << i << " got " << probes[i]->data().size() << " bytes";
    EXPECT_THAT(probes[i]->callback_threads(), ElementsAre(loop_->thread_id()));
  }
  EXPECT_EQ(server->handshakes(), kTunnels);
  EXPECT_EQ(server->bytes_received(), int64_t{kTunnels} * int64_t{kBytesEach});
}

// Writes from inside the callbacks, where the loop cannot drain in
// between: the second write overflows the buffer, on_writable invites it
// back once the buffer has drained.
TEST_F(TunnelRelayTest, FullBufferRefusesThenSignalsWritable) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  constexpr size_t kLimit = 64 * 1024;
  const std::string first = Pattern(7, 60 * 1024);
  const std::string second = Pattern(8, 10 * 1024);
  struct Observed {
    absl::Status refused;
    bool writable_called = false;
    std::string echoed;
    absl::Status end;
    absl::Notification closed;
  };
  auto observed = std::make_shared<Observed>();
  TunnelCallbacks callbacks{
      .on_established =
          [=](Tunnel& tunnel, const HandshakeFacts&) {
            EXPECT_THAT(tunnel.Write(first), IsOk());
            observed->refused = tunnel.Write(second);
          },
      .on_data =
          [=](Tunnel&, absl::string_view bytes) {
            observed->echoed.append(bytes.data(), bytes.size());
          },
      .on_peer_closed = nullptr,
      .on_writable =
          [=](Tunnel& tunnel) {
            observed->writable_called = true;
            EXPECT_LE(tunnel.buffered(), kLimit / 2);
            EXPECT_THAT(tunnel.Write(second), IsOk());
            tunnel.CloseWrite();
          },
      .on_closed =
          [=](Tunnel&, absl::Status status) {
            observed->end = std::move(status);
            observed->closed.Notify();
          },
  };
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<Tunnel> tunnel,
      Tunnel::Open(*loop_, *contexts_, Settings(server->port()),
                   std::move(callbacks), {.write_buffer_limit = kLimit}));
  ASSERT_TRUE(
      observed->closed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_THAT(observed->refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                          HasSubstr("write buffer is full")));
  EXPECT_TRUE(observed->writable_called);
  EXPECT_THAT(observed->end, IsOk());
  EXPECT_EQ(observed->echoed, first + second);
}

TEST_F(TunnelRelayTest, PausedReadingHoldsDataUntilResumed) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<Tunnel> tunnel,
      probe->Open(*loop_, *contexts_, Settings(server->port())));
  ASSERT_TRUE(probe->WaitEstablished());
  tunnel->PauseReading();
  const std::string payload = Pattern(3, 5000);
  ASSERT_THAT(tunnel->Write(payload), IsOk());
  // The echo comes back to the socket, but nobody reads it.
  ASSERT_TRUE(WaitUntil([&] { return server->bytes_received() == 5000; }));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(probe->data(), "");
  tunnel->ResumeReading();
  EXPECT_TRUE(probe->WaitForBytes(payload.size()));
  EXPECT_EQ(probe->data(), payload);
  tunnel->Close();
  EXPECT_THAT(probe->WaitClosed(), IsOk());
}

TEST_F(TunnelRelayTest, IdleTunnelTimesOut) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  TlsSettings settings = Settings(server->port());
  settings.timeouts.idle = absl::Milliseconds(200);
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Tunnel> tunnel,
                       probe->Open(*loop_, *contexts_, settings));
  ASSERT_TRUE(probe->WaitEstablished());
  const absl::Time established = absl::Now();
  EXPECT_THAT(probe->WaitClosed(), StatusIs(absl::StatusCode::kDeadlineExceeded,
                                            HasSubstr("idle for 200ms")));
  EXPECT_GE(absl::Now() - established, absl::Milliseconds(150));
}

TEST_F(TunnelRelayTest, CloseEndsTheTunnelAndRefusesWrites) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<Tunnel> tunnel,
      probe->Open(*loop_, *contexts_, Settings(server->port())));
  ASSERT_TRUE(probe->WaitEstablished());
  tunnel->Close();
  EXPECT_THAT(
      tunnel->Write("x"),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is closed")));
  EXPECT_THAT(probe->WaitClosed(), IsOk());
}

TEST_F(TunnelRelayTest, UncleanServerCloseIsReportedAsPossibleTruncation) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<TestTlsServer> server,
      StartTestServer({.mode = TestTlsServer::Mode::kHttp,
                       .response = "HTTP/1.0 200 OK\r\n\r\nall of it",
                       .close_without_notify = true}));
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<Tunnel> tunnel,
      probe->Open(*loop_, *contexts_, Settings(server->port())));
  ASSERT_THAT(tunnel->Write("GET / HTTP/1.0\r\n\r\n"), IsOk());
  EXPECT_THAT(probe->WaitClosed(), IsOk());
  EXPECT_EQ(probe->data(), "HTTP/1.0 200 OK\r\n\r\nall of it");
  ASSERT_TRUE(probe->peer_closed().has_value());
  EXPECT_THAT(*probe->peer_closed(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("without a TLS close_notify")));
}

TEST_F(TunnelRelayTest, LoopShutdownCancelsOpenTunnels) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kEcho}));
  auto probe = TunnelProbe::Create();
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<Tunnel> tunnel,
      probe->Open(*loop_, *contexts_, Settings(server->port())));
  ASSERT_TRUE(probe->WaitEstablished());
  tunnel->PauseReading();  // Paused tunnels are told too.
  loop_.reset();
  EXPECT_THAT(probe->WaitClosed(absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kCancelled,
                       HasSubstr("event loop is shutting down")));
  EXPECT_THAT(
      tunnel->Write("x"),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is closed")));
}

}  // namespace
}  // namespace keyhold::testing
