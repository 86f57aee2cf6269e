#include "client/cli/local_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace keyhold::cli {

namespace {

constexpr size_t kChunkBytes = 64 * 1024;

absl::Status FileError(absl::string_view action, const std::string& path, int err) {
  std::string message = absl::StrCat("cannot ", action, " ", path, ": ", std::strerror(err));
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::FailedPreconditionError(message);
}

absl::StatusOr<int> OpenForReading(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError("open", path, errno);
  struct stat st {};
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", path, ": not a file"));
  }
  return fd;
}

// read(2) retried on EINTR: bytes read, 0 at the end, or an error.
absl::StatusOr<size_t> ReadSome(int fd, const std::string& path, char* buffer, size_t size) {
  for (;;) {
    ssize_t n = read(fd, buffer, size);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return FileError("read", path, errno);
  }
}

}  // namespace

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes,
                                          absl::string_view what) {
  absl::StatusOr<int> fd = OpenForReading(path);
  if (!fd.ok()) return fd.status();
  absl::Cleanup closer = [fd = *fd] { close(fd); };
  std::string contents;
  std::vector<char> buffer(kChunkBytes);
  for (;;) {
    absl::StatusOr<size_t> n = ReadSome(*fd, path, buffer.data(), buffer.size());
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    if (contents.size() + *n > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is larger than ",
                                                      max_bytes, " bytes"));
    }
    contents.append(buffer.data(), *n);
  }
  return contents;
}

absl::Status ReadFileInChunks(const std::string& path,
                              const std::function<absl::Status(absl::string_view)>& consume) {
  absl::StatusOr<int> fd = OpenForReading(path);
  if (!fd.ok()) return fd.status();
  absl::Cleanup closer = [fd = *fd] { close(fd); };
  std::vector<char> buffer(kChunkBytes);
  for (;;) {
    absl::StatusOr<size_t> n = ReadSome(*fd, path, buffer.data(), buffer.size());
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::OkStatus();
    if (absl::Status s = consume(absl::string_view(buffer.data(), *n)); !s.ok()) return s;
  }
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  std::string temp = absl::StrCat(path, ".XXXXXX");
  int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return FileError("create a temporary file for", path, errno);
  bool renamed = false;
  absl::Cleanup cleanup = [&] {
    if (fd >= 0) close(fd);
    if (!renamed) unlink(temp.c_str());
  };
  if (fchmod(fd, 0644) != 0) return FileError("set the mode of", temp, errno);
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError("write", temp, errno);
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return FileError("flush", temp, errno);
  const int closed = close(fd);
  fd = -1;
  if (closed != 0) return FileError("close", temp, errno);
  if (rename(temp.c_str(), path.c_str()) != 0) return FileError("write", path, errno);
  renamed = true;
  return absl::OkStatus();
}

}  // namespace keyhold::cli
