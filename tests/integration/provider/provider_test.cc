// keyhold-provider.so driven by unmodified programs: openssl, curl, nginx
// and Python, each loading the module from an openssl.cnf (OPENSSL_CONF).
#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/integration/provider/provider_fixture.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;


TEST_F(ProviderTest, CsrSignedThroughTheStoreVerifiesWithTheAgentsPublicKey) {
  for (const char* label : {kClientEc, kClientRsa}) {
    SCOPED_TRACE(label);
    const std::string csr = dir_->File(absl::StrCat(label, ".csr"));
    ProgramResult request =
        MustRun({kOpenssl, "req", "-new", "-key", absl::StrCat("keyhold:", label), "-subj",
                 "/CN=x", "-out", csr},
                Options(WithProvider()));
    ASSERT_EQ(request.exit_code, 0) << request.output;
    // Verified without the provider: an ordinary CSR.
    ProgramResult verify = MustRun({kOpenssl, "req", "-verify", "-noout", "-in", csr});
    EXPECT_EQ(verify.exit_code, 0) << verify.output;
    EXPECT_THAT(verify.output, HasSubstr("verify OK"));
    // Signed by the token key: the CSR carries the agent's public key.
    ProgramResult pubkey = MustRun({kOpenssl, "req", "-pubkey", "-noout", "-in", csr});
    ProgramResult shown = MustRun({KeyholdCliPath(), "--socket", agent_->socket_path(), "--json",
                                   "key", "show", label});
    std::string agent_pem = pubkey.output;
    EXPECT_THAT(absl::StrReplaceAll(shown.output, {{"\\n", "\n"}}), HasSubstr(agent_pem));
    EXPECT_GE(AuditLines("KeyService.Sign", label, "ok"), 1);
  }
}

TEST_F(ProviderTest, RsaPssSignaturesVerifyForEverySaltLength) {
  // "0" must mean no salt: the agent once read 0 as "digest length".
  for (const char* salt : {"0", "20", "digest", "max", "auto"}) {
    SCOPED_TRACE(salt);
    const std::string csr = dir_->File(absl::StrCat("pss-", salt, ".csr"));
    ProgramResult request = MustRun(
        {kOpenssl, "req", "-new", "-key", absl::StrCat("keyhold:", kClientRsa), "-sha384",
         "-sigopt", "rsa_padding_mode:pss", "-sigopt", absl::StrCat("rsa_pss_saltlen:", salt),
         "-subj", "/CN=pss", "-out", csr},
        Options(WithProvider()));
    ASSERT_EQ(request.exit_code, 0) << request.output;
    ProgramResult verify = MustRun({kOpenssl, "req", "-verify", "-noout", "-in", csr});
    EXPECT_EQ(verify.exit_code, 0) << verify.output;
    EXPECT_THAT(verify.output, HasSubstr("verify OK"));
  }
}

TEST_F(ProviderTest, AnOpensslConfThatLoadsTheModuleLeavesTheCliAndAgentAlone) {
  // A system-wide openssl.cnf (or OPENSSL_CONF) may load the module into
  // every program, the CLI included: it must not load itself there.
  ProgramResult list = MustRun({KeyholdCliPath(), "--socket", agent_->socket_path(), "key", "list"},
                               Options(WithProvider()));
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr(kClientEc));
  // The agent too (it inherits this environment).
  setenv("OPENSSL_CONF", conf_.c_str(), 1);
  absl::Status restarted = agent_->Restart();
  unsetenv("OPENSSL_CONF");
  ASSERT_TRUE(restarted.ok()) << restarted << "\n" << agent_->ReadAgentLog();
  const std::string csr = dir_->File("after-restart.csr");
  ProgramResult request =
      MustRun({kOpenssl, "req", "-new", "-key", absl::StrCat("keyhold:", kClientEc), "-subj",
               "/CN=x", "-out", csr},
              Options(WithProvider()));
  EXPECT_EQ(request.exit_code, 0) << request.output;
}

