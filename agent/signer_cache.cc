#include "agent/signer_cache.h"

namespace keyhold::agent {
namespace {
std::string IdKey(const std::vector<uint8_t>& id) { return std::string(id.begin(), id.end()); }
}  // namespace

std::shared_ptr<const SignerCache::Entry> SignerCache::FindByLabel(const std::string& label) const {
  absl::MutexLock lock(&mu_);
  auto it = by_label_.find(label);
  return it == by_label_.end() ? nullptr : it->second;
}

std::shared_ptr<const SignerCache::Entry> SignerCache::FindById(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

void SignerCache::Put(std::shared_ptr<const Entry> entry) {
  absl::MutexLock lock(&mu_);
  by_label_[entry->key.label] = entry;
  by_id_[IdKey(entry->key.id)] = std::move(entry);
}

void SignerCache::Forget(const KeyInfo& key) {
  absl::MutexLock lock(&mu_);
  auto it = by_label_.find(key.label);
  if (it != by_label_.end() && it->second->key.id == key.id) by_label_.erase(it);
  by_id_.erase(IdKey(key.id));
}

}  // namespace keyhold::agent
