#include "tests/integration/tls/peer_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "tests/testing/openssl_cli.h"

extern char** environ;

namespace keyhold::testing {

std::optional<uint16_t> PortAfter(const std::string& log, const std::string& prefix) {
  const size_t at = log.find(prefix);
  if (at == std::string::npos) return std::nullopt;
  const size_t end = log.find('\n', at);
  if (end == std::string::npos) return std::nullopt;  // the line is still being written
  std::string word = log.substr(at + prefix.size(), end - at - prefix.size());
  word = word.substr(0, word.find(' '));
  if (const size_t colon = word.rfind(':'); colon != std::string::npos) {
    word = word.substr(colon + 1);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(word, &port) || port == 0 || port > 65535) return std::nullopt;
  return static_cast<uint16_t>(port);
}

namespace {

// The node peer: argv is MODE KEY CERT CA; prints "listening PORT".
constexpr char kNodePeerScript[] = R"js('use strict';
const fs = require('fs');
const https = require('https');
const tls = require('tls');
const [mode, keyFile, certFile, caFile] = process.argv.slice(2);
const options = {
  key: fs.readFileSync(keyFile),
  cert: fs.readFileSync(certFile),
  ca: fs.readFileSync(caFile),
  requestCert: true,
  rejectUnauthorized: true,
};
let server;
if (mode === 'https') {
  server = https.createServer(options, (req, res) => {
    const cn = req.socket.getPeerCertificate().subject.CN;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      if (!req.url.startsWith('/inspect')) {
        res.writeHead(200, {'Content-Type': 'text/plain'});
        res.end('hello ' + cn + '\n');
        return;
      }
      // No Content-Length: the response is chunked.
      res.writeHead(200, {'Content-Type': 'text/plain', 'X-Peer': cn});
      res.write('method=' + req.method + '\n');
      res.write('url=' + req.url + '\n');
      res.write('x-test=' + (req.headers['x-test'] || '') + '\n');
      res.end('body=' + body + '\n');
    });
  });
} else {
  server = tls.createServer(options, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
}
server.on('tlsClientError', () => {});
server.listen(0, '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
process.on('SIGTERM', () => process.exit(0));
)js";

constexpr char kNginxConfig[] = R"(user root;
worker_processes 1;
error_log DIR/error.log info;
events { worker_connections 1024; }
http {
  access_log DIR/access.log;
  client_body_temp_path DIR/body;
  proxy_temp_path DIR/proxy;
  fastcgi_temp_path DIR/fastcgi;
  uwsgi_temp_path DIR/uwsgi;
  scgi_temp_path DIR/scgi;
  server {
    listen 127.0.0.1:PORT ssl;
    server_name localhost;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate CERT;
    ssl_certificate_key KEY;
    ssl_client_certificate CLIENT_CA;
    ssl_verify_client on;
    location / {
      default_type text/plain;
      return 200 "$ssl_client_s_dn\n";
    }
  }
}
)";

}  // namespace

absl::StatusOr<uint16_t> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return absl::InternalError(absl::StrCat("binding 127.0.0.1:0: ", why));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool AcceptsConnections(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

absl::StatusOr<std::unique_ptr<PeerProcess>> PeerProcess::Start(std::vector<std::string> argv,
                                                                std::string log_path) {
  if (argv.empty()) return absl::InvalidArgumentError("PeerProcess: no program");
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return absl::InternalError(absl::StrCat("posix_spawn ", argv[0], ": ", std::strerror(error)));
  }
  return std::unique_ptr<PeerProcess>(new PeerProcess(pid, std::move(log_path)));
}

PeerProcess::~PeerProcess() { (void)Stop(); }

