// Sign through the agent (gRPC over its unix socket) vs direct signing in
// the tokens layer, RSA-2048 and P-256, at concurrency 1, 8 and 16. Prints
// signs/s, the ratio, the agent's p50/p99 latency, and CPU microseconds
// per signature: direct, and through the agent the client's and the
// agent's. Client and agent share the machine's cores, as they would on a
// host.
// Usage: agent_sign_bench [seconds-per-cell, default 3] [rsa|ec|all] [pause-us]
// With a pause, one caller waits that many microseconds between calls, as
// the provider does between the signatures of consecutive TLS handshakes:
// every call then finds the agent's threads asleep ("cold"), and the
// figures to read are the latencies (direct and through the agent).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include <grpcpp/create_channel.h>
#include <openssl/sha.h>

#include "keyhold/v1/key_service.grpc.pb.h"
#include "tests/bench/measure.h"
#include "tests/integration/agent_process.h"
#include "tokens/token.h"

namespace keyhold {
namespace {

namespace v1 = ::keyhold::v1;

using bench::Measure;
using bench::Result;

int Main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const std::string only = argc > 2 && std::string(argv[2]) != "all" ? argv[2] : "";
  const int pause_us = argc > 3 ? std::atoi(argv[3]) : 0;
  const auto pause = [pause_us] {
    if (pause_us > 0) usleep(static_cast<useconds_t>(pause_us));
  };
  const std::vector<int> concurrency =
      pause_us > 0 ? std::vector<int>{1} : std::vector<int>{1, 8, 16};
  keyhold::testing::AgentOptions options;
  options.extra_config =
      "[[key]]\nlabel = \"rsa\"\npurpose = \"sign\"\n"
      "[[key]]\nlabel = \"ec\"\npurpose = \"sign\"\n";
  auto agent = keyhold::testing::AgentProcess::Start(options);
  if (!agent.ok()) {
    std::fprintf(stderr, "%s\n", std::string(agent.status().message()).c_str());
    return 1;
  }
  auto admin = v1::KeyService::NewStub((*agent)->Channel());
  struct Row {
    const char* name;
    const char* label;
    v1::KeyType type;
    SignatureAlgorithm algorithm;
  };
  const Row rows[] = {
      {"RSA-2048", "rsa", v1::KEY_TYPE_RSA_2048, {SignatureScheme::kRsaPkcs1, HashAlgorithm::kSha256}},
      {"EC P-256", "ec", v1::KEY_TYPE_EC_P256, {SignatureScheme::kEcdsa, HashAlgorithm::kSha256}},
  };
  for (const Row& row : rows) {
    grpc::ClientContext ctx;
    v1::GenerateKeyRequest req;
    req.set_label(row.label);
    req.set_type(row.type);
    v1::Key key;
    if (!admin->GenerateKey(&ctx, req, &key).ok()) {
      std::fprintf(stderr, "GenerateKey failed\n");
      return 1;
    }
  }
  // The direct baseline opens the same token in this process.
  auto token = Token::Open((*agent)->token().config());
  if (!token.ok()) {
    std::fprintf(stderr, "%s\n", std::string(token.status().message()).c_str());
    return 1;
  }
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>("bench"), 5, digest);
  const std::string digest_str(reinterpret_cast<char*>(digest), 32);

  if (pause_us > 0) std::printf("one caller, %d us pause between calls\n", pause_us);
  std::printf("%-9s %4s %10s %10s %7s %8s %8s %9s %9s %9s %8s\n", "key", "c", "direct/s",
              "agent/s", "ratio", "p50 us", "p99 us", "cpu/op d", "client", "agent",
              "d p50 us");
  for (const Row& row : rows) {
    if (!only.empty() && only != row.label) continue;
    auto info = (*token)->FindKeyByLabel(row.label);
    auto signer = (*token)->NewSigner(*info);
    std::shared_ptr<Signer> direct(std::move(*signer));
    for (int c : concurrency) {
      Result d = Measure(c, seconds, [&]() -> std::function<bool()> {
        return [&] {
          pause();
          return direct->Sign(row.algorithm, {digest, 32}).ok();
        };
      });
      Result a = Measure(c, seconds, [&]() -> std::function<bool()> {
        // One connection per client thread, like separate processes.
        grpc::ChannelArguments args;
        args.SetInt("grpc.use_local_subchannel_pool", 1);
        auto channel = grpc::CreateCustomChannel("unix:" + (*agent)->socket_path(),
                                                 grpc::InsecureChannelCredentials(), args);
        std::shared_ptr<v1::KeyService::Stub> stub = v1::KeyService::NewStub(channel);
        return [stub, &row, &digest_str, &pause] {
          pause();
          grpc::ClientContext ctx;
          v1::SignRequest req;
          req.mutable_key()->set_label(row.label);
          req.set_digest_algorithm(v1::DIGEST_ALGORITHM_SHA256);
          req.set_digest(digest_str);
          v1::SignResponse resp;
          return stub->Sign(&ctx, req, &resp).ok();
        };
      }, (*agent)->pid());
      std::printf("%-9s %4d %10.0f %10.0f %6.2fx %8.0f %8.0f %9.0f %9.0f %9.0f %8.0f\n", row.name,
                  c, d.rate, a.rate, a.rate / d.rate, a.p50_us, a.p99_us, d.self_cpu_us,
                  a.self_cpu_us, a.peer_cpu_us, d.p50_us);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace keyhold

int main(int argc, char** argv) { return keyhold::Main(argc, argv); }
