// Shared by the CA integration tests: a real keyholdd (fresh SoftHSM2
// token) with a client connected to it, and the outside tools that judge
// what its CA issues — the openssl CLI, GnuTLS certtool, pyca/cryptography
// under Debian's python3, and the sqlite3 shell. None shares code with
// keyhold's certificate builder.
#ifndef KEYHOLD_TESTS_INTEGRATION_CA_CA_FIXTURE_H_
#define KEYHOLD_TESTS_INTEGRATION_CA_CA_FIXTURE_H_

#include <gmock/gmock.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/agent_client.h"
#include "keyhold/v1/ca_service.pb.h"
#include "keyhold/v1/keys.pb.h"
#include "tests/integration/agent_process.h"
#include "tests/testing/openssl_cli.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::testing {

// C, ST and O of every CA and request here; the strict policy matches them.
inline constexpr char kExampleSubject[] = "/C=BR/ST=SP/O=Example";
inline constexpr char kCerttoolBinary[] = "/usr/bin/certtool";
// Debian's interpreter: `python3` on PATH may be a pyenv without
// python3-cryptography.
inline constexpr char kPythonBinary[] = "/usr/bin/python3";
inline constexpr char kSqliteBinary[] = "/usr/bin/sqlite3";

// Runs `argv` (argv[0] an absolute path; no shell), stdin from /dev/null,
// stdout and stderr captured together. An error only when it cannot run.
absl::StatusOr<CommandResult> RunProgram(const std::vector<std::string>& argv);

// The exit code and output, for failure messages.
std::string Describe(const CommandResult& result);

// A keyholdd and one client connected to it. The client does not survive
// an agent restart; Reconnect() after one.
struct CaAgent {
  static absl::StatusOr<CaAgent> Start(AgentOptions options = {});
  absl::Status Reconnect();
  // Restarts the agent (same token, config and state) and reconnects.
  absl::Status Restart();

  std::unique_ptr<AgentProcess> process;
  std::unique_ptr<client::AgentClient> client;
};

// InitCa for a new key of `type`: a root, or with `parent` an intermediate.
v1::InitCaRequest InitCaRequest(const std::string& label, v1::KeyType type,
                                const std::string& subject, const std::string& parent = "");

// A SignCsr request with the profile's defaults.
v1::SignCsrRequest SignRequest(const std::string& ca, const std::string& profile,
                               const std::string& csr);

// Generates a token key and returns a CSR for it made by the agent
// (CreateCsr: signed by the key itself).
absl::StatusOr<std::string> CsrForNewTokenKey(client::AgentClient& client, const std::string& label,
                                              v1::KeyType type, v1::KeyPurpose purpose,
                                              const std::string& subject,
                                              const std::vector<std::string>& sans = {});

// A CSR made by `openssl req -new -newkey <key_spec> -nodes` for a key in a
// file, with `-subj subject` and the extra arguments (-addext ...).
// `key_spec` is "ec:P-256"-style shorthand: "rsa:N" or "ec:CURVE".
absl::StatusOr<std::string> OpensslCsr(const TempDirectory& dir, const std::string& key_spec,
                                       const std::string& subject,
                                       const std::vector<std::string>& extra_args = {});

// How many certificates the registry holds for `ca` (its own included).
absl::StatusOr<size_t> CertificateCount(client::AgentClient& client, const std::string& ca);

// The certificates of a PEM bundle, in order.
absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(const std::string& pem);
absl::StatusOr<X509CrlPtr> ParseCrl(const std::string& pem);

// A serial as keyhold writes it (upper-case hex of the big-endian bytes).
std::string SerialHex(const X509* certificate);

// describe_certificate.py's reading of the certificate in `cert_path`, its
// signature checked with the key of the certificate in `issuer_path`.
absl::StatusOr<nlohmann::json> DescribeWithPython(const std::string& cert_path,
                                                  const std::string& issuer_path);

// EXPECT_THAT(CertificateCount(...), IsOkAndHolds(3)).
MATCHER_P(IsOkAndHolds, expected, "is OK and holds " + ::testing::PrintToString(expected)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  *result_listener << "holds " << ::testing::PrintToString(*arg);
  return *arg == expected;
}

// `sqlite3 <db> <sql>`.
absl::StatusOr<CommandResult> RunSqlite(const std::string& db, const std::string& sql);

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_INTEGRATION_CA_CA_FIXTURE_H_
