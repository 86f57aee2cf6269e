// keyhold request | connect | proxy: mTLS connections made by the agent
// with a token key (docs/tls.md). The agent dials and handshakes; this
// process only carries bytes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>  // CLI11's parts are not self-contained headers

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "proto/keyhold/v1/limits.h"
#include "client/cli/local_files.h"
#include "client/cli/output.h"

namespace keyhold::cli {

namespace {

constexpr size_t kMaxPemFileBytes = 1 << 20;
constexpr size_t kMaxBodyFileBytes = v1::kMaxRequestBytes;
constexpr size_t kChunk = 64 * 1024;
// Proxied connections open at once at most (each holds two threads).
constexpr int kMaxProxyConnections = 512;

struct TlsFlags {
  std::string key;
  std::string cert_file;
  std::string cacert_file;
  bool system_trust = false;
  std::string tls_min;
  std::string tls_max;
  std::string sni;
  std::string profile;
  std::vector<std::string> alpn;
};

void AddTlsFlags(CLI::App* app, TlsFlags& flags) {
  app->add_option("--key", flags.key, "The client key's label on the token (purpose tls-client)")
      ->required();
  app->add_option("--cert", flags.cert_file,
                  "Client certificate chain, PEM (default: the one stored next to the key)")
      ->check(CLI::ExistingFile);
  app->add_option("--cacert", flags.cacert_file, "Trust anchors for the server, PEM bundle")
      ->check(CLI::ExistingFile);
  app->add_flag("--system-trust", flags.system_trust, "Also trust the system's CA store");
  app->add_option("--tls-min", flags.tls_min, "Lowest TLS version: 1.2 or 1.3")
      ->check(CLI::IsMember({"1.2", "1.3"}));
  app->add_option("--tls-max", flags.tls_max, "Highest TLS version: 1.2 or 1.3")
      ->check(CLI::IsMember({"1.2", "1.3"}));
  app->add_option("--sni", flags.sni, "Server name to send and verify (default: the host)");
  app->add_option("--profile", flags.profile, "A [tls_profile.NAME] of the agent's config");
  app->add_option("--alpn", flags.alpn, "ALPN protocol to offer (repeatable)");
}

v1::TlsVersion Version(const std::string& text) {
  if (text == "1.2") return v1::TLS_VERSION_1_2;
  if (text == "1.3") return v1::TLS_VERSION_1_3;
  return v1::TLS_VERSION_UNSPECIFIED;
}

absl::StatusOr<v1::TlsOptions> BuildOptions(const TlsFlags& flags, std::string target) {
  v1::TlsOptions options;
  options.set_target(std::move(target));
  options.set_key(flags.key);
  options.set_sni(flags.sni);
  options.set_profile(flags.profile);
  options.set_use_system_trust(flags.system_trust);
  options.set_min_version(Version(flags.tls_min));
  options.set_max_version(Version(flags.tls_max));
  for (const std::string& protocol : flags.alpn) options.add_alpn(protocol);
  if (!flags.cert_file.empty()) {
    absl::StatusOr<std::string> pem = ReadSmallFile(flags.cert_file, kMaxPemFileBytes, "--cert");
    if (!pem.ok()) return pem.status();
    options.set_certificate_chain_pem(*std::move(pem));
  }
  if (!flags.cacert_file.empty()) {
    absl::StatusOr<std::string> pem =
        ReadSmallFile(flags.cacert_file, kMaxPemFileBytes, "--cacert");
    if (!pem.ok()) return pem.status();
    options.set_ca_bundle_pem(*std::move(pem));
  }
  return options;
}

void PrintFacts(const v1::HandshakeFacts& facts) {
  std::cerr << "* connected to " << facts.peer_address() << "\n"
            << "* " << facts.protocol() << ", cipher " << facts.cipher()
            << (facts.session_reused() ? ", session resumed" : ", full handshake") << "\n"
            << "* server certificate: " << facts.peer_subject() << " (verify "
            << facts.verify_result() << ")\n";
  if (!facts.alpn().empty()) std::cerr << "* ALPN: " << facts.alpn() << "\n";
}

// https://host[:port][/path] → target "host:port" and path.
absl::Status ParseUrl(const std::string& url, std::string& target, std::string& path) {
  if (!absl::StartsWithIgnoreCase(url, "https://")) {
    return UsageError(absl::StrCat("URL must start with https://, not \"", url.substr(0, 64),
                                   "\""));
  }
  const std::string rest = url.substr(8);
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.empty() || absl::StrContains(authority, '@')) {
    return UsageError("URL: give https://host[:port]/path (no user info)");
  }
  const bool bracketed = authority.front() == '[';
  const size_t colon = authority.rfind(':');
  const bool has_port =
      colon != std::string::npos && (!bracketed || authority.find(']') < colon);
  target = has_port ? authority : absl::StrCat(authority, ":443");
  return absl::OkStatus();
}

struct RequestOptions {
  std::string url;
  TlsFlags tls;
  std::string method;
  std::vector<std::string> headers;
  std::string data;
  std::string out;
  bool include_headers = false;
  bool verbose = false;
};

absl::Status RunRequest(const CommandContext& context, const RequestOptions& options) {
  v1::HttpRequest request;
  std::string target;
  std::string path;
  if (absl::Status s = ParseUrl(options.url, target, path); !s.ok()) return s;
  absl::StatusOr<v1::TlsOptions> tls = BuildOptions(options.tls, target);
  if (!tls.ok()) return tls.status();
  *request.mutable_tls() = *std::move(tls);
  request.set_path(path);
  for (const std::string& header : options.headers) {
    const size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      return UsageError(absl::StrCat("-H: \"", header.substr(0, 64), "\" is not 'Name: value'"));
    }
    v1::HttpHeader* h = request.add_headers();
    h->set_name(header.substr(0, colon));
    h->set_value(std::string(absl::StripAsciiWhitespace(header.substr(colon + 1))));
  }
  if (!options.data.empty()) {
    if (options.data.front() == '@') {
      absl::StatusOr<std::string> body =
          ReadSmallFile(options.data.substr(1), kMaxBodyFileBytes, "-d @file");
      if (!body.ok()) return body.status();
      request.set_body(*std::move(body));
    } else {
      request.set_body(options.data);
    }
  }
  request.set_method(!options.method.empty() ? options.method
                                             : (request.body().empty() ? "GET" : "POST"));
  if (request.ByteSizeLong() > v1::kMaxRequestBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request is ", request.ByteSizeLong(), " bytes; the agent takes at most ",
        v1::kMaxRequestBytes / 1024,
        " KiB per call (body, headers and PEM files together); for larger uploads use "
        "keyhold connect or keyhold proxy"));
  }
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<v1::HttpResponse> response = (*agent)->Request(request);
  if (!response.ok()) return response.status();
  if (options.verbose) PrintFacts(response->handshake());
  if (context.global.json) {
    nlohmann::json headers = nlohmann::json::array();
    for (const v1::HttpHeader& h : response->headers()) {
      headers.push_back({{"name", h.name()}, {"value", h.value()}});
    }
    const v1::HandshakeFacts& f = response->handshake();
    Emit(context.global,
         {{"status", response->status()}, {"reason", response->reason()}, {"headers", headers},
          {"body", response->body()},
          {"handshake",
           {{"protocol", f.protocol()}, {"cipher", f.cipher()}, {"alpn", f.alpn()},
            {"session_reused", f.session_reused()}, {"peer_address", f.peer_address()},
            {"peer_subject", f.peer_subject()}, {"verify_result", f.verify_result()}}}},
         "");
    return absl::OkStatus();
  }
  std::string head;
  if (options.include_headers) {
    head = absl::StrCat(response->version(), " ", response->status(), " ", response->reason(),
                        "\r\n");
    for (const v1::HttpHeader& h : response->headers()) {
      absl::StrAppend(&head, h.name(), ": ", h.value(), "\r\n");
    }
    absl::StrAppend(&head, "\r\n");
  }
  if (!options.out.empty()) {
    if (absl::Status s = WriteFileAtomically(options.out, response->body()); !s.ok()) return s;
    std::cout << head << std::flush;
  } else {
    std::cout << head << response->body() << std::flush;
  }
  return absl::OkStatus();
}

