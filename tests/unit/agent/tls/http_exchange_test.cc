// One HTTP/1.1 request per tunnel: against `openssl s_server -www` and
// against exact responses from the in-process server (Content-Length,
// chunked, truncated, too large, never).
#include "agent/tls/http_exchange.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "tests/status_matchers.h"
#include "tests/unit/agent/tls/tls_fixture.h"

namespace keyhold::testing {
namespace {

using agent::tls::Fetch;
using agent::tls::HttpRequestSpec;
using agent::tls::HttpResponse;
using agent::tls::TlsSettings;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::StartsWith;

class HttpExchangeTest : public TlsFixture {
 protected:
  void SetUp() override {
    TlsFixture::SetUp();
    ASSERT_OK_AND_ASSIGN(client_, env_->MakeClientKey(KeyType::kEcP256));
  }

  absl::StatusOr<std::unique_ptr<TestTlsServer>> HttpServer(
      std::string response, bool close_without_notify = false) {
    return StartTestServer({.mode = TestTlsServer::Mode::kHttp,
                            .response = std::move(response),
                            .close_without_notify = close_without_notify});
  }

  absl::StatusOr<HttpResponse> FetchFrom(
      uint16_t port, const HttpRequestSpec& request = {},
      absl::Duration timeout = absl::Seconds(10)) {
    return Fetch(*loop_, *contexts_, env_->SettingsFor(client_, port), request,
                 timeout);
  }

  ClientKey client_;
};

TEST_F(HttpExchangeTest, GetFromOpensslWwwServer) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OpensslServer> server,
                       StartOpensslServer({"-www"}));
  ASSERT_OK_AND_ASSIGN(HttpResponse response, FetchFrom(server->port()));
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.Header("content-type"),
              Optional(absl::string_view("text/html")));
  EXPECT_THAT(response.body, HasSubstr("s_server"));
  EXPECT_EQ(response.handshake.protocol, "TLSv1.3");
  EXPECT_EQ(response.handshake.verify_result, "ok");
}

TEST_F(HttpExchangeTest, ContentLengthResponse) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<TestTlsServer> server,
      HttpServer("HTTP/1.1 201 Created\r\nContent-Length: 11\r\n"
                 "X-Server: test\r\n\r\nhello world"));
  HttpRequestSpec request;
  request.path = "/status?verbose=1";
  request.headers = {{"Accept", "text/plain"}};
  ASSERT_OK_AND_ASSIGN(HttpResponse response,
                       FetchFrom(server->port(), request));
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.reason, "Created");
  EXPECT_EQ(response.body, "hello world");
  EXPECT_THAT(response.Header("X-Server"), Optional(absl::string_view("test")));
  // Host names the server (the SNI name), not the address dialed.
  EXPECT_THAT(server->received(),
              StartsWith(absl::StrCat("GET /status?verbose=1 HTTP/1.1\r\n"
                                      "Host: localhost:",
                                      server->port(), "\r\n")));
  EXPECT_THAT(server->received(), HasSubstr("Accept: text/plain\r\n"));
}

TEST_F(HttpExchangeTest, ChunkedResponse) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<TestTlsServer> server,
      HttpServer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "4\r\nmTLS\r\n5\r\n with\r\n6\r\n token\r\n0\r\n\r\n"));
  ASSERT_OK_AND_ASSIGN(HttpResponse response, FetchFrom(server->port()));
  EXPECT_EQ(response.body, "mTLS with token");
}

TEST_F(HttpExchangeTest, PostBodyReachesServer) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<TestTlsServer> server,
      HttpServer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  HttpRequestSpec request;
  request.method = "POST";
  request.path = "/submit";
  request.body = "amount=10";
  ASSERT_OK_AND_ASSIGN(HttpResponse response,
                       FetchFrom(server->port(), request));
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(server->received(), HasSubstr("Content-Length: 9\r\n"));
  EXPECT_THAT(server->received(), HasSubstr("\r\n\r\namount=10"));
}

TEST_F(HttpExchangeTest, BodyBeyondLimitIsResourceExhausted) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<TestTlsServer> server,
      HttpServer("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"));
  HttpRequestSpec request;
  request.max_response_body = 4;
  EXPECT_THAT(FetchFrom(server->port(), request),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("limit of 4 bytes")));
}

TEST_F(HttpExchangeTest, TruncatedResponseIsDataLoss) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<TestTlsServer> server,
      HttpServer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"));
  EXPECT_THAT(FetchFrom(server->port()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("before the HTTP response was complete")));
}

TEST_F(HttpExchangeTest, BodyToEndOfConnectionSurvivesMissingCloseNotify) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<TestTlsServer> server,
      HttpServer("HTTP/1.0 200 OK\r\n\r\nuntil the end", true));
  ASSERT_OK_AND_ASSIGN(HttpResponse response, FetchFrom(server->port()));
  EXPECT_EQ(response.body, "until the end");
}

TEST_F(HttpExchangeTest, SilentServerHitsExchangeTimeout) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestTlsServer> server,
                       StartTestServer({.mode = TestTlsServer::Mode::kSilent}));
  EXPECT_THAT(FetchFrom(server->port(), {}, absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       HasSubstr("timed out after 300ms")));
}

TEST_F(HttpExchangeTest, VerificationFailureIsReported) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<TestTlsServer> server,
      HttpServer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  TlsSettings settings = env_->SettingsFor(client_, server->port());
  settings.sni = "elsewhere.example";
  EXPECT_THAT(Fetch(*loop_, *contexts_, settings, {}, absl::Seconds(10)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("hostname mismatch")));
  EXPECT_EQ(server->received(), "");
}

TEST_F(HttpExchangeTest, InvalidRequestFailsBeforeDialing) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<TestTlsServer> server,
      HttpServer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  HttpRequestSpec request;
  request.headers = {{"X-Evil", "a\r\nInjected: 1"}};
  EXPECT_THAT(
      FetchFrom(server->port(), request),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line break")));
  EXPECT_EQ(server->handshakes(), 0);
}

TEST_F(HttpExchangeTest, FetchOnTheLoopThreadIsRefused) {
  absl::Notification done;
  absl::Status status;
  loop_->Post([&] {
    status = FetchFrom(1).status();
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("event loop thread")));
}

}  // namespace
}  // namespace keyhold::testing
