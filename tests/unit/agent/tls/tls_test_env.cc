#include "tests/unit/agent/tls/tls_test_env.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/tls/unique_fd.h"
#include "tokens/openssl_error.h"
#include "tokens/software_signer.h"

namespace keyhold::testing {
namespace {

absl::StatusOr<std::shared_ptr<SoftwareSigner>> CachedSigner(KeyType type) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* signers =
      new std::map<KeyType, std::shared_ptr<SoftwareSigner>>();
  absl::MutexLock lock(&mu);
  if (auto it = signers->find(type); it != signers->end()) return it->second;
  absl::StatusOr<std::unique_ptr<SoftwareSigner>> signer =
      SoftwareSigner::Generate(type);
  if (!signer.ok()) return signer.status();
  std::shared_ptr<SoftwareSigner> shared = *std::move(signer);
  (*signers)[type] = shared;
  return shared;
}

absl::Status WritePrivateKeyPem(const std::string& path, EVP_PKEY* key) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return OpenSslError("writing the server key");
  }
  return absl::OkStatus();
}

}  // namespace

std::string CertificatePem(X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), certificate);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

absl::StatusOr<uint16_t> UnusedPort() {
  agent::tls::UniqueFd socket(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (!socket.valid() ||
      ::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), length) !=
          0 ||
      ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address),
                    &length) != 0) {
    return absl::InternalError("finding an unused port");
  }
  return ntohs(address.sin_port);
}

int ThreadCount() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++count;
  }
  return count;
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

absl::StatusOr<std::unique_ptr<TlsTestEnv>> TlsTestEnv::Create() {
  absl::StatusOr<TempDirectory> dir = TempDirectory::Create();
  if (!dir.ok()) return dir.status();
  std::unique_ptr<TlsTestEnv> env(new TlsTestEnv(*std::move(dir)));
  if (absl::Status s = env->Init(); !s.ok()) return s;
  return env;
}

TlsTestEnv::~TlsTestEnv() = default;

absl::Status TlsTestEnv::Init() {
  libctx_.reset(OSSL_LIB_CTX_new());
  if (libctx_ == nullptr) return OpenSslError("OSSL_LIB_CTX_new");
  absl::StatusOr<KeyholdProvider> provider = LoadKeyholdProvider(libctx_.get());
  if (!provider.ok()) return provider.status();
  provider_.emplace(*std::move(provider));

  absl::StatusOr<CertificateAuthority> client_ca =
      MakeCertificateAuthority(nullptr, "keyhold test client CA");
  if (!client_ca.ok()) return client_ca.status();
  client_ca_ = *std::move(client_ca);
  absl::StatusOr<CertificateAuthority> server_ca =
      MakeCertificateAuthority(nullptr, "keyhold test server CA");
  if (!server_ca.ok()) return server_ca.status();
  server_ca_ = *std::move(server_ca);
  absl::StatusOr<EvpPkeyPtr> server_key =
      GenerateTestKey(nullptr, KeyType::kEcP256);
  if (!server_key.ok()) return server_key.status();
  server_key_ = *std::move(server_key);
  absl::StatusOr<X509Ptr> server_certificate =
      IssueCertificate(server_ca_.certificate.get(),
                       {.key = server_ca_.key.get()}, server_key_.get(),
                       {.common_name = kServerName,
                        .purpose = CertificatePurpose::kServer,
                        .dns_names = {kServerName}});
  if (!server_certificate.ok()) return server_certificate.status();
  server_certificate_ = *std::move(server_certificate);
  server_ca_pem_ = CertificatePem(server_ca_.certificate.get());

  if (absl::Status s = WriteCertificatePem(server_certificate_file(),
                                           server_certificate_.get());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WritePrivateKeyPem(server_key_file(), server_key_.get());
      !s.ok()) {
    return s;
  }
  return WriteCertificatePem(client_ca_file(), client_ca_.certificate.get());
}

absl::StatusOr<ClientKey> TlsTestEnv::MakeClientKey(KeyType type) {
  absl::StatusOr<std::shared_ptr<SoftwareSigner>> inner = CachedSigner(type);
  if (!inner.ok()) return inner.status();
  ClientKey client;
  client.signer = std::make_shared<RecordingSigner>(*inner);
  absl::StatusOr<EvpPkeyPtr> key = MakeSignerPkey(libctx_.get(), client.signer);
  if (!key.ok()) return key.status();
  client.key = *std::move(key);
  absl::StatusOr<X509Ptr> certificate = IssueCertificate(
      client_ca_.certificate.get(), {.key = client_ca_.key.get()},
      (*inner)->PublicKey(), {.common_name = "keyhold-client"});
  if (!certificate.ok()) return certificate.status();
  client.certificate = *std::move(certificate);
  return client;
}

agent::tls::TlsSettings TlsTestEnv::SettingsFor(const ClientKey& client,
                                                uint16_t port) const {
  agent::tls::TlsSettings settings;
  settings.host = "127.0.0.1";
  settings.port = port;
  settings.sni = kServerName;
  settings.libctx = libctx_.get();
  settings.client_key = client.key.get();
  settings.certificate_chain = {client.certificate.get()};
  settings.trust.pem_bundle = server_ca_pem_;
  settings.timeouts.connect = absl::Seconds(30);
  settings.timeouts.handshake = absl::Seconds(30);
  settings.timeouts.idle = absl::Seconds(30);
  return settings;
}

}  // namespace keyhold::testing
