// Signers for recently used keys, by label and by id, so a Sign call costs
// one token operation instead of a search, attribute reads and a public key
// rebuild. Entries are dropped when the agent deletes or regenerates a key,
// and by the caller when a cached signer reports its key gone (another
// process may change the token).
#ifndef KEYHOLD_AGENT_SIGNER_CACHE_H_
#define KEYHOLD_AGENT_SIGNER_CACHE_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "tokens/signer.h"
#include "tokens/token.h"

namespace keyhold::agent {

class SignerCache {
 public:
  struct Entry {
    KeyInfo key;
    std::shared_ptr<Signer> signer;
  };

  std::shared_ptr<const Entry> FindByLabel(const std::string& label) const;
  std::shared_ptr<const Entry> FindById(const std::string& id) const;
  void Put(std::shared_ptr<const Entry> entry);
  // Drops the entry for this key (by its label and id).
  void Forget(const KeyInfo& key);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const Entry>> by_label_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<const Entry>> by_id_ ABSL_GUARDED_BY(mu_);
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_SIGNER_CACHE_H_
