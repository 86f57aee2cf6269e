#include "tokens/pin_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <openssl/crypto.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace keyhold {
namespace {

constexpr size_t kMaxPinBytes = 256;

// Validates raw PIN bytes and moves them into a Secret; wipes `raw` in all
// cases.
absl::StatusOr<Secret> FinishPin(std::string& raw, const PinSource& source) {
  if (!raw.empty() && raw.back() == '\n') raw.pop_back();
  if (!raw.empty() && raw.back() == '\r') raw.pop_back();
  absl::Status problem;
  if (raw.empty()) {
    problem = absl::InvalidArgumentError(
        absl::StrCat("the PIN from ", source.Describe(), " is empty"));
  } else if (raw.size() > kMaxPinBytes) {
    problem = absl::InvalidArgumentError(absl::StrCat(
        "the PIN from ", source.Describe(), " is longer than ", kMaxPinBytes,
        " bytes"));
  } else if (raw.find('\0') != std::string::npos ||
             raw.find('\n') != std::string::npos) {
    problem = absl::InvalidArgumentError(absl::StrCat(
        "the PIN from ", source.Describe(),
        " holds a NUL byte or more than one line"));
  }
  if (!problem.ok()) {
    OPENSSL_cleanse(raw.data(), raw.size());
    return problem;
  }
  Secret pin(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  return pin;
}

absl::StatusOr<Secret> ReadPinFile(const std::string& path,
                                   const PinSource& source,
                                   bool check_mode) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open ", source.Describe(), ": ", std::strerror(err)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat(source.Describe(), " is not a regular file"));
  }
  if (check_mode && (st.st_mode & S_IRWXO) != 0) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        source.Describe(),
        " is accessible to other users; run: chmod o-rwx ", path));
  }
  std::string raw(kMaxPinBytes + 3, '\0');
  size_t used = 0;
  while (used < raw.size()) {
    ssize_t n = read(fd, raw.data() + used, raw.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      OPENSSL_cleanse(raw.data(), raw.size());
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot read ", source.Describe(), ": ", std::strerror(err)));
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  close(fd);
  if (used == raw.size()) {
    OPENSSL_cleanse(raw.data(), raw.size());
    return absl::InvalidArgumentError(absl::StrCat(
        "the PIN from ", source.Describe(), " is longer than ", kMaxPinBytes,
        " bytes"));
  }
  raw.resize(used);
  return FinishPin(raw, source);
}

bool IsPlainName(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

absl::StatusOr<Secret> PinSource::Read() const {
  switch (kind_) {
    case Kind::kFile:
      return ReadPinFile(location_, *this, /*check_mode=*/true);
    case Kind::kEnv: {
      const char* value = std::getenv(location_.c_str());
      if (value == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat(Describe(), " is not set"));
      }
      std::string raw(value);
      return FinishPin(raw, *this);
    }
    case Kind::kCredential: {
      if (!IsPlainName(location_)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "systemd credential name \"", location_,
            "\" must be a plain file name"));
      }
      const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
      if (dir == nullptr || *dir == '\0') {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot read ", Describe(),
            ": CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the "
            "service unit)"));
      }
      // systemd owns the credentials directory and its modes; don't second-
      // guess them.
      return ReadPinFile(absl::StrCat(dir, "/", location_), *this,
                         /*check_mode=*/false);
    }
  }
  return absl::InternalError("unknown PIN source kind");
}

std::string PinSource::Describe() const {
  switch (kind_) {
    case Kind::kFile:
      return absl::StrCat("PIN file ", location_);
    case Kind::kEnv:
      return absl::StrCat("environment variable ", location_);
    case Kind::kCredential:
      return absl::StrCat("systemd credential ", location_);
  }
  return "unknown PIN source";
}

}  // namespace keyhold
