#include "client/agent_client.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel_posix.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace keyhold::client {

namespace {

// How long connect(2) may wait when the agent's accept backlog is full.
constexpr int kConnectTimeoutSeconds = 10;

std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(deadline));
  return context;
}

// What gRPC reports when a call's own deadline passes.
constexpr absl::string_view kGrpcDeadlineMessage = "Deadline Exceeded";

// Messages gRPC itself produces when the connection fails during a call, as
// opposed to UNAVAILABLE statuses the agent returns (token trouble).
bool IsTransportFailure(absl::string_view message) {
  for (absl::string_view phrase :
       {"Socket closed", "Connection reset", "Broken pipe", "Transport closed",
        "failed to connect", "Connection refused", "Endpoint", "GOAWAY",
        "Stream removed", "Broken channel"}) {
    if (absl::StrContains(message, phrase)) return true;
  }
  return false;
}

// Connects a unix stream socket to `path`; the fd (close-on-exec) or a
// status that says why not, with the errno text.
absl::StatusOr<int> ConnectUnixSocket(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty()) {
    return absl::InvalidArgumentError("the agent's socket path is empty");
  }
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the agent's socket path is longer than ", sizeof(address.sun_path) - 1,
                     " bytes: ", path));
  }
  std::memcpy(address.sun_path, path.data(), path.size());

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("socket(AF_UNIX): ", std::strerror(errno)));
  }
  // A unix-socket connect blocks only while the listener's backlog is full;
  // bound that wait (SO_SNDTIMEO applies to connect on AF_UNIX).
  timeval timeout{.tv_sec = kConnectTimeoutSeconds, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    close(fd);
    const std::string prefix = absl::StrCat("cannot reach the agent at ", path, ": ");
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(absl::StrCat(
          prefix, std::strerror(err),
          " (may your user open the socket? it is usually group keyhold, mode 0660)"));
    }
    if (err == EAGAIN) {
      return absl::UnavailableError(absl::StrCat(
          prefix, "the agent is not accepting connections (its backlog stayed full for ",
          kConnectTimeoutSeconds, " s)"));
    }
    return absl::UnavailableError(
        absl::StrCat(prefix, std::strerror(err), " (is keyholdd running?)"));
  }
  timeval none{};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AgentClient>> AgentClient::Connect(std::string socket_path) {
  absl::StatusOr<int> fd = ConnectUnixSocket(socket_path);
  if (!fd.ok()) return fd.status();
  // gRPC takes ownership of the fd (and makes it non-blocking).
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReplyBytes);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomInsecureChannelFromFd(absl::StrCat("unix:", socket_path), *fd, args);
  return std::unique_ptr<AgentClient>(new AgentClient(std::move(socket_path), std::move(channel)));
}

AgentClient::AgentClient(std::string socket_path, std::shared_ptr<grpc::Channel> channel)
    : socket_path_(std::move(socket_path)),
      channel_(std::move(channel)),
      agent_(v1::AgentService::NewStub(channel_)),
      keys_(v1::KeyService::NewStub(channel_)),
      ca_(v1::CertificateAuthorityService::NewStub(channel_)),
      tls_(v1::TlsService::NewStub(channel_)) {}

absl::Status AgentClient::Translate(const grpc::Status& status, const char* rpc,
                                    absl::Duration deadline) const {
  if (status.ok()) return absl::OkStatus();
  // absl::StatusCode and grpc::StatusCode share their numbering.
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  const std::string& message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      if (IsTransportFailure(message)) {
        return absl::UnavailableError(absl::StrCat("lost the connection to the agent at ",
                                                   socket_path_, " during ", rpc, ": ", message,
                                                   " (is keyholdd running?)"));
      }
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // gRPC's own message when our deadline passed; anything else is the
      // agent's (a handshake or target that timed out) and says more.
      if (message.empty() || message == kGrpcDeadlineMessage) {
        return absl::DeadlineExceededError(absl::StrCat("the agent at ", socket_path_,
                                                        " did not answer ", rpc, " within ",
                                                        absl::FormatDuration(deadline)));
      }
      break;
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::UnimplementedError(
          absl::StrCat("the agent at ", socket_path_, " does not offer ", rpc,
                       " (an older keyholdd, or not keyholdd at all?): ", message));
    default:
      break;
  }
  if (message.empty()) {
    return absl::Status(code, absl::StrCat(rpc, " failed"));
  }
  return absl::Status(code, message);
}

absl::StatusOr<v1::StatusResponse> AgentClient::Status() {
  auto context = NewContext(kDefaultDeadline);
  v1::StatusResponse response;
  grpc::Status status = agent_->Status(context.get(), v1::StatusRequest(), &response);
  if (!status.ok()) return Translate(status, "Status", kDefaultDeadline);
  return response;
}

absl::StatusOr<v1::Key> AgentClient::GenerateKey(const std::string& label, v1::KeyType type,
                                                 v1::KeyPurpose purpose) {
  auto context = NewContext(kGenerateKeyDeadline);
  v1::GenerateKeyRequest request;
  request.set_label(label);
  request.set_type(type);
  request.set_purpose(purpose);
  v1::Key response;
  grpc::Status status = keys_->GenerateKey(context.get(), request, &response);
  if (!status.ok()) return Translate(status, "GenerateKey", kGenerateKeyDeadline);
  return response;
}

