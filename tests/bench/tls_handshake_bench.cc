// mTLS client handshakes through the agent (TlsService.Connect: open →
// established → close, the close either by cancelling the call at once or
// cleanly; the client key on the SoftHSM2 token signs) vs
// `openssl s_time` with a key of the same type in a FILE (the token key
// cannot be exported, so a separate file key with a certificate from the
// same CA stands in for it), against the same `openssl s_server -Verify 1
// -www` on 127.0.0.1:
//   full     server started with -no_ticket -no_cache: nothing resumes;
//            agent vs `s_time -new`
//   resumed  server allowing resumption (tickets, session cache); agent
//            vs `s_time -reuse`
// for P-256 and RSA-2048 client keys, TLS 1.3 and 1.2, one connection at
// a time (s_time and s_server are sequential). Agent and s_time alternate
// in rounds. Columns: handshakes/s; for the agent the p50 from opening the
// stream to the handshake facts ("est. p50"), and p50/p99 of the whole
// open-handshake-close; for s_time the mean time per connection; CPU per
// handshake: all of keyholdd's for the agent, s_time's user CPU for
// s_time (neither counts the server or the gRPC client); how many
// connections were resumed (s_time -reuse cannot resume TLS 1.3: it never
// reads the tickets the server sends after the handshake).
//
// Then the agent's memory (VmRSS) and threads with N idle tunnels open to a
// node TLS echo server. Client, agent and server share the machine's cores.
//
// Usage: tls_handshake_bench [seconds per cell, default 6, run as 3
//        alternating rounds] [idle tunnels, default 1000]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/agent_client.h"
#include "tests/bench/measure.h"
#include "tests/integration/tls/peer_process.h"
#include "tests/integration/tls/tls_pki.h"

namespace keyhold {
namespace {

namespace v1 = ::keyhold::v1;
using bench::Measure;
using bench::Result;
using testing::PeerProcess;
using testing::TlsPki;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "tls_handshake_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(absl::StatusOr<T> value, const std::string& what) {
  if (!value.ok()) Die(absl::StrCat(what, ": ", value.status().ToString()));
  return *std::move(value);
}

// How a measured tunnel ends once the handshake is done.
enum class Close {
  // close_write (the agent sends close_notify), then wait for the server
  // to end its side and the call to finish OK: one more round trip with
  // the server, and in TLS 1.3 the tickets the server sent are read.
  kClean,
  // Cancel the call: the agent closes the tunnel at once (best-effort
  // close_notify), as s_time closes its socket without waiting.
  kCancel,
};

// One tunnel: open, wait for the handshake facts, close. `established_us`,
// when given, gets the time from opening the stream to the facts.
absl::StatusOr<v1::HandshakeFacts> HandshakeOnce(client::AgentClient& agent,
                                                 const v1::TlsOptions& options, Close close,
                                                 double* established_us = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<client::AgentClient::ConnectStream> stream = agent.Connect();
  v1::ConnectRequest open;
  *open.mutable_open() = options;
  v1::ConnectResponse reply;
  if (!stream->Write(open) || !stream->Read(&reply) || !reply.has_established()) {
    stream->WritesDone();
    while (stream->Read(&reply)) {
    }
    absl::Status status = stream->Finish();
    return status.ok() ? absl::UnknownError("the tunnel ended before the handshake") : status;
  }
  if (established_us != nullptr) {
    *established_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  }
  v1::HandshakeFacts facts = reply.established();
  if (close == Close::kCancel) {
    stream->Cancel();
    while (stream->Read(&reply)) {
    }
    (void)stream->Finish();  // CANCELLED
    return facts;
  }
  v1::ConnectRequest close_write;
  close_write.set_close_write(true);
  stream->Write(close_write);
  stream->WritesDone();
  while (stream->Read(&reply)) {
  }
  if (absl::Status status = stream->Finish(); !status.ok()) return status;
  return facts;
}

struct ProcessFigures {
  long rss_kib = -1;
  int threads = -1;
};

// VmRSS and Threads of /proc/PID/status.
ProcessFigures ProcessStatus(pid_t pid) {
  ProcessFigures out;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    std::vector<std::string> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t:"), absl::SkipEmpty());
    if (words.size() < 2) continue;
    if (words[0] == "VmRSS") (void)absl::SimpleAtoi(words[1], &out.rss_kib);
    if (words[0] == "Threads") (void)absl::SimpleAtoi(words[1], &out.threads);
  }
  return out;
}