bool PeerProcess::running() {
  if (pid_ < 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

absl::Status PeerProcess::WaitForPortInLog(const PortFromLog& port_from_log,
                                           absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (std::optional<uint16_t> port = port_from_log(log()); port.has_value()) {
      port_ = *port;
      return absl::OkStatus();
    }
    if (!running()) {
      return absl::InternalError(absl::StrCat("the peer exited before listening: ", log()));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat("the peer did not print its port: ", log()));
}

absl::Status PeerProcess::WaitUntilAccepting(uint16_t port, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (!running()) {
      return absl::InternalError(absl::StrCat("the peer exited before listening: ", log()));
    }
    if (AcceptsConnections(port)) {
      port_ = port;
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat("nothing listens on port ", port, ": ", log()));
}

absl::StatusOr<int> PeerProcess::Stop() {
  if (pid_ < 0) return absl::FailedPreconditionError("the peer is not running");
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  int status = 0;
  while (absl::Now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return 128 + SIGKILL;
}

std::string PeerProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<std::unique_ptr<PeerProcess>> StartOpensslServer(
    const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<std::string> argv = {kOpensslBinary, "s_server", "-accept", "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<std::unique_ptr<PeerProcess>> server = PeerProcess::Start(argv, log_path);
  if (!server.ok()) return server.status();
  absl::Status listening =
      (*server)->WaitForPortInLog([](const std::string& log) { return PortAfter(log, "ACCEPT "); });
  if (!listening.ok()) return listening;
  return server;
}

namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::Status WaitForWorker(PeerProcess& nginx, const std::string& error_log, uint16_t port) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (ReadText(error_log).find("start worker process ") != std::string::npos) {
      return nginx.SetPort(port);
    }
    if (!nginx.running()) {
      return absl::UnavailableError(absl::StrCat("nginx exited: ", ReadText(error_log)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("nginx started no worker: ", ReadText(error_log)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PeerProcess>> StartNginx(const std::string& dir,
                                                        const ServerFiles& files) {
  std::filesystem::create_directories(dir);
  absl::Status last;
  // The port is free when chosen but not reserved: try again on a
  // collision with another process.
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<uint16_t> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    const std::string config = absl::StrReplaceAll(kNginxConfig, {{"DIR", dir},
                                                                  {"PORT", absl::StrCat(*port)},
                                                                  {"CLIENT_CA", files.client_ca},
                                                                  {"CERT", files.certificate},
                                                                  {"KEY", files.key}});
    if (absl::Status s = WriteFile(dir + "/nginx.conf", config); !s.ok()) return s;
    // -e: nginx opens its compiled-in error log before reading the config.
    absl::StatusOr<std::unique_ptr<PeerProcess>> nginx = PeerProcess::Start(
        {kNginxBinary, "-p", dir, "-e", dir + "/error.log", "-c", dir + "/nginx.conf", "-g",
         absl::StrCat("daemon off; pid ", dir, "/nginx.pid;")},
        dir + "/nginx.out");
    if (!nginx.ok()) return nginx.status();
    // Listening once the master started a worker (it binds first). Not
    // probed with a connection: nginx would log it in error.log, where
    // tests look for connections they made.
    last = WaitForWorker(**nginx, dir + "/error.log", *port);
    if (last.ok()) return nginx;
    (void)(*nginx)->Stop();
  }
  return absl::InternalError(absl::StrCat("nginx did not start: ", last.message()));
}

absl::StatusOr<std::unique_ptr<PeerProcess>> StartNode(const std::string& dir, NodeMode mode,
                                                       const ServerFiles& files) {
  const std::string script = dir + "/peer.js";
  if (absl::Status s = WriteFile(script, kNodePeerScript); !s.ok()) return s;
  const std::string name = mode == NodeMode::kHttps ? "https" : "echo";
  absl::StatusOr<std::unique_ptr<PeerProcess>> node =
      PeerProcess::Start({kNodeBinary, script, name, files.key, files.certificate, files.client_ca},
                         absl::StrCat(dir, "/node-", name, ".log"));
  if (!node.ok()) return node.status();
  absl::Status listening = (*node)->WaitForPortInLog(
      [](const std::string& log) { return PortAfter(log, "listening "); });
  if (!listening.ok()) return listening;
  return node;
}

size_t CountLines(const std::string& path) {
  std::ifstream in(path);
  size_t lines = 0;
  std::string line;
  while (std::getline(in, line)) ++lines;
  return lines;
}

size_t SettledLineCount(const std::string& path) {
  size_t lines = CountLines(path);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (int stable = 0; stable < 4 && absl::Now() < deadline;) {
    absl::SleepFor(absl::Milliseconds(50));
    const size_t now = CountLines(path);
    stable = now == lines ? stable + 1 : 0;
    lines = now;
  }
  return lines;
}

}  // namespace keyhold::testing
