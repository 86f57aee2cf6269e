// Files the CLI reads and writes on the caller's side (certificates, data
// to sign, signatures). Errors name the file and carry the errno text;
// EACCES is PERMISSION_DENIED, everything else FAILED_PRECONDITION.
#ifndef KEYHOLD_CLIENT_CLI_LOCAL_FILES_H_
#define KEYHOLD_CLIENT_CLI_LOCAL_FILES_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyhold::cli {

// The whole file; INVALID_ARGUMENT if it is larger than `max_bytes`.
// `what` names the file's role in messages ("certificate file").
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes,
                                          absl::string_view what);

// Calls `consume` with successive chunks of the file (for hashing files of
// any size without holding them in memory).
absl::Status ReadFileInChunks(const std::string& path,
                              const std::function<absl::Status(absl::string_view)>& consume);

// Writes `contents` to a temporary file next to `path` and renames it over
// `path`, so `path` never holds a partial result. Mode 0644.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

}  // namespace keyhold::cli

#endif  // KEYHOLD_CLIENT_CLI_LOCAL_FILES_H_
