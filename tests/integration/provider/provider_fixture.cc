#include "tests/integration/provider/provider_fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <grpcpp/client_context.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "keyhold/v1/key_service.grpc.pb.h"

namespace keyhold::testing {
namespace {

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

}  // namespace

std::string ProviderModulePath() { return KEYHOLD_PROVIDER_PATH; }

ProgramResult ProviderTest::MustRun(const std::vector<std::string>& argv,
                                    const ProgramOptions& options) {
  absl::StatusOr<ProgramResult> result = Execute(argv, options);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : ProgramResult{};
}

void ProviderTest::SetUp() {
  AgentOptions options;
  // Reachable by nobody (the refused-uid test); the keys are root's only.
  options.world_traversable_dir = true;
  options.socket_group_line = "socket_group = 65534";
  const std::string users = absl::StrCat("users = [", getuid(), "]\n");
  options.extra_config = absl::StrCat(
      "[[key]]\nlabel = \"", kClientEc, "\"\npurpose = \"tls-client\"\nallow_raw_sign = true\n",
      users, "[[key]]\nlabel = \"", kClientRsa,
      "\"\npurpose = \"tls-client\"\nallow_raw_sign = true\n", users, "[[key]]\nlabel = \"",
      kServerEc, "\"\npurpose = \"sign\"\n", users);
  absl::StatusOr<std::unique_ptr<AgentProcess>> agent = AgentProcess::Start(options);
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_ = *std::move(agent);

  auto keys = v1::KeyService::NewStub(agent_->Channel());
  for (auto [label, type] : {std::pair{kClientEc, v1::KEY_TYPE_EC_P256},
                             std::pair{kClientRsa, v1::KEY_TYPE_RSA_2048},
                             std::pair{kServerEc, v1::KEY_TYPE_EC_P256}}) {
    grpc::ClientContext context;
    v1::GenerateKeyRequest request;
    request.set_label(label);
    request.set_type(type);
    v1::Key key;
    grpc::Status status = keys->GenerateKey(&context, request, &key);
    ASSERT_TRUE(status.ok()) << label << ": " << status.error_message();
  }

  absl::StatusOr<TempDirectory> dir = TempDirectory::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  dir_ = std::make_unique<TempDirectory>(*std::move(dir));
  ::chmod(dir_->path().c_str(), 0755);

  conf_ = dir_->File("openssl.cnf");
  WriteText(conf_, absl::StrCat(
                       "openssl_conf = openssl_init\n"
                       "[openssl_init]\nproviders = provider_sect\n"
                       "alg_section = algorithm_sect\n"
                       "[provider_sect]\ndefault = default_sect\nkeyhold = keyhold_sect\n"
                       "[default_sect]\nactivate = 1\n"
                       "[keyhold_sect]\nmodule = ",
                       ProviderModulePath(), "\nsocket = ", agent_->socket_path(),
                       "\nactivate = 1\n"
                       "[algorithm_sect]\ndefault_properties = ?provider=default\n"));

  // The test CA and a software server key (files).
  ca_key_ = dir_->File("ca.key");
  ca_cert_ = dir_->File("ca.pem");
  ProgramResult ca = MustRun({kOpenssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key_, "-out",
                              ca_cert_, "-subj", "/CN=keyhold provider test CA", "-days", "2"});
  ASSERT_EQ(ca.exit_code, 0) << ca.output;
  server_key_ = dir_->File("server.key");
  server_cert_ = dir_->File("server.pem");
  const std::string csr = dir_->File("server.csr");
  ProgramResult server_csr =
      MustRun({kOpenssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", server_key_, "-out", csr, "-subj", "/CN=localhost"});
  ASSERT_EQ(server_csr.exit_code, 0) << server_csr.output;
  WriteText(dir_->File("server.ext"),
            "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n");
  ProgramResult server_cert =
      MustRun({kOpenssl, "x509", "-req", "-in", csr, "-CA", ca_cert_, "-CAkey", ca_key_,
               "-CAcreateserial", "-days", "2", "-extfile", dir_->File("server.ext"), "-out",
               server_cert_});
  ASSERT_EQ(server_cert.exit_code, 0) << server_cert.output;
  WriteText(dir_->File("client.ext"), "extendedKeyUsage = clientAuth\n");
  for (const std::string& file : {ca_cert_, server_cert_, server_key_, conf_}) {
    ::chmod(file.c_str(), 0644);
  }
}

Environment ProviderTest::WithProvider() const { return {{"OPENSSL_CONF", conf_}}; }

std::string ProviderTest::Certify(const std::string& label, bool server) {
  const std::string csr = dir_->File(label + ".csr");
  const std::string cert = dir_->File(label + ".pem");
  ProgramResult request =
      MustRun({kOpenssl, "req", "-new", "-key", "keyhold:" + label, "-subj",
               "/CN=" + (server ? std::string("localhost") : label), "-out", csr},
              Options(WithProvider()));
  EXPECT_EQ(request.exit_code, 0) << request.output;
  ProgramResult sign =
      MustRun({kOpenssl, "x509", "-req", "-in", csr, "-CA", ca_cert_, "-CAkey", ca_key_,
               "-CAcreateserial", "-days", "2", "-extfile",
               dir_->File(server ? "server.ext" : "client.ext"), "-out", cert});
  EXPECT_EQ(sign.exit_code, 0) << sign.output;
  ::chmod(cert.c_str(), 0644);
  ProgramResult import = MustRun(
      {KeyholdCliPath(), "--socket", agent_->socket_path(), "cert", "import", label, cert});
  EXPECT_EQ(import.exit_code, 0) << import.output;
  return cert;
}

std::string ProviderTest::WriteReference(const std::string& label) {
  ProgramResult show = MustRun(
      {KeyholdCliPath(), "--socket", agent_->socket_path(), "key", "show", label, "--reference"});
  EXPECT_EQ(show.exit_code, 0) << show.output;
  const std::string path = dir_->File(label + ".ref.pem");
  WriteText(path, show.output);
  ::chmod(path.c_str(), 0644);
  return path;
}

int ProviderTest::StartNginx(const std::string& cert, const std::string& key,
                             bool verify_clients, const Environment& env) {
  absl::StatusOr<int> port = FreeLoopbackPort();
  EXPECT_TRUE(port.ok()) << port.status();
  if (!port.ok()) return -1;
  const std::string prefix = dir_->File(absl::StrCat("nginx-", *port));
  ::mkdir(prefix.c_str(), 0755);
  const std::string conf = prefix + "/nginx.conf";
  WriteText(conf,
            absl::StrCat("daemon off;\nmaster_process on;\nworker_processes 2;\nuser root;\n"
                         "pid ", prefix, "/nginx.pid;\nerror_log ", prefix,
                         "/error.log info;\n"
                         "events { worker_connections 64; }\n"
                         "http {\n  access_log ", prefix, "/access.log;\n",
                         "  client_body_temp_path ", prefix, "/body;\n",
                         "  proxy_temp_path ", prefix, "/proxy;\n",
                         "  fastcgi_temp_path ", prefix, "/fastcgi;\n",
                         "  uwsgi_temp_path ", prefix, "/uwsgi;\n",
                         "  scgi_temp_path ", prefix, "/scgi;\n",
                         "  server {\n    listen 127.0.0.1:", *port, " ssl;\n",
                         "    ssl_certificate ", cert, ";\n    ssl_certificate_key ", key,
                         ";\n    ssl_session_cache off;\n    ssl_session_tickets off;\n",
                         verify_clients
                             ? absl::StrCat("    ssl_verify_client on;\n"
                                            "    ssl_client_certificate ",
                                            ca_cert_, ";\n")
                             : "",
                         "    location / { return 200 \"hello $ssl_client_s_dn\\n\"; }\n"
                         "  }\n}\n"));
  absl::StatusOr<std::unique_ptr<RunningProgram>> nginx = RunningProgram::Start(
      {kNginx, "-p", prefix, "-c", conf}, prefix + "/stderr.log", Options(env));
  EXPECT_TRUE(nginx.ok()) << nginx.status();
  if (!nginx.ok()) return -1;
  absl::Status up = (*nginx)->WaitForPort(*port);
  EXPECT_TRUE(up.ok()) << up << "\n" << ReadFileOrEmpty(prefix + "/error.log");
  servers_.push_back(*std::move(nginx));
  return *port;
}

int ProviderTest::AuditLines(const std::string& op, const std::string& label,
                             const std::string& result) const {
  int count = 0;
  for (absl::string_view line : absl::StrSplit(agent_->ReadAuditLog(), '\n')) {
    if (absl::StrContains(line, absl::StrCat("\"op\":\"", op, "\"")) &&
        absl::StrContains(line, absl::StrCat("\"label\":\"", label, "\"")) &&
        absl::StrContains(line, absl::StrCat("\"result\":\"", result, "\""))) {
      ++count;
    }
  }
  return count;
}

}  // namespace keyhold::testing