// User + system CPU seconds of a process so far (/proc/PID/stat).
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses: state is the
  // 3rd field, utime the 14th, stime the 15th.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  long utime = 0;
  long stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return 0;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(fraction * static_cast<double>(values.size() - 1))];
}

// Handshakes of one client over all rounds.
struct Run {
  double seconds = 0;
  long handshakes = 0;
  long resumed = 0;
  std::vector<double> total_us;        // agent: open to the end of the stream
  std::vector<double> established_us;  // agent: open to the handshake facts
  // keyholdd's CPU (agent runs) or s_time's user CPU (s_time runs).
  double cpu_seconds = 0;

  double rate() const { return seconds > 0 ? static_cast<double>(handshakes) / seconds : 0; }
};

// Handshakes through the agent, one at a time, for `seconds`.
void MeasureAgent(client::AgentClient& agent, pid_t agent_pid, const v1::TlsOptions& options,
                  Close close, double seconds, Run& run) {
  // Not timed: the first connection of a context is always full, and it
  // fills the session store when the server allows resumption.
  (void)Check(HandshakeOnce(agent, options, Close::kClean), "warm-up handshake");
  long handshakes = 0;
  const double cpu_before = CpuSeconds(agent_pid);
  const Result result = Measure(1, seconds, [&]() -> std::function<bool()> {
    return [&] {
      double established_us = 0;
      const auto start = std::chrono::steady_clock::now();
      absl::StatusOr<v1::HandshakeFacts> facts =
          HandshakeOnce(agent, options, close, &established_us);
      if (!facts.ok()) {
        std::fprintf(stderr, "handshake: %s\n", facts.status().ToString().c_str());
        return false;
      }
      run.total_us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count());
      run.established_us.push_back(established_us);
      ++handshakes;
      if (facts->session_reused()) ++run.resumed;
      return true;
    };
  });
  run.cpu_seconds += CpuSeconds(agent_pid) - cpu_before;
  run.handshakes += handshakes;
  if (result.rate > 0) run.seconds += static_cast<double>(handshakes) / result.rate;
}

