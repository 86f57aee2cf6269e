// Certificate issuance through the agent's CA (gRPC SignCsr: CSR intake,
// policy, a token signature, and a durable registry commit) vs a loop of
// `openssl x509 -req -CA ca.pem -CAkey ca.key` processes with the CA key in
// a file, the way the mTLS guides issue. P-256 and RSA-2048 CAs, agent
// concurrency 1 and 16; the openssl loop runs 1 and 2 (the machine's cores)
// processes at a time. Prints certificates/s, the ratios, and p50/p99.
// Usage: ca_issue_bench [seconds-per-cell, default 3]
#include <spawn.h>
#include <sys/wait.h>

#include <fcntl.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <cstdlib>
#include <string>
#include <vector>

#include <grpcpp/create_channel.h>

#include "keyhold/v1/ca_service.grpc.pb.h"
#include "keyhold/v1/key_service.grpc.pb.h"
#include "tests/bench/measure.h"
#include "tests/integration/agent_process.h"
#include "tests/testing/openssl_cli.h"

extern char** environ;

namespace keyhold {
namespace {

namespace v1 = ::keyhold::v1;
using bench::Measure;
using bench::Result;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ca_issue_bench: %s\n", what.c_str());
  std::exit(1);
}

// Runs a program to completion with stdout/stderr discarded; true on exit 0.
bool RunQuiet(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::unique_ptr<v1::CertificateAuthorityService::Stub> NewStub(const std::string& socket) {
  // One connection per client thread, like separate processes.
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return v1::CertificateAuthorityService::NewStub(
      grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args));
}

int Main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  testing::AgentOptions options;
  options.extra_config =
      "[[ca]]\nlabel = \"ec-ca\"\npolicy = \"loose\"\n"
      "[[ca]]\nlabel = \"rsa-ca\"\npolicy = \"loose\"\n";
  auto agent = testing::AgentProcess::Start(options);
  if (!agent.ok()) Die(std::string(agent.status().message()));
  const std::string socket = (*agent)->socket_path();
  auto admin = NewStub(socket);

  struct Row {
    const char* name;
    const char* label;
    v1::KeyType type;
    const char* openssl_key;  // -newkey argument for the file CA
  };
  const Row rows[] = {
      {"P-256", "ec-ca", v1::KEY_TYPE_EC_P256, "ec"},
      {"RSA-2048", "rsa-ca", v1::KEY_TYPE_RSA_2048, "rsa:2048"},
  };
  for (const Row& row : rows) {
    grpc::ClientContext ctx;
    v1::InitCaRequest req;
    req.set_label(row.label);
    req.set_subject(std::string("/CN=bench ") + row.name + " CA");
    req.set_generate(row.type);
    v1::CaCertificate ca;
    grpc::Status s = admin->InitCa(&ctx, req, &ca);
    if (!s.ok()) Die("InitCa: " + s.error_message());
  }

  // One CSR for every issuance: intake, policy and signing are the same
  // work whatever the subject.
  absl::StatusOr<testing::TempDirectory> temp = testing::TempDirectory::Create();
  if (!temp.ok()) Die(std::string(temp.status().message()));
  const testing::TempDirectory& dir = *temp;
  const std::string leaf_key = dir.path() + "/leaf.key";
  const std::string csr_path = dir.path() + "/leaf.csr";
  if (!RunQuiet({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", leaf_key, "-subj",
                 "/CN=bench-client", "-out", csr_path})) {
    Die("openssl req for the leaf CSR failed");
  }
  std::ifstream csr_in(csr_path);
  const std::string csr((std::istreambuf_iterator<char>(csr_in)), std::istreambuf_iterator<char>());

  std::printf("%-9s %-22s %4s %10s %10s %10s\n", "CA", "issuer", "c", "certs/s", "p50 us",
              "p99 us");
  for (const Row& row : rows) {
    Result agent_rates[2];
    int i = 0;
    for (int c : {1, 16}) {
      agent_rates[i] = Measure(c, seconds, [&]() -> std::function<bool()> {
        std::shared_ptr<v1::CertificateAuthorityService::Stub> stub = NewStub(socket);
        return [stub, &row, &csr] {
          grpc::ClientContext ctx;
          v1::SignCsrRequest req;
          req.set_ca(row.label);
          req.set_profile("client");
          req.set_csr(csr);
          req.set_days(30);
          v1::SignCsrResponse resp;
          return stub->SignCsr(&ctx, req, &resp).ok();
        };
      });
      std::printf("%-9s %-22s %4d %10.0f %10.0f %10.0f\n", row.name, "keyhold agent", c,
                  agent_rates[i].rate, agent_rates[i].p50_us, agent_rates[i].p99_us);
      std::fflush(stdout);
      ++i;
    }
    // The file-key CA that `openssl x509 -req` signs with.
    const std::string ca_key = dir.path() + "/" + row.label + ".key";
    const std::string ca_pem = dir.path() + "/" + row.label + ".pem";
    std::vector<std::string> make_ca = {"openssl", "req", "-x509", "-newkey", row.openssl_key};
    if (std::string(row.openssl_key) == "ec") {
      make_ca.insert(make_ca.end(), {"-pkeyopt", "ec_paramgen_curve:P-256"});
    }
    make_ca.insert(make_ca.end(), {"-nodes", "-keyout", ca_key, "-out", ca_pem, "-subj",
                                   "/CN=file CA", "-days", "365"});
    if (!RunQuiet(make_ca)) Die("openssl req -x509 for the file CA failed");
    Result loop_rates[2];
    i = 0;
    for (int c : {1, 2}) {
      loop_rates[i] = Measure(c, seconds, [&]() -> std::function<bool()> {
        return [&] {
          return RunQuiet({"openssl", "x509", "-req", "-in", csr_path, "-CA", ca_pem, "-CAkey",
                           ca_key, "-set_serial", "0x" + std::to_string(std::rand()), "-days",
                           "30", "-out", "/dev/null"});
        };
      });
      std::printf("%-9s %-22s %4d %10.0f %10.0f %10.0f\n", row.name, "openssl x509 -req loop", c,
                  loop_rates[i].rate, loop_rates[i].p50_us, loop_rates[i].p99_us);
      std::fflush(stdout);
      ++i;
    }
    std::printf("%-9s agent c=16 / openssl loop c=1: %.1fx; / openssl loop c=2: %.1fx\n",
                row.name, agent_rates[1].rate / loop_rates[0].rate,
                agent_rates[1].rate / loop_rates[1].rate);
  }
  return 0;
}

}  // namespace
}  // namespace keyhold

int main(int argc, char** argv) { return keyhold::Main(argc, argv); }
