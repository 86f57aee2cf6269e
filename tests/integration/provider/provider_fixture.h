// A keyholdd on a fresh SoftHSM2 token with keys for the provider tests, an
// openssl.cnf that loads keyhold-provider.so beside the default provider,
// and a small file-based PKI (made with the openssl CLI) to certify the
// agent's keys and a software server key.
#ifndef KEYHOLD_TESTS_INTEGRATION_PROVIDER_PROVIDER_FIXTURE_H_
#define KEYHOLD_TESTS_INTEGRATION_PROVIDER_PROVIDER_FIXTURE_H_

#include <gmock/gmock.h>

#include <memory>
#include <string>
#include <vector>

#include "keyhold/v1/keys.pb.h"
#include "tests/integration/agent_process.h"
#include "tests/integration/provider/programs.h"
#include "tests/testing/openssl_cli.h"

namespace keyhold::testing {

inline constexpr char kOpenssl[] = "/usr/bin/openssl";
inline constexpr char kCurl[] = "/usr/bin/curl";
inline constexpr char kNginx[] = "/usr/sbin/nginx";
inline constexpr char kPython[] = "/usr/bin/python3";
inline constexpr uid_t kNobody = 65534;

// Keys the fixture generates: tls-client keys with raw signing allowed for
// root only, and a `sign` server key.
inline constexpr char kClientEc[] = "client-ec";
inline constexpr char kClientRsa[] = "client-rsa";
inline constexpr char kServerEc[] = "server-ec";

std::string ProviderModulePath();

class ProviderTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Environment that makes OpenSSL load keyhold-provider (OPENSSL_CONF).
  Environment WithProvider() const;
  // `label`'s CSR made through the provider's store, signed by the test CA
  // (clientAuth, or serverAuth with SAN IP:127.0.0.1), stored next to the
  // key with ImportCertificate; the certificate's path.
  std::string Certify(const std::string& label, bool server);
  // `keyhold key show LABEL --reference` into a file; its path.
  std::string WriteReference(const std::string& label);
  // Starts nginx on a free port: TLS with `cert`/`key`, ssl_verify_client
  // on when `verify_clients`; returns the port.
  int StartNginx(const std::string& cert, const std::string& key, bool verify_clients,
                 const Environment& env);
  // Lines of the agent's audit log with op `op`, key `label`, result `result`.
  int AuditLines(const std::string& op, const std::string& label, const std::string& result) const;
  // Runs a program, failing the test if it cannot be run at all.
  ProgramResult MustRun(const std::vector<std::string>& argv, const ProgramOptions& options = {});

  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<TempDirectory> dir_;
  std::string conf_;
  std::string ca_cert_;
  std::string ca_key_;
  std::string server_cert_;  // Software server key, for openssl s_server and nginx.
  std::string server_key_;
  std::vector<std::unique_ptr<RunningProgram>> servers_;
};

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_INTEGRATION_PROVIDER_PROVIDER_FIXTURE_H_
