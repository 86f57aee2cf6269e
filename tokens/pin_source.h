// Where a PIN comes from. Never argv: a file (mode must not grant "other"
// any access), the name of an environment variable, or a systemd credential
// ($CREDENTIALS_DIRECTORY/<name>, see systemd.exec(5) LoadCredential=).
#ifndef KEYHOLD_TOKENS_PIN_SOURCE_H_
#define KEYHOLD_TOKENS_PIN_SOURCE_H_

#include <string>

#include "absl/status/statusor.h"
#include "tokens/secret.h"

namespace keyhold {

class PinSource {
 public:
  enum class Kind { kFile, kEnv, kCredential };

  static PinSource File(std::string path) { return {Kind::kFile, std::move(path)}; }
  static PinSource Env(std::string name) { return {Kind::kEnv, std::move(name)}; }
  static PinSource Credential(std::string name) {
    return {Kind::kCredential, std::move(name)};
  }

  // Reads the PIN. One trailing "\n" or "\r\n" is dropped; an empty PIN, a
  // PIN longer than 256 bytes or one holding a NUL byte is refused. Errors
  // name the source, never its content.
  absl::StatusOr<Secret> Read() const;

  // "file /etc/keyhold/pin", "environment variable KEYHOLD_PIN",
  // "systemd credential pin": safe to log.
  std::string Describe() const;

  Kind kind() const { return kind_; }
  const std::string& location() const { return location_; }

 private:
  PinSource(Kind kind, std::string location)
      : kind_(kind), location_(std::move(location)) {}

  Kind kind_;
  std::string location_;
};

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_PIN_SOURCE_H_
