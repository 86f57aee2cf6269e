#include "agent/signer_cache.h"

namespace keyhold::agent {
namespace {
std::string IdKey(const std::vector<uint8_t>& id) { return std::string(id.begin(), id.end()); }
}  // namespace

void SignerCache::Put(uint64_t mark, const std::shared_ptr<const Entry>& entry) {
  by_label_.Put(entry->key.label, mark, entry);
  by_id_.Put(IdKey(entry->key.id), mark, entry);
}

void SignerCache::Forget(const std::shared_ptr<const Entry>& entry) {
  by_label_.Erase(entry->key.label, entry);
  by_id_.Erase(IdKey(entry->key.id), entry);
}

}  // namespace keyhold::agent