// Writes all of `bytes` to `fd`; false when the other side is gone.
bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Relays between a local byte stream (in_fd/out_fd) and one Connect tunnel
// until both directions are closed. `on_established` runs with the facts.
absl::Status Relay(client::AgentClient& agent, const v1::TlsOptions& options, int in_fd,
                   int out_fd, bool verbose) {
  std::unique_ptr<client::AgentClient::ConnectStream> stream = agent.Connect();
  v1::ConnectRequest open;
  *open.mutable_open() = options;
  stream->Write(open);
  v1::ConnectResponse reply;
  if (!stream->Read(&reply) || !reply.has_established()) {
    stream->WritesDone();
    while (stream->Read(&reply)) {
    }
    absl::Status status = stream->Finish();
    return status.ok() ? absl::UnavailableError("the tunnel closed before the handshake") : status;
  }
  if (verbose) PrintFacts(reply.established());
  // The upstream thread waits on the local side and on `stop`, so it can
  // always be told to end and joined: nothing outlives this function.
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) != 0) {
    stream->Cancel();
    (void)stream->Finish();
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::thread upstream([&] {
    std::string buffer(kChunk, '\0');
    bool stopped = false;
    for (;;) {
      pollfd fds[2] = {{in_fd, POLLIN, 0}, {stop[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents != 0) {
        stopped = true;
        break;
      }
      const ssize_t n = read(in_fd, buffer.data(), buffer.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      v1::ConnectRequest data;
      data.set_data(buffer.substr(0, static_cast<size_t>(n)));
      if (!stream->Write(data)) break;
    }
    if (!stopped) {
      v1::ConnectRequest close;
      close.set_close_write(true);
      stream->Write(close);
      stream->WritesDone();
    }
  });
  auto stop_upstream = [&] {
    const char byte = 0;
    while (write(stop[1], &byte, 1) < 0 && errno == EINTR) {
    }
    upstream.join();
    close(stop[0]);
    close(stop[1]);
  };
  bool local_out_open = true;
  bool server_done = false;
  while (stream->Read(&reply)) {
    if (reply.has_data() && local_out_open && !WriteAll(out_fd, reply.data())) {
      local_out_open = false;
      stream->Cancel();
    }
    if (reply.has_peer_closed()) {
      if (out_fd != STDOUT_FILENO) {
        shutdown(out_fd, SHUT_WR);  // proxy: pass the half-close on
      } else {
        // connect: like openssl s_client -quiet, done when the server is.
        server_done = true;
        stream->Cancel();
        break;
      }
    }
  }
  if (server_done) {
    stop_upstream();  // it may be waiting for stdin
    absl::Status finished = stream->Finish();
    return absl::IsCancelled(finished) ? absl::OkStatus() : finished;
  }
  // Either the local side is done or the tunnel ended first: then stop
  // reading the local side.
  stop_upstream();
  return stream->Finish();
}

struct ConnectOptions {
  std::string target;
  TlsFlags tls;
  bool verbose = false;
};

absl::Status RunConnect(const CommandContext& context, const ConnectOptions& options) {
  absl::StatusOr<v1::TlsOptions> tls = BuildOptions(options.tls, options.target);
  if (!tls.ok()) return tls.status();
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  return Relay(**agent, *tls, STDIN_FILENO, STDOUT_FILENO, options.verbose);
}

struct ProxyOptions {
  std::string listen;
  std::string upstream;
  TlsFlags tls;
  bool allow_remote = false;
};

absl::StatusOr<int> Listen(const std::string& address, bool allow_remote) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port > 65535) {
    return UsageError("--listen: give IP:PORT, e.g. 127.0.0.1:8080");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    return UsageError("--listen: the address must be an IPv4 address");
  }
  if ((ntohl(addr.sin_addr.s_addr) >> 24) != 127 && !allow_remote) {
    return UsageError(
        "--listen: not a loopback address; anyone who can reach it would use the key "
        "(add --allow-remote if that is intended)");
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 128) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", why));
  }
  return fd;
}

