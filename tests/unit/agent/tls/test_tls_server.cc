#include "tests/unit/agent/tls/test_tls_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "absl/status/status.h"
#include "tokens/openssl_error.h"

namespace keyhold::testing {

using agent::tls::UniqueFd;

struct TestTlsServer::Connection {
  UniqueFd socket;
  SslPtr ssl;
  bool established = false;
  bool peer_closed = false;
  bool responded = false;
  bool want_write = false;
  std::string in;   // kHttp: the request so far.
  std::string out;  // Waiting to be written.
};

namespace {

absl::StatusOr<UniqueFd> ListenOnLoopback(uint16_t& port) {
  UniqueFd socket(
      ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (!socket.valid() ||
      ::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), length) !=
          0 ||
      ::listen(socket.get(), 512) != 0 ||
      ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address),
                    &length) != 0) {
    return absl::InternalError("listening on 127.0.0.1");
  }
  port = ntohs(address.sin_port);
  return socket;
}

}  // namespace

absl::StatusOr<UniqueFd> ListenWithoutAccepting(uint16_t& port) {
  return ListenOnLoopback(port);
}

TestTlsServer::TestTlsServer(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<TestTlsServer>> TestTlsServer::Start(
    Options options) {
  std::unique_ptr<TestTlsServer> server(new TestTlsServer(std::move(options)));
  if (absl::Status s = server->Listen(); !s.ok()) return s;
  server->thread_ = std::thread([raw = server.get()] { raw->Run(); });
  return server;
}

absl::Status TestTlsServer::Listen() {
  ctx_.reset(SSL_CTX_new(TLS_server_method()));
  if (ctx_ == nullptr) return OpenSslError("server SSL_CTX");
  static const unsigned char kSessionContext[] = "keyhold-test";
  if (SSL_CTX_set_min_proto_version(ctx_.get(), options_.min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx_.get(), options_.max_version) != 1 ||
      SSL_CTX_use_certificate(ctx_.get(), options_.certificate) != 1 ||
      SSL_CTX_use_PrivateKey(ctx_.get(), options_.key) != 1 ||
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_.get()),
                          options_.client_ca) != 1 ||
      SSL_CTX_add_client_CA(ctx_.get(), options_.client_ca) != 1 ||
      SSL_CTX_set_session_id_context(ctx_.get(), kSessionContext,
                                     sizeof(kSessionContext)) != 1) {
    return OpenSslError("configuring the test server");
  }
  SSL_CTX_set_verify(
      ctx_.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  if (options_.mode == Mode::kCorruptRecord) SSL_CTX_set_num_tickets(ctx_.get(), 0);
  SSL_CTX_set_mode(ctx_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                   SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  absl::StatusOr<UniqueFd> listener = ListenOnLoopback(port_);
  if (!listener.ok()) return listener.status();
  listener_ = *std::move(listener);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError("pipe2");
  }
  wake_read_.reset(pipe_fds[0]);
  wake_write_.reset(pipe_fds[1]);
  return absl::OkStatus();
}

TestTlsServer::~TestTlsServer() {
  if (thread_.joinable()) {
    const char stop = 's';
    [[maybe_unused]] ssize_t ignored = ::write(wake_write_.get(), &stop, 1);
    thread_.join();
  }
}

std::string TestTlsServer::received() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

void TestTlsServer::Run() {
  // Clients vanish mid-write in these tests: EPIPE, not a dead process.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  std::vector<pollfd> fds;
  while (true) {
    fds.clear();
    fds.push_back({wake_read_.get(), POLLIN, 0});
    fds.push_back({listener_.get(), POLLIN, 0});
    for (const auto& connection : connections_) {
      short events = POLLIN;
      if (connection->want_write || !connection->out.empty()) events |= POLLOUT;
      fds.push_back({connection->socket.get(), events, 0});
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0) continue;
    if (fds[0].revents != 0) return;
    if (fds[1].revents != 0) Accept();
    // Connections accepted just now have no pollfd yet: they get a first
    // try at once.
    std::vector<std::unique_ptr<Connection>> kept;
    for (size_t i = 0; i < connections_.size(); ++i) {
      const size_t index = i + 2;
      if (index < fds.size() && fds[index].revents == 0) {
        kept.push_back(std::move(connections_[i]));
        continue;
      }
      if (Service(*connections_[i])) kept.push_back(std::move(connections_[i]));
    }
    connections_ = std::move(kept);
  }
}