TEST_F(ProviderTest, KeyByIdUriWorksAndStoreGivesTheStoredCertificate) {
  const std::string cert = Certify(kClientEc, /*server=*/false);
  ProgramResult certs = MustRun({kOpenssl, "storeutl", "-certs", "-noout", "-text",
                                 absl::StrCat("keyhold:", kClientEc)},
                                Options(WithProvider()));
  EXPECT_EQ(certs.exit_code, 0) << certs.output;
  EXPECT_THAT(certs.output, HasSubstr("Subject: CN=client-ec"));
  ProgramResult keys = MustRun(
      {kOpenssl, "storeutl", "-keys", absl::StrCat("keyhold:", kClientEc)}, Options(WithProvider()));
  EXPECT_EQ(keys.exit_code, 0) << keys.output;
  EXPECT_THAT(keys.output, HasSubstr("Total found: 1"));
  // Private key material never appears, only a reference.
  EXPECT_THAT(keys.output, Not(HasSubstr("BEGIN PRIVATE KEY")));

  // The same key by its id, taken from the reference file.
  std::string reference = ReadFileOrEmpty(WriteReference(kClientEc));
  ASSERT_THAT(reference, HasSubstr("-----BEGIN KEYHOLD KEY REFERENCE-----"));
  ProgramResult decoded = MustRun({"/usr/bin/sh", "-c",
                                   absl::StrCat("sed '1d;$d' ", dir_->File("client-ec.ref.pem"),
                                                " | base64 -d | sed -n 's/^id: //p'")});
  std::string id(absl::StripAsciiWhitespace(decoded.output));
  ASSERT_EQ(id.size(), 32u) << decoded.output;
  const std::string csr = dir_->File("by-id.csr");
  ProgramResult by_id = MustRun(
      {kOpenssl, "req", "-new", "-key", "keyhold:id=" + id, "-subj", "/CN=x", "-out", csr},
      Options(WithProvider()));
  EXPECT_EQ(by_id.exit_code, 0) << by_id.output;
  ProgramResult verify = MustRun({kOpenssl, "req", "-verify", "-noout", "-in", csr});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST_F(ProviderTest, SClientCompletesMutualTlsWithAgentKeys) {
  const std::string request = dir_->File("get.txt");
  {
    std::ofstream out(request);
    out << "GET / HTTP/1.0\r\n\r\n";
  }
  for (const char* label : {kClientEc, kClientRsa}) {
    const std::string cert = Certify(label, /*server=*/false);
    for (const char* version : {"-tls1_2", "-tls1_3"}) {
      SCOPED_TRACE(absl::StrCat(label, " ", version));
      absl::StatusOr<int> port = FreeLoopbackPort();
      ASSERT_TRUE(port.ok()) << port.status();
      const std::string log = dir_->File(absl::StrCat("s_server-", *port, ".log"));
      absl::StatusOr<std::unique_ptr<RunningProgram>> server = RunningProgram::Start(
          {kOpenssl, "s_server", "-accept", absl::StrCat("127.0.0.1:", *port), "-cert",
           server_cert_, "-key", server_key_, "-CAfile", ca_cert_, "-Verify", "1",
           "-verify_return_error", "-www", version},
          log);
      ASSERT_TRUE(server.ok()) << server.status();
      ASSERT_TRUE((*server)->WaitForPort(*port).ok()) << (*server)->Log();
      const int signatures_before = AuditLines("KeyService.Sign", label, "ok");
      ProgramResult client = MustRun(
          {kOpenssl, "s_client", "-connect", absl::StrCat("127.0.0.1:", *port), "-key",
           absl::StrCat("keyhold:", label), "-cert", cert, "-CAfile", ca_cert_,
           "-verify_return_error", "-ign_eof", version},
          Options(WithProvider(), request));
      EXPECT_EQ(client.exit_code, 0) << client.output;
      EXPECT_THAT(client.output, HasSubstr("HTTP/1.0 200 ok"));
      // s_server's status page describes the client certificate it accepted.
      EXPECT_THAT(client.output, HasSubstr("Client certificate"));
      EXPECT_THAT(client.output, HasSubstr(absl::StrCat("Subject: CN=", label)));
      EXPECT_THAT(client.output, HasSubstr(std::string(version) == "-tls1_3" ? "TLSv1.3"
                                                                             : "TLSv1.2"));
      EXPECT_GT(AuditLines("KeyService.Sign", label, "ok"), signatures_before);
    }
  }
}

TEST_F(ProviderTest, CurlWithKeyReferenceGets200FromNginxThatVerifiesClients) {
#ifdef KEYHOLD_ASAN_RUNTIME
  GTEST_SKIP() << "nginx does not run under a preloaded ASan runtime within the test's time "
                  "limit; this test runs in the normal build";
#endif
  const std::string cert = Certify(kClientEc, /*server=*/false);
  const std::string reference = WriteReference(kClientEc);
  const int port = StartNginx(server_cert_, server_key_, /*verify_clients=*/true, {});
  ASSERT_GT(port, 0);
  const std::string url = absl::StrCat("https://127.0.0.1:", port, "/");
  ProgramResult ok = MustRun({kCurl, "-sS", "--max-time", "20", "--cacert", ca_cert_, "--cert",
                              cert, "--key", reference, "-w", "\nstatus=%{http_code}", url},
                             Options(WithProvider()));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("status=200"));
  EXPECT_THAT(ok.output, HasSubstr("CN=client-ec"));

  // Without the provider the reference is not a key curl can use.
  ProgramResult without = MustRun({kCurl, "-sS", "--max-time", "20", "--cacert", ca_cert_,
                                   "--cert", cert, "--key", reference, url},
                                  Options({{"OPENSSL_CONF", "/dev/null"}}));
  EXPECT_NE(without.exit_code, 0) << without.output;
  EXPECT_THAT(without.output, HasSubstr("private key"));
}

