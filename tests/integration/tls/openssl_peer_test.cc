// `openssl s_server -Verify 1 -www` as the peer: its status page says which
// protocol was negotiated and how the client signed, so it tells whether
// the token key really did the handshake. A TLS 1.2-only endpoint (a bank
// that never moved on) and one speaking both versions, each client key
// type against each version; a certificate for the wrong name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/cli/cli_fixture.h"
#include "tests/integration/tls/peer_process.h"
#include "tests/integration/tls/tls_pki.h"
#include "tests/status_matchers.h"

extern char** environ;

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;

// One PKI for the file (the server is started per test).
class OpensslPeerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TlsPki>> pki = TlsPki::Create();
    if (pki.ok()) {
      pki_ = pki->release();
    } else {
      setup_error_ = new std::string(pki.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(pki_, nullptr) << "building the PKI: " << (setup_error_ ? *setup_error_ : "");
  }

  // s_server with the server certificate, requiring a client certificate
  // from the agent's root, plus `extra` (-tls1_2, ...).
  void StartServer(const std::vector<std::string>& extra, const std::string& certificate = "server",
                   const std::string& client_ca = "root.pem") {
    std::vector<std::string> args = {"-cert",   pki_->File(certificate + ".pem"),
                                     "-key",    pki_->File(certificate + ".key"),
                                     "-CAfile", pki_->File(client_ca),
                                     "-Verify", "1",
                                     "-www"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_OK_AND_ASSIGN(
        server_,
        StartOpensslServer(args, pki_->File(absl::StrCat("s_server-", ++servers_, ".log"))));
  }

  CliResult Request(const std::string& key, std::vector<std::string> extra,
                    const std::string& host = "localhost") {
    std::vector<std::string> args = {
        "request",  absl::StrCat("https://", host, ":", server_->port(), "/"),
        "--key",    key,
        "--cacert", pki_->File("root.pem")};
    args.insert(args.end(), extra.begin(), extra.end());
    return pki_->Keyhold(args);
  }

  static TlsPki* pki_;
  static std::string* setup_error_;
  static int servers_;
  std::unique_ptr<PeerProcess> server_;
};

TlsPki* OpensslPeerTest::pki_ = nullptr;
std::string* OpensslPeerTest::setup_error_ = nullptr;
int OpensslPeerTest::servers_ = 0;

TEST_F(OpensslPeerTest, Tls12OnlyServerAcceptsTlsMax12AndVerboseReportsTls12) {
  StartServer({"-tls1_2"});
  CliResult r = Request("client", {"--tls-max", "1.2", "-v"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("* TLSv1.2, cipher "));
  EXPECT_THAT(r.err, HasSubstr("verify ok"));
  EXPECT_THAT(r.out, HasSubstr("Protocol  : TLSv1.2"));
}

TEST_F(OpensslPeerTest, Tls12OnlyServerRefusesTlsMin13WithProtocolVersionError) {
  StartServer({"-tls1_2"});
  CliResult r = Request("client", {"--tls-min", "1.3"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("TLS protocol version mismatch"));
  EXPECT_THAT(r.err, HasSubstr("protocol version"));
  EXPECT_THAT(r.err, HasSubstr("TLSv1.3 only"));
  EXPECT_EQ(r.out, "");
}

TEST_F(OpensslPeerTest, CertificateForLocalhostOnlyIsRefusedAt127001) {
  StartServer({}, "localhost-only");
  CliResult r = Request("client", {}, "127.0.0.1");
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("server certificate verification failed"));
  EXPECT_THAT(r.err, HasSubstr("IP address mismatch"));
  EXPECT_EQ(r.out, "");
}

TEST_F(OpensslPeerTest, CertificateWithLoopbackAddressIsAcceptedAt127001) {
  StartServer({});
  CliResult r = Request("client", {"-v"}, "127.0.0.1");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("verify ok"));
}

TEST_F(OpensslPeerTest, ServerNotTrustingTheClientCertificateIsNamedByItsAlert) {
  StartServer({"-verify_return_error"}, "server", "other-root.pem");
  for (const char* version : {"1.2", "1.3"}) {
    CliResult r = Request("client", {"--tls-min", version, "--tls-max", version});
    EXPECT_EQ(r.exit_code, 1) << version << ": " << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("the server sent alert: unknown CA")) << version;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(OpensslPeerTest, ConnectEndsWhenTheServerDoesThoughStdinStaysOpen) {
  // Like `openssl s_client -quiet`: the server answering and closing ends
  // the command even while its input is still open (a terminal).
  StartServer({});
  int input[2];
  ASSERT_EQ(pipe2(input, O_CLOEXEC), 0);
  std::vector<std::string> args = {KeyholdCliPath(),
                                   "--socket",
                                   pki_->agent.process->socket_path(),
                                   "connect",
                                   absl::StrCat("localhost:", server_->port()),
                                   "--key",
                                   "client",
                                   "--cacert",
                                   pki_->File("root.pem")};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string out = pki_->File("connect-open-stdin.out");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input[0], 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(input[0]);
  ASSERT_EQ(spawned, 0);
  const std::string request = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(write(input[1], request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  // input[1] stays open while we wait.
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 200 && done == 0; ++i) {
    done = waitpid(pid, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  close(input[1]);
  ASSERT_NE(done, 0) << "keyhold connect still running 10 s after the server closed";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_THAT(ReadWholeFile(out), HasSubstr("HTTP/1.0 200 ok"));
}

TEST_F(OpensslPeerTest, NothingListeningIsConnectionRefused) {
  ASSERT_OK_AND_ASSIGN(const uint16_t port, FreeLoopbackPort());
  CliResult r = pki_->Keyhold({"request", absl::StrCat("https://127.0.0.1:", port, "/"), "--key",
                               "client", "--cacert", pki_->File("root.pem")});
  EXPECT_EQ(r.exit_code, 5) << Describe(r);  // UNAVAILABLE
  EXPECT_THAT(r.err, HasSubstr("connection refused"));
}

// (key, TLS version) against a server speaking 1.2 and 1.3.
class OpensslVersionTest
    : public OpensslPeerTest,
      public ::testing::WithParamInterface<std::tuple<std::string, std::string>> {};

TEST_P(OpensslVersionTest, TokenKeySignsHandshakeAtThatVersion) {
  const auto& [key, version] = GetParam();
  StartServer({});
  CliResult r = Request(key, {"--tls-min", version, "--tls-max", version, "-v"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string protocol = absl::StrCat("TLSv", version);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("* ", protocol, ", cipher ")));
  // s_server's page: a new session at that version, and the client's
  // CertificateVerify made by a key of the expected type.
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("New, ", protocol, ", Cipher is ")));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("Protocol  : ", protocol)));
  EXPECT_THAT(r.out, HasSubstr(key == "client" ? "Peer signature type: ECDSA"
                                               : "Peer signature type: RSA"));
}

INSTANTIATE_TEST_SUITE_P(KeysAndVersions, OpensslVersionTest,
                         ::testing::Combine(::testing::Values("client", "client2"),
                                            ::testing::Values("1.2", "1.3")),
                         [](const auto& param_info) {
                           std::string name = absl::StrCat(
                               std::get<0>(param_info.param) == "client" ? "EcP256" : "Rsa2048",
                               "Tls", std::get<1>(param_info.param));
                           name.erase(std::remove(name.begin(), name.end(), '.'), name.end());
                           return name;
                         });

}  // namespace
}  // namespace keyhold::testing