void TestTlsServer::Accept() {
  while (true) {
    UniqueFd socket(::accept4(listener_.get(), nullptr, nullptr,
                              SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!socket.valid()) return;
    auto connection = std::make_unique<Connection>();
    connection->ssl.reset(SSL_new(ctx_.get()));
    SSL_set_fd(connection->ssl.get(), socket.get());
    SSL_set_accept_state(connection->ssl.get());
    connection->socket = std::move(socket);
    connections_.push_back(std::move(connection));
  }
}

bool TestTlsServer::Service(Connection& connection) {
  SSL* ssl = connection.ssl.get();
  connection.want_write = false;
  if (!connection.established) {
    const int result = SSL_do_handshake(ssl);
    if (result != 1) {
      const int error = SSL_get_error(ssl, result);
      if (error == SSL_ERROR_WANT_READ) return true;
      if (error == SSL_ERROR_WANT_WRITE) {
        connection.want_write = true;
        return true;
      }
      ERR_clear_error();
      ++failed_handshakes_;
      return false;
    }
    connection.established = true;
    ++handshakes_;
  }
  char buffer[16384];
  while (!connection.peer_closed) {
    size_t read = 0;
    if (SSL_read_ex(ssl, buffer, sizeof(buffer), &read) == 1) {
      bytes_received_ += static_cast<int64_t>(read);
      switch (options_.mode) {
        case Mode::kEcho:
          connection.out.append(buffer, read);
          break;
        case Mode::kHttp: {
          connection.in.append(buffer, read);
          absl::MutexLock lock(&mu_);
          received_.append(buffer, read);
          break;
        }
        case Mode::kSilent:
          break;
        case Mode::kCorruptRecord: {
          // After the client had time to close its side: an
          // application-data record of 32 zero bytes, whose AEAD tag
          // cannot verify.
          ::usleep(100'000);
          std::string record = {0x17, 0x03, 0x03, 0x00, 0x20};
          record.append(32, '\0');
          (void)::write(connection.socket.get(), record.data(), record.size());
          return false;
        }
        case Mode::kReset: {
          const linger abort = {.l_onoff = 1, .l_linger = 0};
          setsockopt(connection.socket.get(), SOL_SOCKET, SO_LINGER, &abort,
                     sizeof(abort));
          return false;
        }
      }
      continue;
    }
    const int error = SSL_get_error(ssl, 0);
    if (error == SSL_ERROR_WANT_READ) break;
    if (error == SSL_ERROR_WANT_WRITE) {
      connection.want_write = true;
      break;
    }
    if (error == SSL_ERROR_ZERO_RETURN) {
      connection.peer_closed = true;
      break;
    }
    ERR_clear_error();
    return false;
  }
  if (options_.mode == Mode::kHttp && !connection.responded &&
      connection.in.find("\r\n\r\n") != std::string::npos) {
    connection.out += options_.response;
    connection.responded = true;
  }
  while (!connection.out.empty()) {
    size_t written = 0;
    if (SSL_write_ex(ssl, connection.out.data(), connection.out.size(),
                     &written) != 1) {
      const int error = SSL_get_error(ssl, 0);
      if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
        connection.want_write = error == SSL_ERROR_WANT_WRITE;
        return true;
      }
      ERR_clear_error();
      return false;
    }
    connection.out.erase(0, written);
  }
  const bool done = (options_.mode == Mode::kEcho && connection.peer_closed) ||
                    (options_.mode == Mode::kHttp && connection.responded) ||
                    connection.peer_closed;
  if (!done) return true;
  if (!(options_.mode == Mode::kHttp && options_.close_without_notify)) {
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  return false;
}

}  // namespace keyhold::testing
