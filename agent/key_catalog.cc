#include "agent/key_catalog.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace keyhold::agent {
namespace {

std::string Hex(std::span<const uint8_t> id) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

absl::Status WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyCatalog>> KeyCatalog::Open(const std::string& state_dir) {
  std::unique_ptr<KeyCatalog> catalog(new KeyCatalog(state_dir + "/keys.json"));
  std::ifstream in(catalog->path_);
  if (!in) return catalog;  // first start
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") ||
      !doc["keys"].is_array()) {
    return absl::DataLossError(absl::StrCat(
        catalog->path_, " is damaged; restore it from backup or remove it (keys "
                        "not in the config then become admin-only without a purpose)"));
  }
  absl::MutexLock lock(&catalog->mu_);
  for (const nlohmann::json& item : doc["keys"]) {
    if (!item.is_object() || !item.contains("id") || !item["id"].is_string() ||
        !item.contains("purpose") || !item["purpose"].is_string()) {
      return absl::DataLossError(absl::StrCat(catalog->path_, " has a malformed entry"));
    }
    absl::StatusOr<KeyPurpose> purpose =
        ParseKeyPurpose(item["purpose"].get<std::string>());
    if (!purpose.ok()) {
      return absl::DataLossError(
          absl::StrCat(catalog->path_, ": ", purpose.status().message()));
    }
    std::string label = item.contains("label") && item["label"].is_string()
                            ? item["label"].get<std::string>()
                            : "";
    catalog->entries_[item["id"].get<std::string>()] = Entry{label, *purpose};
  }
  return catalog;
}

std::optional<KeyPurpose> KeyCatalog::PurposeOf(std::span<const uint8_t> id) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(Hex(id));
  if (it == entries_.end()) return std::nullopt;
  return it->second.purpose;
}

absl::Status KeyCatalog::Record(std::span<const uint8_t> id, const std::string& label,
                                KeyPurpose purpose) {
  absl::MutexLock lock(&mu_);
  entries_[Hex(id)] = Entry{label, purpose};
  return SaveLocked();
}

absl::Status KeyCatalog::Forget(std::span<const uint8_t> id) {
  absl::MutexLock lock(&mu_);
  if (entries_.erase(Hex(id)) == 0) return absl::OkStatus();
  return SaveLocked();
}

absl::Status KeyCatalog::SaveLocked() const {
  nlohmann::json doc;
  doc["keys"] = nlohmann::json::array();
  for (const auto& [id, entry] : entries_) {
    doc["keys"].push_back({{"id", id},
                           {"label", entry.label},
                           {"purpose", std::string(KeyPurposeName(entry.purpose))}});
  }
  const std::string tmp = path_ + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  absl::Status written = WriteAll(fd, doc.dump(2) + "\n");
  if (written.ok() && fsync(fd) != 0) written = absl::InternalError(std::strerror(errno));
  close(fd);
  if (!written.ok()) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", written.message()));
  }
  if (rename(tmp.c_str(), path_.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot replace ", path_, ": ", std::strerror(errno)));
  }
  const std::string dir = path_.substr(0, path_.rfind('/'));
  int dfd = open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace keyhold::agent
