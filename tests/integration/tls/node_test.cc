// Node.js peers (https.createServer / tls.createServer with requestCert
// and rejectUnauthorized): a server nobody here wrote, reached through
// `keyhold request`, through `keyhold proxy` by a plain-HTTP curl, and
// through `keyhold connect` relaying stdin/stdout.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/tls/peer_process.h"
#include "tests/integration/tls/tls_pki.h"
#include "tests/status_matchers.h"

extern char** environ;

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class NodePeerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TlsPki>> pki = TlsPki::Create();
    if (!pki.ok()) {
      setup_error_ = new std::string(pki.status().ToString());
      return;
    }
    pki_ = pki->release();
    absl::StatusOr<std::unique_ptr<PeerProcess>> https =
        StartNode(pki_->dir.path(), NodeMode::kHttps, pki_->Server());
    if (!https.ok()) {
      setup_error_ = new std::string(https.status().ToString());
      return;
    }
    https_ = https->release();
    absl::StatusOr<std::unique_ptr<PeerProcess>> echo =
        StartNode(pki_->dir.path(), NodeMode::kEcho, pki_->Server());
    if (!echo.ok()) {
      setup_error_ = new std::string(echo.status().ToString());
      return;
    }
    echo_ = echo->release();
  }
  static void TearDownTestSuite() {
    delete echo_;
    echo_ = nullptr;
    delete https_;
    https_ = nullptr;
    delete pki_;
    pki_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(echo_, nullptr) << "setting up: " << (setup_error_ ? *setup_error_ : "");
  }

  static std::vector<std::string> TlsFlags(const std::string& key = "client") {
    return {"--key", key, "--cacert", pki_->File("root.pem")};
  }

  // keyhold --socket S args... with stdin from `input_path`.
  static CliResult KeyholdWithInput(std::vector<std::string> args, const std::string& input_path) {
    args.insert(args.begin(), {KeyholdCliPath(), "--socket", pki_->agent.process->socket_path()});
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string out = pki_->File("connect.out");
    const std::string err = pki_->File("connect.err");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, input_path.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    CliResult result;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      result.err = "posix_spawn failed";
      return result;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadWholeFile(out);
    result.err = ReadWholeFile(err);
    return result;
  }

  static TlsPki* pki_;
  static PeerProcess* https_;
  static PeerProcess* echo_;
  static std::string* setup_error_;
};

TlsPki* NodePeerTest::pki_ = nullptr;
PeerProcess* NodePeerTest::https_ = nullptr;
PeerProcess* NodePeerTest::echo_ = nullptr;
std::string* NodePeerTest::setup_error_ = nullptr;

TEST_F(NodePeerTest, RequestGets200WithTheTokenKeysCommonName) {
  std::vector<std::string> args = {
      "request", absl::StrCat("https://localhost:", https_->port(), "/hello"), "-i"};
  for (const std::string& flag : TlsFlags()) args.push_back(flag);
  CliResult r = pki_->Keyhold(args);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r.out, HasSubstr("\r\n\r\nhello client\n"));
}

TEST_F(NodePeerTest, RequestWithRsaKeyAndPostBodyGets200) {
  std::vector<std::string> args = {
      "request", absl::StrCat("https://localhost:", https_->port(), "/upload"), "-d", "some body"};
  for (const std::string& flag : TlsFlags("client2")) args.push_back(flag);
  CliResult r = pki_->Keyhold(args);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "hello client2\n");
}

TEST_F(NodePeerTest, RequestSendsMethodHeaderAndFileBodyAndReadsChunkedResponse) {
  std::string body;
  for (int i = 0; i < 500; ++i) absl::StrAppend(&body, "row ", i, ";");
  ASSERT_THAT(WriteFile(pki_->File("body.txt"), body), IsOk());
  std::vector<std::string> args = {
      "request", absl::StrCat("https://localhost:", https_->port(), "/inspect?q=1"),
      "-X",      "PUT",
      "-H",      "X-Test: yes please",
      "-d",      "@" + pki_->File("body.txt"),
      "-o",      pki_->File("response.txt"),
      "-i"};
  for (const std::string& flag : TlsFlags()) args.push_back(flag);
  CliResult r = pki_->Keyhold(args);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  // -i with -o: the head on stdout, the body in the file.
  EXPECT_THAT(r.out, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r.out, HasSubstr("X-Peer: client\r\n"));
  EXPECT_THAT(r.out, HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("method=")));
  EXPECT_EQ(ReadWholeFile(pki_->File("response.txt")),
            absl::StrCat("method=PUT\nurl=/inspect?q=1\nx-test=yes please\nbody=", body, "\n"));
}

TEST_F(NodePeerTest, PlainCurlThroughKeyholdProxyGets200AlsoAfterAnAgentRestart) {
  std::vector<std::string> args = {KeyholdCliPath(),
                                   "--socket",
                                   pki_->agent.process->socket_path(),
                                   "proxy",
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--upstream",
                                   absl::StrCat("localhost:", https_->port())};
  for (const std::string& flag : TlsFlags()) args.push_back(flag);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PeerProcess> proxy,
                       PeerProcess::Start(args, pki_->File("proxy.log")));
  ASSERT_THAT(proxy->WaitForPortInLog([](const std::string& log) {
    return PortAfter(log, "keyhold: proxy listening on ");
  }),
              IsOk());
  // Each curl is one plain TCP connection, so one tunnel.
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<CommandResult> r =
        RunProgram({kCurlBinary, "-sS", "-w", "\nhttp_code=%{http_code}\n",
                    absl::StrCat("http://127.0.0.1:", proxy->port(), "/via-proxy")});
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->exit_code, 0) << Describe(*r) << "\nproxy log:\n" << proxy->log();
    EXPECT_EQ(r->output, "hello client\n\nhttp_code=200\n") << "proxy log:\n" << proxy->log();
  }
  EXPECT_TRUE(proxy->running()) << proxy->log();
  EXPECT_THAT(proxy->log(), Not(HasSubstr("keyhold: proxy: ")));
  // The proxy outlives the agent's restart: the next connection reaches
  // the new agent.
  ASSERT_THAT(pki_->agent.process->Restart(), IsOk());
  absl::StatusOr<CommandResult> after =
      RunProgram({kCurlBinary, "-sS", "-w", "\nhttp_code=%{http_code}\n",
                  absl::StrCat("http://127.0.0.1:", proxy->port(), "/after-restart")});
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->output, "hello client\n\nhttp_code=200\n") << "proxy log:\n" << proxy->log();
  EXPECT_TRUE(proxy->running()) << proxy->log();
}

TEST_F(NodePeerTest, ConnectRelaysStdinToEchoServerAndBack) {
  std::string input;
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&input, "line ", i, " through the tunnel\n");
  const std::string input_path = pki_->File("connect.in");
  ASSERT_THAT(WriteFile(input_path, input), IsOk());
  std::vector<std::string> args = {"connect", absl::StrCat("localhost:", echo_->port()), "-v"};
  for (const std::string& flag : TlsFlags()) args.push_back(flag);
  CliResult r = KeyholdWithInput(args, input_path);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out.size(), input.size());
  EXPECT_TRUE(r.out == input) << "the echo differs";
  EXPECT_THAT(r.err, HasSubstr("verify ok"));
}

}  // namespace
}  // namespace keyhold::testing