absl::Status RunProxy(const CommandContext& context, const ProxyOptions& options) {
  absl::StatusOr<v1::TlsOptions> tls = BuildOptions(options.tls, options.upstream);
  if (!tls.ok()) return tls.status();
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  absl::StatusOr<int> listener = Listen(options.listen, options.allow_remote);
  if (!listener.ok()) return listener.status();
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  getsockname(*listener, reinterpret_cast<sockaddr*>(&bound), &len);
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &bound.sin_addr, ip, sizeof(ip));
  // The line scripts wait for (the port is real even with :0).
  std::cerr << "keyhold: proxy listening on " << ip << ":" << ntohs(bound.sin_port) << " -> "
            << options.upstream << " with key \"" << options.tls.key << "\"" << std::endl;
  const v1::TlsOptions tunnel_options = *tls;
  // Each proxied connection gets its own connection to the agent, so the
  // proxy carries on across an agent restart. The first one, made above,
  // only checked that the agent answers.
  agent->reset();
  auto open = std::make_shared<std::atomic<int>>(0);
  for (;;) {
    const int fd = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      switch (errno) {
        case EINTR:
        case ECONNABORTED:
        case EAGAIN:
        case EPROTO:
        case ENETDOWN:
        case ENETUNREACH:
        case EHOSTDOWN:
        case EHOSTUNREACH:
        case ENONET:
        case ENOPROTOOPT:
        case EOPNOTSUPP:
          continue;  // that connection's trouble, not the listener's
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          // Out of descriptors or memory for now: wait for connections to end.
          std::cerr << "keyhold: proxy: accept: " << std::strerror(errno) << std::endl;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;
        default:
          return absl::UnavailableError(absl::StrCat("accept: ", std::strerror(errno)));
      }
    }
    if (open->load() >= kMaxProxyConnections) {
      std::cerr << "keyhold: proxy: " << kMaxProxyConnections
                << " connections already open; refusing one" << std::endl;
      close(fd);
      continue;
    }
    open->fetch_add(1);
    std::thread([context, tunnel_options, fd, open] {
      absl::StatusOr<std::unique_ptr<client::AgentClient>> own = ConnectToAgent(context);
      absl::Status status = own.ok() ? Relay(**own, tunnel_options, fd, fd, /*verbose=*/false)
                                     : own.status();
      if (!status.ok()) std::cerr << "keyhold: proxy: " << status.message() << std::endl;
      close(fd);
      open->fetch_sub(1);
    }).detach();
  }
}

}  // namespace

