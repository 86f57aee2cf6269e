// A client for keyholdd's gRPC API on its unix socket: one connection, one
// method per RPC, each with a deadline, every failure an absl::Status.
//
// Status codes are the agent's (absl and gRPC share their numbering) with
// one refinement made in agent_client.cc only: failures of the connection
// itself (no socket, nobody listening, the agent went away mid-call) are
// UNAVAILABLE with a message that names the socket and ends with
// "(is keyholdd running?)"; a socket the caller may not open is
// PERMISSION_DENIED; a path that cannot be a unix socket (empty, too long)
// is INVALID_ARGUMENT from Connect. The RPC methods may be called from any thread; a
// connection that breaks is not re-established (connect again).
#ifndef KEYHOLD_CLIENT_AGENT_CLIENT_H_
#define KEYHOLD_CLIENT_AGENT_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keyhold/v1/agent_service.grpc.pb.h"
#include "keyhold/v1/ca_service.grpc.pb.h"
#include "keyhold/v1/key_service.grpc.pb.h"
#include "keyhold/v1/tls_service.grpc.pb.h"

namespace keyhold::client {

inline constexpr char kDefaultSocketPath[] = "/run/keyhold/agent.sock";

// Deadlines: every RPC gets kDefaultDeadline except GenerateKey, which may
// wait for a slow token making an RSA-4096 key.
inline constexpr absl::Duration kDefaultDeadline = absl::Seconds(30);
inline constexpr absl::Duration kGenerateKeyDeadline = absl::Seconds(120);
// The largest reply this client takes: a TlsService.Request response body
// may reach 16 MiB (docs/tls.md), plus its headers and the handshake facts.
inline constexpr int kMaxReplyBytes = 20 << 20;

class AgentClient {
 public:
  // Connects to the agent's unix socket now, so that a missing socket or a
  // refused connection is reported here, with the errno text, rather than
  // as a vague failure of the first RPC.
  static absl::StatusOr<std::unique_ptr<AgentClient>> Connect(std::string socket_path);

  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  absl::StatusOr<v1::StatusResponse> Status();

  absl::StatusOr<v1::Key> GenerateKey(const std::string& label, v1::KeyType type,
                                      v1::KeyPurpose purpose);
  absl::StatusOr<std::vector<v1::Key>> ListKeys();
  absl::StatusOr<v1::Key> GetKey(const std::string& label);
  absl::Status DeleteKey(const std::string& label);
  // `certificate` is DER or PEM, as read from a file.
  absl::StatusOr<v1::Key> ImportCertificate(const std::string& label,
                                            std::string certificate);
  // The raw signature (see SignResponse in key_service.proto).
  absl::StatusOr<std::string> Sign(const v1::SignRequest& request);

  // CertificateAuthorityService (ca_service.proto). InitCa with
  // `generate` set gets kGenerateKeyDeadline.
  absl::StatusOr<v1::CaCertificate> InitCa(const v1::InitCaRequest& request);
  absl::StatusOr<v1::CreateCsrResponse> CreateCsr(const v1::CreateCsrRequest& request);
  absl::StatusOr<v1::SignCsrResponse> SignCsr(const v1::SignCsrRequest& request);
  absl::StatusOr<v1::ListCertificatesResponse> ListCertificates(
      const v1::ListCertificatesRequest& request);
  absl::StatusOr<v1::IssuedCertificate> Revoke(const v1::RevokeRequest& request);
  absl::StatusOr<v1::GenerateCrlResponse> GenerateCrl(const v1::GenerateCrlRequest& request);

  // TlsService (tls_service.proto). Request's deadline is its timeout_ms
  // (default 30 s) plus kDefaultDeadline.
  absl::StatusOr<v1::HttpResponse> Request(const v1::HttpRequest& request);

  // One Connect stream. Write/WritesDone from one thread and Read from
  // another is allowed (gRPC's rule for a ClientReaderWriter); Finish
  // after Read returned false.
  class ConnectStream {
   public:
    bool Write(const v1::ConnectRequest& message) { return stream_->Write(message); }
    bool WritesDone() { return stream_->WritesDone(); }
    bool Read(v1::ConnectResponse* message) { return stream_->Read(message); }
    // The call's outcome, translated like every other RPC's.
    absl::Status Finish();
    // Ends the call from this side (e.g. the local peer went away).
    void Cancel() { context_.TryCancel(); }

   private:
    friend class AgentClient;
    explicit ConnectStream(const AgentClient& client) : client_(client) {}
    const AgentClient& client_;
    grpc::ClientContext context_;
    std::unique_ptr<grpc::ClientReaderWriter<v1::ConnectRequest, v1::ConnectResponse>> stream_;
  };
  // Opens the stream (no deadline: a tunnel lives as long as it is used).
  std::unique_ptr<ConnectStream> Connect();

  const std::string& socket_path() const { return socket_path_; }

 private:
  // One unary CertificateAuthorityService call with a deadline.
  template <typename RequestT, typename ResponseT>
  absl::StatusOr<ResponseT> CallCa(
      grpc::Status (v1::CertificateAuthorityService::Stub::*rpc)(grpc::ClientContext*,
                                                                  const RequestT&, ResponseT*),
      const RequestT& request, const char* name, absl::Duration deadline);

  AgentClient(std::string socket_path, std::shared_ptr<grpc::Channel> channel);

  // The one place a grpc::Status becomes an absl::Status; `deadline` is
  // the call's, for the message when it passed.
  absl::Status Translate(const grpc::Status& status, const char* rpc,
                         absl::Duration deadline) const;

  std::string socket_path_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> agent_;
  std::unique_ptr<v1::KeyService::Stub> keys_;
  std::unique_ptr<v1::CertificateAuthorityService::Stub> ca_;
  std::unique_ptr<v1::TlsService::Stub> tls_;
};

}  // namespace keyhold::client

#endif  // KEYHOLD_CLIENT_AGENT_CLIENT_H_
