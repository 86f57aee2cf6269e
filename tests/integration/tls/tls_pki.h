// The starting point of every TLS integration test and of the handshake
// bench: a real keyholdd on a fresh SoftHSM2 token with a root CA on the
// token, and the files real peers need, all in one temp directory:
//
//   root.pem            the agent's root CA (EC P-256, on the token)
//   server.pem/.key     server certificate (SAN DNS:localhost, IP:127.0.0.1)
//                       for a key in a FILE (servers are not ours), issued
//                       by the agent's CA with profile server
//   localhost-only.pem/.key   the same with SAN DNS:localhost only
//   other-root.pem      an unrelated self-signed CA (a wrong trust bundle)
//   client.pem          token key "client" (EC P-256, tls-client); its
//                       targets also allow the name wrong.example (as SNI)
//   client2.pem         token key "client2" (RSA-2048, tls-client)
//   fenced.pem          token key "fenced" (EC P-256, tls-client) whose
//                       config `targets` allow only api.partner.example:443
//
// Each client certificate is also stored on the token next to its key
// (ImportCertificate), which is where the agent takes it from by default.
#ifndef KEYHOLD_TESTS_INTEGRATION_TLS_TLS_PKI_H_
#define KEYHOLD_TESTS_INTEGRATION_TLS_TLS_PKI_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/integration/ca/ca_fixture.h"
#include "tests/integration/cli/cli_fixture.h"
#include "tests/integration/tls/peer_process.h"
#include "tests/testing/openssl_cli.h"

namespace keyhold::testing {

// The [[key]] tables of the agent's config.
inline constexpr char kTlsKeysConfig[] = R"([[key]]
label = "client"
purpose = "tls-client"
targets = ["localhost:*", "127.0.0.1:*", "wrong.example:*"]

[[key]]
label = "client2"
purpose = "tls-client"
targets = ["localhost:*", "127.0.0.1:*"]

[[key]]
label = "fenced"
purpose = "tls-client"
targets = ["api.partner.example:443"]
)";

struct TlsPki {
  // Builds everything above; `extra_config` is appended to the config.
  static absl::StatusOr<std::unique_ptr<TlsPki>> Create(const std::string& extra_config = "");

  std::string File(const std::string& name) const { return dir.File(name); }
  // server.pem/server.key, trusting root.pem for client certificates.
  ServerFiles Server() const;

  // `keyhold --socket <agent> args...` (stdin /dev/null).
  CliResult Keyhold(const std::vector<std::string>& args) const;

  // Issues a certificate for a key in a file: `openssl req` makes the key
  // (`key_spec` "ec:P-256" or "rsa:2048") and the CSR, the agent's CA
  // signs it with `profile` and the extra SANs. Writes NAME.key, NAME.pem.
  absl::Status IssueForFileKey(const std::string& name, const std::string& key_spec,
                               const std::string& cn, const std::string& profile,
                               const std::vector<std::string>& sans);

  // Makes token key `label` (purpose tls-client), has the root CA issue
  // its certificate (profile client), stores it next to the key and
  // writes LABEL.pem.
  absl::Status IssueForTokenKey(const std::string& label, v1::KeyType type);

  CaAgent agent;
  TempDirectory dir;
};

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_INTEGRATION_TLS_TLS_PKI_H_