// `openssl s_time -connect 127.0.0.1:PORT <mode> ...` for about `seconds`
// (whole seconds); counted over the wall time of the process, since
// s_time's own "real seconds" are whole seconds. s_time prints one
// character per connection, 'r' when it was resumed.
void MeasureSTime(uint16_t port, const std::string& mode, const std::string& name,
                  const std::string& version, const TlsPki& pki, double seconds, Run& run) {
  std::vector<std::string> argv = {testing::kOpensslBinary,
                                   "s_time",
                                   "-connect",
                                   absl::StrCat("127.0.0.1:", port),
                                   mode,
                                   "-cert",
                                   pki.File(name + ".pem"),
                                   "-key",
                                   pki.File(name + ".key"),
                                   "-CAfile",
                                   pki.File("root.pem"),
                                   "-time",
                                   absl::StrCat(std::max(1, static_cast<int>(seconds + 0.5))),
                                   version == "1.2" ? "-tls1_2" : "-tls1_3"};
  const auto start = std::chrono::steady_clock::now();
  testing::CommandResult result = Check(testing::RunProgram(argv), "openssl s_time");
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.exit_code != 0) Die(absl::StrCat("openssl s_time: ", testing::Describe(result)));
  // "1234 connections in 0.48s; 2570.83 connections/user sec, ..." (user
  // CPU), then "1234 connections in 5 real seconds, ...".
  for (absl::string_view line : absl::StrSplit(result.output, '\n')) {
    if (const size_t in = line.find(" connections in ");
        in != absl::string_view::npos &&
        line.find("connections/user sec") != absl::string_view::npos) {
      absl::string_view user = line.substr(in + 16);
      double cpu = 0;
      if (absl::SimpleAtod(user.substr(0, user.find('s')), &cpu)) run.cpu_seconds += cpu;
    }
    if (line.find("real seconds") == absl::string_view::npos) continue;
    long connections = 0;
    if (absl::SimpleAtoi(line.substr(0, line.find(' ')), &connections)) {
      run.handshakes += connections;
      run.seconds += elapsed;
      // Progress lines hold only 'r' (resumed), '*', 't' and '3'.
      for (absl::string_view progress : absl::StrSplit(result.output, '\n')) {
        if (!progress.empty() && progress.find_first_not_of("r*t3") == absl::string_view::npos) {
          run.resumed += static_cast<long>(std::count(progress.begin(), progress.end(), 'r'));
        }
      }
      return;
    }
  }
  Die(absl::StrCat("no \"real seconds\" line from s_time: ", result.output));
}

void RaiseOpenFileLimit(rlim_t wanted) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= wanted) return;
  rlimit raised = limit;
  raised.rlim_cur = wanted;
  raised.rlim_max = std::max(limit.rlim_max, wanted);
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    raised.rlim_max = limit.rlim_max;
    raised.rlim_cur = std::min(wanted, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &raised);
  }
}

