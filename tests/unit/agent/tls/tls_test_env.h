// What the agent/tls tests share: a library context with the keyhold
// provider, client keys behind it whose token signatures are counted (a
// RecordingSigner over a SoftwareSigner), a client CA, a server CA with a
// server certificate for "localhost", and those written as PEM files for
// `openssl s_server`.
#ifndef KEYHOLD_TESTS_UNIT_AGENT_TLS_TLS_TEST_ENV_H_
#define KEYHOLD_TESTS_UNIT_AGENT_TLS_TLS_TEST_ENV_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/tls/tls_settings.h"
#include "tests/testing/fake_signers.h"
#include "tests/testing/openssl_cli.h"
#include "tests/testing/test_pki.h"
#include "tokens/key_type.h"
#include "tokens/openssl_ptr.h"
#include "tokens/provider/provider.h"

namespace keyhold::testing {

// The name in the server certificate (DNS SAN and CN).
inline constexpr char kServerName[] = "localhost";

struct ClientKey {
  std::shared_ptr<RecordingSigner> signer;  // calls().size(): signatures
  EvpPkeyPtr key;                           // keyhold provider key
  X509Ptr certificate;                      // from the client CA

  size_t signatures() const { return signer->calls().size(); }
};

class TlsTestEnv {
 public:
  static absl::StatusOr<std::unique_ptr<TlsTestEnv>> Create();
  ~TlsTestEnv();

  OSSL_LIB_CTX* libctx() const { return libctx_.get(); }

  // A fresh counting signer over a software key of `type` (generated keys
  // are reused across the binary: RSA generation is slow), its provider
  // key, and a client certificate "CN=keyhold-client" from client_ca().
  absl::StatusOr<ClientKey> MakeClientKey(KeyType type);

  // Settings to reach a local server on `port` with `client`: host
  // 127.0.0.1, SNI "localhost", trust = the server CA, timeouts generous
  // enough for a loaded machine (tests of timeouts set their own).
  agent::tls::TlsSettings SettingsFor(const ClientKey& client,
                                      uint16_t port) const;

  X509* client_ca() const { return client_ca_.certificate.get(); }
  EVP_PKEY* client_ca_key() const { return client_ca_.key.get(); }
  X509* server_certificate() const { return server_certificate_.get(); }
  EVP_PKEY* server_key() const { return server_key_.get(); }
  const std::string& server_ca_pem() const { return server_ca_pem_; }

  // PEM files for s_server.
  std::string server_certificate_file() const {
    return dir_.File("server.pem");
  }
  std::string server_key_file() const { return dir_.File("server.key"); }
  std::string client_ca_file() const { return dir_.File("client-ca.pem"); }
  std::string File(std::string_view name) const { return dir_.File(name); }

 private:
  explicit TlsTestEnv(TempDirectory dir) : dir_(std::move(dir)) {}
  absl::Status Init();

  TempDirectory dir_;
  // Declared before anything that lives in it; destroyed after.
  OsslLibCtxPtr libctx_;
  std::optional<KeyholdProvider> provider_;
  CertificateAuthority client_ca_;
  CertificateAuthority server_ca_;
  EvpPkeyPtr server_key_;
  X509Ptr server_certificate_;
  std::string server_ca_pem_;
};

// PEM text of `certificate`.
std::string CertificatePem(X509* certificate);

// A TCP port on 127.0.0.1 nobody listens on (bound, then released).
absl::StatusOr<uint16_t> UnusedPort();

// The number of threads in this process (/proc/self/task).
int ThreadCount();

// Polls `condition` until it holds or `timeout` passes; its last answer.
bool WaitUntil(const std::function<bool()>& condition,
               absl::Duration timeout = absl::Seconds(10));

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_UNIT_AGENT_TLS_TLS_TEST_ENV_H_