TEST_F(ProviderTest, NginxServesWithItsKeyOnTheAgentAcrossForkedWorkers) {
#ifdef KEYHOLD_ASAN_RUNTIME
  GTEST_SKIP() << "nginx does not run under a preloaded ASan runtime within the test's time "
                  "limit; this test runs in the normal build";
#endif
  const std::string cert = Certify(kServerEc, /*server=*/true);
  const std::string reference = WriteReference(kServerEc);
  const int port = StartNginx(cert, reference, /*verify_clients=*/false, WithProvider());
  ASSERT_GT(port, 0);
  const int before = AuditLines("KeyService.Sign", kServerEc, "ok");
  // Several fresh handshakes (no session cache): the workers nginx forked
  // after loading the key sign through connections of their own.
  for (int i = 0; i < 6; ++i) {
    ProgramResult result =
        MustRun({kCurl, "-sS", "--max-time", "20", "--cacert", ca_cert_, "-w",
                 "\nstatus=%{http_code}", absl::StrCat("https://127.0.0.1:", port, "/")});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("status=200"));
  }
  EXPECT_GE(AuditLines("KeyService.Sign", kServerEc, "ok") - before, 6);
}

constexpr char kPythonClient[] = R"(
import os, ssl, sys, time, http.client
cafile, cert, key, port, step_dir = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
ctx.load_cert_chain(cert, key)
def get(tag):
    start = time.monotonic()
    try:
        c = http.client.HTTPSConnection('127.0.0.1', int(port), context=ctx, timeout=30)
        c.request('GET', '/')
        print(tag, c.getresponse().status, flush=True)
    except Exception as e:
        print(tag, 'ERR', round(time.monotonic() - start, 1), e, flush=True)
def wait_for(name):
    path = os.path.join(step_dir, name)
    while not os.path.exists(path):
        time.sleep(0.05)
get('first')
open(os.path.join(step_dir, 'first-done'), 'w').close()
wait_for('agent-stopped')
get('stopped')
open(os.path.join(step_dir, 'stopped-done'), 'w').close()
wait_for('agent-restarted')
get('restarted')
)";

