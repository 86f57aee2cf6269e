// A throwaway SoftHSM2 token for tests: its own directory under $TMPDIR,
// its own softhsm2.conf (SOFTHSM2_CONF points at it for this process), a
// PIN file with mode 0600. Nothing touches the system token directory.
#ifndef KEYHOLD_TESTS_INTEGRATION_SOFTHSM_TOKEN_H_
#define KEYHOLD_TESTS_INTEGRATION_SOFTHSM_TOKEN_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tokens/token.h"

namespace keyhold::testing {

inline constexpr char kSoftHsmModule[] = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr char kTestPin[] = "1234-test-pin";
inline constexpr char kTestSoPin[] = "5678-test-so-pin";

class SoftHsmToken {
 public:
  // Creates the directory and configuration and initialises a token
  // labelled `label`. Sets SOFTHSM2_CONF for the whole process.
  static absl::StatusOr<std::unique_ptr<SoftHsmToken>> Create(
      const std::string& label = "keyhold-test");
  ~SoftHsmToken();  // removes the directory

  // Module, "pkcs11:token=<label>", PIN from the PIN file.
  TokenConfig config() const;
  const std::string& dir() const { return dir_; }
  const std::string& pin_file() const { return pin_file_; }
  const std::string& label() const { return label_; }

 private:
  SoftHsmToken(std::string dir, std::string label)
      : dir_(std::move(dir)), label_(std::move(label)),
        pin_file_(dir_ + "/user.pin") {}
  std::string dir_;
  std::string label_;
  std::string pin_file_;
};

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_INTEGRATION_SOFTHSM_TOKEN_H_
