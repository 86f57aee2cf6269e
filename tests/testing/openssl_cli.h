// Black-box checks with the real `openssl` command (/usr/bin/openssl): what
// keyhold produces must satisfy a tool that shares none of its code paths.
// Plus a temporary directory and PEM writers to hand it files.
#ifndef KEYHOLD_TESTS_TESTING_OPENSSL_CLI_H_
#define KEYHOLD_TESTS_TESTING_OPENSSL_CLI_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::testing {

inline constexpr char kOpensslBinary[] = "/usr/bin/openssl";

struct CommandResult {
  int exit_code = -1;       // The exit status, or 128 + signal number.
  std::string output = "";  // stdout and stderr, interleaved as written.
};

// Runs `openssl args...` (fork + exec, no shell), stdin from /dev/null, and
// waits for it. An error only when the process could not be run; a
// non-zero exit is a result.
absl::StatusOr<CommandResult> RunOpenssl(const std::vector<std::string>& args);

// A directory under $TEST_TMPDIR (or $TMPDIR, or /tmp), removed with
// everything in it when destroyed. Move-only.
class TempDirectory {
 public:
  static absl::StatusOr<TempDirectory> Create();
  ~TempDirectory();
  TempDirectory(TempDirectory&& other) noexcept;
  TempDirectory& operator=(TempDirectory&& other) noexcept;
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;

  const std::string& path() const { return path_; }
  // path()/name
  std::string File(std::string_view name) const;

 private:
  explicit TempDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;  // Empty once moved from.
};

// PEM writers; each creates or replaces `path`.
absl::Status WriteCertificatePem(const std::string& path, X509* certificate);
absl::Status WriteCertificateRequestPem(const std::string& path,
                                        X509_REQ* request);
absl::Status WriteCrlPem(const std::string& path, X509_CRL* crl);
// SubjectPublicKeyInfo only; works for keys whose private half is
// elsewhere (keyhold provider keys).
absl::Status WritePublicKeyPem(const std::string& path, EVP_PKEY* key);
// Any bytes, e.g. data to sign or a raw signature.
absl::Status WriteFile(const std::string& path, std::string_view contents);

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_TESTING_OPENSSL_CLI_H_