absl::StatusOr<std::vector<v1::Key>> AgentClient::ListKeys() {
  auto context = NewContext(kDefaultDeadline);
  v1::ListKeysResponse response;
  grpc::Status status = keys_->ListKeys(context.get(), v1::ListKeysRequest(), &response);
  if (!status.ok()) return Translate(status, "ListKeys", kDefaultDeadline);
  return std::vector<v1::Key>(response.keys().begin(), response.keys().end());
}

absl::StatusOr<v1::Key> AgentClient::GetKey(const std::string& label) {
  auto context = NewContext(kDefaultDeadline);
  v1::GetKeyRequest request;
  request.mutable_key()->set_label(label);
  v1::Key response;
  grpc::Status status = keys_->GetKey(context.get(), request, &response);
  if (!status.ok()) return Translate(status, "GetKey", kDefaultDeadline);
  return response;
}

absl::Status AgentClient::DeleteKey(const std::string& label) {
  auto context = NewContext(kDefaultDeadline);
  v1::DeleteKeyRequest request;
  request.mutable_key()->set_label(label);
  v1::DeleteKeyResponse response;
  return Translate(keys_->DeleteKey(context.get(), request, &response), "DeleteKey",
                   kDefaultDeadline);
}

absl::StatusOr<v1::Key> AgentClient::ImportCertificate(const std::string& label,
                                                       std::string certificate) {
  auto context = NewContext(kDefaultDeadline);
  v1::ImportCertificateRequest request;
  request.mutable_key()->set_label(label);
  request.set_certificate(std::move(certificate));
  v1::Key response;
  grpc::Status status = keys_->ImportCertificate(context.get(), request, &response);
  if (!status.ok()) return Translate(status, "ImportCertificate", kDefaultDeadline);
  return response;
}

absl::StatusOr<std::string> AgentClient::Sign(const v1::SignRequest& request) {
  auto context = NewContext(kDefaultDeadline);
  v1::SignResponse response;
  grpc::Status status = keys_->Sign(context.get(), request, &response);
  if (!status.ok()) return Translate(status, "Sign", kDefaultDeadline);
  return std::move(*response.mutable_signature());
}

template <typename RequestT, typename ResponseT>
absl::StatusOr<ResponseT> AgentClient::CallCa(
    grpc::Status (v1::CertificateAuthorityService::Stub::*rpc)(grpc::ClientContext*,
                                                                const RequestT&, ResponseT*),
    const RequestT& request, const char* name, absl::Duration deadline) {
  auto context = NewContext(deadline);
  ResponseT response;
  grpc::Status status = (ca_.get()->*rpc)(context.get(), request, &response);
  if (!status.ok()) return Translate(status, name, deadline);
  return response;
}

absl::StatusOr<v1::CaCertificate> AgentClient::InitCa(const v1::InitCaRequest& request) {
  return CallCa(&v1::CertificateAuthorityService::Stub::InitCa, request, "InitCa",
                request.generate() != v1::KEY_TYPE_UNSPECIFIED ? kGenerateKeyDeadline
                                                                 : kDefaultDeadline);
}

absl::StatusOr<v1::CreateCsrResponse> AgentClient::CreateCsr(const v1::CreateCsrRequest& request) {
  return CallCa(&v1::CertificateAuthorityService::Stub::CreateCsr, request, "CreateCsr",
                kDefaultDeadline);
}

absl::StatusOr<v1::SignCsrResponse> AgentClient::SignCsr(const v1::SignCsrRequest& request) {
  return CallCa(&v1::CertificateAuthorityService::Stub::SignCsr, request, "SignCsr",
                kDefaultDeadline);
}

absl::StatusOr<v1::ListCertificatesResponse> AgentClient::ListCertificates(
    const v1::ListCertificatesRequest& request) {
  return CallCa(&v1::CertificateAuthorityService::Stub::ListCertificates, request,
                "ListCertificates", kDefaultDeadline);
}

absl::StatusOr<v1::IssuedCertificate> AgentClient::Revoke(const v1::RevokeRequest& request) {
  return CallCa(&v1::CertificateAuthorityService::Stub::Revoke, request, "Revoke",
                kDefaultDeadline);
}

absl::StatusOr<v1::GenerateCrlResponse> AgentClient::GenerateCrl(
    const v1::GenerateCrlRequest& request) {
  return CallCa(&v1::CertificateAuthorityService::Stub::GenerateCrl, request, "GenerateCrl",
                kDefaultDeadline);
}

absl::StatusOr<v1::HttpResponse> AgentClient::Request(const v1::HttpRequest& request) {
  const absl::Duration deadline =
      (request.timeout_ms() == 0 ? absl::Seconds(30) : absl::Milliseconds(request.timeout_ms())) +
      kDefaultDeadline;
  auto context = NewContext(deadline);
  v1::HttpResponse response;
  grpc::Status status = tls_->Request(context.get(), request, &response);
  if (!status.ok()) return Translate(status, "Request", deadline);
  return response;
}

std::unique_ptr<AgentClient::ConnectStream> AgentClient::Connect() {
  std::unique_ptr<ConnectStream> stream(new ConnectStream(*this));
  stream->stream_ = tls_->Connect(&stream->context_);
  return stream;
}

absl::Status AgentClient::ConnectStream::Finish() {
  return client_.Translate(stream_->Finish(), "Connect", absl::InfiniteDuration());
}

}  // namespace keyhold::client
