// Signers for recently used keys, by label and by id, so a Sign call costs
// one token operation instead of a search, attribute reads and a public key
// rebuild. Entries go when the token's keys change through the agent (see
// TokenCache), and by the caller when a cached signer reports its key gone
// (another process may change the token).
#ifndef KEYHOLD_AGENT_SIGNER_CACHE_H_
#define KEYHOLD_AGENT_SIGNER_CACHE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "agent/token_cache.h"
#include "agent/token_work.h"
#include "tokens/signer.h"
#include "tokens/token.h"

namespace keyhold::agent {

class SignerCache {
 public:
  struct Entry {
    KeyInfo key;
    std::shared_ptr<Signer> signer;
    // How long the token takes to sign with this key (decides whether a
    // Sign may run on a gRPC callback thread, see TokenWorkRunner).
    mutable LatencyEstimate sign_latency;
  };

  explicit SignerCache(const Token& token) : by_label_(token), by_id_(token) {}

  // Read before looking a key up on the token; give it to Put.
  uint64_t Mark() const { return by_label_.Mark(); }
  std::shared_ptr<const Entry> FindByLabel(const std::string& label) {
    return by_label_.Find(label);
  }
  std::shared_ptr<const Entry> FindById(const std::string& id) { return by_id_.Find(id); }
  void Put(uint64_t mark, const std::shared_ptr<const Entry>& entry);
  // Drops `entry` (by its key's label and id).
  void Forget(const std::shared_ptr<const Entry>& entry);

 private:
  TokenCache<Entry> by_label_;
  TokenCache<Entry> by_id_;
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_SIGNER_CACHE_H_