bool WaitForFile(const std::string& path) {
  for (int i = 0; i < 1200; ++i) {
    if (access(path.c_str(), F_OK) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST_F(ProviderTest, PythonLoadCertChainWithReferenceSurvivesAnAgentRestart) {
  const std::string cert = Certify(kClientEc, /*server=*/false);
  const std::string reference = WriteReference(kClientEc);
  const int port = StartNginx(server_cert_, server_key_, /*verify_clients=*/true, {});
  ASSERT_GT(port, 0);
  const std::string script = dir_->File("client.py");
  {
    std::ofstream out(script);
    out << kPythonClient;
  }
  const std::string steps = dir_->File("steps");
  ASSERT_EQ(::mkdir(steps.c_str(), 0755), 0);
  // The socket by environment this time (the config names none).
  const std::string conf = dir_->File("env-socket.cnf");
  {
    std::ofstream out(conf);
    out << "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
        << "alg_section = algorithm_sect\n[provider_sect]\ndefault = default_sect\n"
        << "keyhold = keyhold_sect\n[default_sect]\nactivate = 1\n[keyhold_sect]\nmodule = "
        << ProviderModulePath() << "\nactivate = 1\n[algorithm_sect]\n"
        << "default_properties = ?provider=default\n";
  }
  const std::string log = dir_->File("python.log");
  absl::StatusOr<std::unique_ptr<RunningProgram>> python = RunningProgram::Start(
      {kPython, script, ca_cert_, cert, reference, absl::StrCat(port), steps}, log,
      Options({{"OPENSSL_CONF", conf}, {"KEYHOLD_SOCKET", agent_->socket_path()}}));
  ASSERT_TRUE(python.ok()) << python.status();
  ASSERT_TRUE(WaitForFile(steps + "/first-done")) << ReadFileOrEmpty(log);

  absl::StatusOr<int> stopped = agent_->Stop();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  std::ofstream(steps + "/agent-stopped").close();
  ASSERT_TRUE(WaitForFile(steps + "/stopped-done")) << ReadFileOrEmpty(log);

  ASSERT_TRUE(agent_->Restart().ok());
  std::ofstream(steps + "/agent-restarted").close();
  for (int i = 0; i < 600 && !absl::StrContains(ReadFileOrEmpty(log), "restarted "); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string output = ReadFileOrEmpty(log);
  SCOPED_TRACE(output);
  EXPECT_THAT(output, HasSubstr("first 200"));
  // Agent down: an error, well within the provider's 5 s bound.
  EXPECT_THAT(output, ::testing::ContainsRegex("stopped ERR [0-5]\\.[0-9]"));
  // Same process, same SSLContext: the next handshake works again.
  EXPECT_THAT(output, HasSubstr("restarted 200"));
}

TEST_F(ProviderTest, AgentDownGivesAClearOpensslErrorQuickly) {
  absl::StatusOr<int> stopped = agent_->Stop();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  ProgramResult result = MustRun(
      {kOpenssl, "req", "-new", "-key", absl::StrCat("keyhold:", kClientEc), "-subj", "/CN=x"},
      Options(WithProvider()));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.output, HasSubstr("is keyholdd running?"));
  EXPECT_LT(result.elapsed, absl::Seconds(6));
}

TEST_F(ProviderTest, AnotherUidIsRefusedAndAudited) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run a client as nobody";
  const std::string cert = Certify(kClientEc, /*server=*/false);
  absl::StatusOr<int> port = FreeLoopbackPort();
  ASSERT_TRUE(port.ok());
  absl::StatusOr<std::unique_ptr<RunningProgram>> server = RunningProgram::Start(
      {kOpenssl, "s_server", "-accept", absl::StrCat("127.0.0.1:", *port), "-cert", server_cert_,
       "-key", server_key_, "-CAfile", ca_cert_, "-Verify", "1", "-verify_return_error", "-www"},
      dir_->File("s_server-nobody.log"));
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->WaitForPort(*port).ok()) << (*server)->Log();
  ProgramResult client = MustRun(
      {kOpenssl, "s_client", "-connect", absl::StrCat("127.0.0.1:", *port), "-key",
       absl::StrCat("keyhold:", kClientEc), "-cert", cert, "-CAfile", ca_cert_,
       "-verify_return_error"},
      Options(WithProvider(), "", kNobody));
  EXPECT_NE(client.exit_code, 0) << client.output;
  EXPECT_THAT(client.output, HasSubstr("PERMISSION_DENIED"));
  EXPECT_GE(AuditLines("KeyService.GetKey", kClientEc, "denied") + AuditLines("KeyService.Sign", kClientEc, "denied"),
            1)
      << agent_->ReadAuditLog();
}

}  // namespace
}  // namespace keyhold::testing