int Main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 6.0;
  const int idle_tunnels = argc > 2 ? std::atoi(argv[2]) : 1000;
  // Inherited by keyholdd and node: each idle tunnel is a socket in both.
  RaiseOpenFileLimit(8192);

  std::unique_ptr<TlsPki> pki = Check(TlsPki::Create(), "building the PKI");
  // The file-key stand-ins for the token keys, from the same CA.
  for (const auto& [name, spec] :
       {std::pair{"file-ec", "ec:P-256"}, std::pair{"file-rsa", "rsa:2048"}}) {
    if (absl::Status s = pki->IssueForFileKey(name, spec, name, "client", {}); !s.ok()) {
      Die(absl::StrCat("issuing ", name, ": ", s.ToString()));
    }
  }
  const std::vector<std::string> server_args = {
      "-cert",   pki->File("server.pem"), "-key",    pki->File("server.key"),
      "-CAfile", pki->File("root.pem"),   "-Verify", "1",
      "-www"};
  std::vector<std::string> no_resumption = server_args;
  no_resumption.insert(no_resumption.end(), {"-no_ticket", "-no_cache"});
  std::unique_ptr<PeerProcess> full_server =
      Check(testing::StartOpensslServer(no_resumption, pki->File("s_server-full.log")), "s_server");
  std::unique_ptr<PeerProcess> resume_server =
      Check(testing::StartOpensslServer(server_args, pki->File("s_server-resume.log")), "s_server");
  std::unique_ptr<client::AgentClient> agent =
      Check(client::AgentClient::Connect(pki->agent.process->socket_path()), "connecting");
  const pid_t agent_pid = pki->agent.process->pid();

  struct Row {
    const char* name;
    const char* token_key;
    const char* file_key;
    const char* version;
  };
  const Row rows[] = {
      {"P-256", "client", "file-ec", "1.3"},
      {"P-256", "client", "file-ec", "1.2"},
      {"RSA-2048", "client2", "file-rsa", "1.3"},
      {"RSA-2048", "client2", "file-rsa", "1.2"},
  };
  // Agent and s_time alternate in short rounds, so that load from
  // anything else on the machine falls on both alike.
  constexpr int kRounds = 3;
  const double slice = std::max(1.0, seconds / kRounds);
  std::printf(
      "mTLS client handshakes/s, one connection at a time; %d alternating rounds of "
      "%.0f s per client\n",
      kRounds, slice);
  std::printf("%-9s %-8s %-8s %-32s %12s %10s %9s %9s %8s %11s\n", "key", "proto", "mode", "client",
              "handshakes/s", "est. p50", "p50 us", "p99 us", "CPU us", "resumed");
  const auto print = [](const Row& row, const char* mode, const char* client, const Run& run,
                        bool agent_run) {
    const std::string resumed = absl::StrCat(run.resumed, "/", run.handshakes);
    const double cpu_us =
        run.handshakes > 0 ? 1e6 * run.cpu_seconds / static_cast<double>(run.handshakes) : 0;
    if (agent_run) {
      std::printf("%-9s TLSv%-4s %-8s %-32s %12.0f %10.0f %9.0f %9.0f %8.0f %11s\n", row.name,
                  row.version, mode, client, run.rate(), Percentile(run.established_us, 0.5),
                  Percentile(run.total_us, 0.5), Percentile(run.total_us, 0.99), cpu_us,
                  resumed.c_str());
    } else {
      std::printf("%-9s TLSv%-4s %-8s %-32s %12.0f %10s %9.0f %9s %8.0f %11s\n", row.name,
                  row.version, mode, client, run.rate(), "-",
                  run.rate() > 0 ? 1e6 / run.rate() : 0.0, "-", cpu_us, resumed.c_str());
    }
    std::fflush(stdout);
  };
  struct Ratios {
    std::string label;
    double full_cancel;
    double full_clean;
    double resumed_cancel;
    double resumed_clean;
  };
  std::vector<Ratios> ratios;
  for (const Row& row : rows) {
    const v1::TlsVersion version =
        std::string(row.version) == "1.3" ? v1::TLS_VERSION_1_3 : v1::TLS_VERSION_1_2;
    v1::TlsOptions options;
    options.set_key(row.token_key);
    options.set_ca_bundle_pem(testing::ReadWholeFile(pki->File("root.pem")));
    options.set_min_version(version);
    options.set_max_version(version);
    v1::TlsOptions full_options = options;
    full_options.set_target(absl::StrCat("127.0.0.1:", full_server->port()));
    v1::TlsOptions resume_options = options;
    resume_options.set_target(absl::StrCat("127.0.0.1:", resume_server->port()));

    Run full_cancel, full_clean, file_full, resumed_cancel, resumed_clean, file_resumed;
    for (int round = 0; round < kRounds; ++round) {
      MeasureAgent(*agent, agent_pid, full_options, Close::kCancel, slice, full_cancel);
      MeasureAgent(*agent, agent_pid, full_options, Close::kClean, slice, full_clean);
      MeasureSTime(full_server->port(), "-new", row.file_key, row.version, *pki, slice, file_full);
      MeasureAgent(*agent, agent_pid, resume_options, Close::kCancel, slice, resumed_cancel);
      MeasureAgent(*agent, agent_pid, resume_options, Close::kClean, slice, resumed_clean);
      MeasureSTime(resume_server->port(), "-reuse", row.file_key, row.version, *pki, slice,
                   file_resumed);
    }
    print(row, "full", "agent, cancel after handshake", full_cancel, true);
    print(row, "full", "agent, clean close", full_clean, true);
    print(row, "full", "openssl s_time -new (file key)", file_full, false);
    print(row, "resumed", "agent, cancel after handshake", resumed_cancel, true);
    print(row, "resumed", "agent, clean close", resumed_clean, true);
    print(row, "resumed", "openssl s_time -reuse (file key)", file_resumed, false);
    ratios.push_back({absl::StrCat(row.name, " TLSv", row.version),
                      full_cancel.rate() / file_full.rate(), full_clean.rate() / file_full.rate(),
                      resumed_cancel.rate() / full_cancel.rate(),
                      resumed_clean.rate() / full_clean.rate()});
  }
  std::printf("\n%-16s %-29s %-29s\n", "", "full: agent / s_time -new", "agent: resumed / full");
  std::printf("%-16s %14s %14s %14s %14s\n", "", "cancel", "clean close", "cancel", "clean close");
  for (const Ratios& r : ratios) {
    std::printf("%-16s %13.2fx %13.2fx %13.2fx %13.2fx\n", r.label.c_str(), r.full_cancel,
                r.full_clean, r.resumed_cancel, r.resumed_clean);
  }
  std::printf("goals: full >= 0.80x the file-key rate; resumed >= 3x full\n");

  // Idle tunnels: a node TLS echo peer holds the other ends.
  std::unique_ptr<PeerProcess> echo =
      Check(testing::StartNode(pki->dir.path(), testing::NodeMode::kEcho, pki->Server()),
            "starting node");
  const ProcessFigures before = ProcessStatus(agent_pid);
  v1::TlsOptions options;
  options.set_key("client");
  options.set_ca_bundle_pem(testing::ReadWholeFile(pki->File("root.pem")));
  options.set_target(absl::StrCat("127.0.0.1:", echo->port()));
  // Ten client connections to the agent, as from several processes.
  std::vector<std::unique_ptr<client::AgentClient>> clients;
  for (int i = 0; i < 10; ++i) {
    clients.push_back(
        Check(client::AgentClient::Connect(pki->agent.process->socket_path()), "connecting"));
  }
  std::vector<std::unique_ptr<client::AgentClient::ConnectStream>> tunnels(idle_tunnels);
  const auto open_start = std::chrono::steady_clock::now();
  {
    constexpr int kOpeners = 8;
    std::vector<std::thread> openers;
    std::atomic<int> failures{0};
    for (int t = 0; t < kOpeners; ++t) {
      openers.emplace_back([&, t] {
        for (int i = t; i < idle_tunnels; i += kOpeners) {
          tunnels[i] = clients[i % clients.size()]->Connect();
          v1::ConnectRequest open;
          *open.mutable_open() = options;
          v1::ConnectResponse reply;
          if (!tunnels[i]->Write(open) || !tunnels[i]->Read(&reply) || !reply.has_established()) {
            ++failures;
          }
        }
      });
    }
    for (std::thread& t : openers) t.join();
    if (failures > 0) Die(absl::StrCat(failures.load(), " tunnels did not open"));
  }
  const double open_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - open_start).count();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let it settle
  const ProcessFigures open = ProcessStatus(agent_pid);
  std::printf("\nkeyholdd with %d idle tunnels (opened in %.1f s, 8 client threads):\n",
              idle_tunnels, open_seconds);
  std::printf("  %-22s %10s %8s\n", "", "VmRSS MB", "threads");
  std::printf("  %-22s %10.1f %8d\n", "before", before.rss_kib / 1024.0, before.threads);
  std::printf("  %-22s %10.1f %8d   (goals: < 200 MB, < 32 threads)\n", "tunnels open",
              open.rss_kib / 1024.0, open.threads);
  std::printf("  per tunnel: %.1f KiB\n",
              static_cast<double>(open.rss_kib - before.rss_kib) / idle_tunnels);
  // Close them all: close_notify each way.
  for (auto& tunnel : tunnels) {
    v1::ConnectRequest close;
    close.set_close_write(true);
    tunnel->Write(close);
    tunnel->WritesDone();
  }
  int clean = 0;
  for (auto& tunnel : tunnels) {
    v1::ConnectResponse reply;
    while (tunnel->Read(&reply)) {
    }
    if (tunnel->Finish().ok()) ++clean;
  }
  std::printf("  closed cleanly: %d of %d\n", clean, idle_tunnels);
  return 0;
}

}  // namespace
}  // namespace keyhold

int main(int argc, char** argv) { return keyhold::Main(argc, argv); }
