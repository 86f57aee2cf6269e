#include "tests/testing/openssl_cli.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "tokens/openssl_error.h"

namespace keyhold::testing {
namespace {

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Closes a file descriptor when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor() { Close(); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::string TempRoot() {
  for (const char* variable : {"TEST_TMPDIR", "TMPDIR"}) {
    if (const char* value = std::getenv(variable); value != nullptr && *value) {
      return value;
    }
  }
  return "/tmp";
}

template <typename WriteFn>
absl::Status WritePem(const std::string& path, WriteFn write) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  if (bio == nullptr) return OpenSslError(absl::StrCat("opening ", path));
  if (write(bio.get()) != 1) {
    return OpenSslError(absl::StrCat("writing ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CommandResult> RunOpenssl(const std::vector<std::string>& args) {
  // Everything the child needs is built before fork: between fork and exec
  // only async-signal-safe calls are allowed (gtest may have threads).
  std::vector<std::string> argv_storage = {kOpensslBinary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  FileDescriptor read_end(pipe_fds[0]);
  FileDescriptor write_end(pipe_fds[1]);
  FileDescriptor null_input(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_input.get() < 0) return ErrnoError("open /dev/null");

  const pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) {
    if (::dup2(null_input.get(), STDIN_FILENO) < 0 ||
        ::dup2(write_end.get(), STDOUT_FILENO) < 0 ||
        ::dup2(write_end.get(), STDERR_FILENO) < 0) {
      ::_exit(126);
    }
    ::execv(kOpensslBinary, argv.data());
    ::_exit(127);
  }
  write_end.Close();  // So reading sees EOF when the child exits.

  CommandResult result;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(read_end.get(), buffer, sizeof(buffer));
    if (n > 0) {
      result.output.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      break;  // Still reap the child below.
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError("waitpid");
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

absl::StatusOr<TempDirectory> TempDirectory::Create() {
  std::string path_template = TempRoot() + "/keyhold-test-XXXXXX";
  if (::mkdtemp(path_template.data()) == nullptr) return ErrnoError("mkdtemp");
  return TempDirectory(std::move(path_template));
}

TempDirectory::~TempDirectory() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

TempDirectory::TempDirectory(TempDirectory&& other) noexcept
    : path_(std::exchange(other.path_, std::string())) {}

TempDirectory& TempDirectory::operator=(TempDirectory&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
    path_ = std::exchange(other.path_, std::string());
  }
  return *this;
}

std::string TempDirectory::File(std::string_view name) const {
  return absl::StrCat(path_, "/", std::string(name));
}

absl::Status WriteCertificatePem(const std::string& path, X509* certificate) {
  return WritePem(
      path, [&](BIO* bio) { return PEM_write_bio_X509(bio, certificate); });
}

absl::Status WriteCertificateRequestPem(const std::string& path,
                                        X509_REQ* request) {
  return WritePem(
      path, [&](BIO* bio) { return PEM_write_bio_X509_REQ(bio, request); });
}

absl::Status WriteCrlPem(const std::string& path, X509_CRL* crl) {
  return WritePem(path,
                  [&](BIO* bio) { return PEM_write_bio_X509_CRL(bio, crl); });
}

absl::Status WritePublicKeyPem(const std::string& path, EVP_PKEY* key) {
  return WritePem(path,
                  [&](BIO* bio) { return PEM_write_bio_PUBKEY(bio, key); });
}

absl::Status WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) return ErrnoError(absl::StrCat("writing ", path));
  return absl::OkStatus();
}

}  // namespace keyhold::testing