void AddTlsCommands(CLI::App& app, CommandContext& context) {
  auto request = std::make_shared<RequestOptions>();
  CLI::App* request_cmd = app.add_subcommand(
      "request", "One HTTPS request over mTLS, the handshake made by the agent with a token key");
  request_cmd->add_option("URL", request->url, "https://host[:port]/path")->required();
  AddTlsFlags(request_cmd, request->tls);
  request_cmd->add_option("-X,--request", request->method, "Method (default GET, POST with -d)");
  request_cmd->add_option("-H,--header", request->headers, "'Name: value' (repeatable)");
  request_cmd->add_option("-d,--data", request->data, "Request body, or @FILE");
  request_cmd->add_option("-o,--output", request->out, "Write the body here instead of stdout");
  request_cmd->add_flag("-i,--include", request->include_headers,
                        "Print the status line and headers before the body");
  request_cmd->add_flag("-v,--verbose", request->verbose, "Handshake facts on stderr");
  request_cmd->callback([&context, request] { context.result = RunRequest(context, *request); });

  auto connect = std::make_shared<ConnectOptions>();
  CLI::App* connect_cmd = app.add_subcommand(
      "connect", "Relay stdin/stdout over an mTLS tunnel (like openssl s_client -quiet)");
  connect_cmd->add_option("TARGET", connect->target, "host:port")->required();
  AddTlsFlags(connect_cmd, connect->tls);
  connect_cmd->add_flag("-v,--verbose", connect->verbose, "Handshake facts on stderr");
  connect_cmd->callback([&context, connect] { context.result = RunConnect(context, *connect); });

  auto proxy = std::make_shared<ProxyOptions>();
  CLI::App* proxy_cmd = app.add_subcommand(
      "proxy", "Accept plain TCP locally; each connection becomes an mTLS tunnel upstream");
  proxy_cmd->add_option("--listen", proxy->listen, "IP:PORT to accept on (loopback)")
      ->required();
  proxy_cmd->add_option("--upstream", proxy->upstream, "host:port of the mTLS server")
      ->required();
  AddTlsFlags(proxy_cmd, proxy->tls);
  proxy_cmd->add_flag("--allow-remote", proxy->allow_remote,
                      "Allow a --listen address other than loopback");
  proxy_cmd->callback([&context, proxy] { context.result = RunProxy(context, *proxy); });
}

}  // namespace keyhold::cli
