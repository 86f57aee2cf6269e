// The purpose of each key generated through the agent, so it survives
// restarts. Keys named in the config take their purpose from the config;
// this catalog covers the rest. Stored as JSON in <state_dir>/keys.json and
// replaced atomically (write a temporary file, fsync, rename, fsync the
// directory), so a crash leaves the old or the new catalog, never half.
#ifndef KEYHOLD_AGENT_KEY_CATALOG_H_
#define KEYHOLD_AGENT_KEY_CATALOG_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/config.h"

namespace keyhold::agent {

class KeyCatalog {
 public:
  // Reads <state_dir>/keys.json if present. A damaged file is an error
  // (the agent refuses to start rather than forget purposes).
  static absl::StatusOr<std::unique_ptr<KeyCatalog>> Open(const std::string& state_dir);

  std::optional<KeyPurpose> PurposeOf(std::span<const uint8_t> id) const;
  absl::Status Record(std::span<const uint8_t> id, const std::string& label,
                      KeyPurpose purpose);
  absl::Status Forget(std::span<const uint8_t> id);

 private:
  struct Entry {
    std::string label;
    KeyPurpose purpose;
  };
  explicit KeyCatalog(std::string path) : path_(std::move(path)) {}
  absl::Status SaveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // by id hex
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_KEY_CATALOG_H_
