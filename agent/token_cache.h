// Values the agent derives from the token's key objects (a signer, a CA's
// certificate and key, a TLS client key and its certificate), by name.
//
// Every entry is dropped when the token's keys or certificates change
// through the agent (Token::changes(): a key generated, deleted or given a
// new certificate by any service), so the next call sees the token as it
// is. Changes made by another process on the token are not counted; the
// caller drops an entry whose signer fails with NOT_FOUND. The entries a
// change dropped stay available to BeforeChange, for a caller that can tell
// its object did not change.
#ifndef KEYHOLD_AGENT_TOKEN_CACHE_H_
#define KEYHOLD_AGENT_TOKEN_CACHE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "tokens/token.h"

namespace keyhold::agent {

template <typename Value>
class TokenCache {
 public:
  explicit TokenCache(const Token& token) : token_(token) {}
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // Read before looking a value up on the token; give it to Put.
  uint64_t Mark() const { return token_.changes(); }

  // The cached value, or null.
  std::shared_ptr<const Value> Find(const std::string& name) {
    absl::MutexLock lock(&mu_);
    DropIfChanged();
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : it->second;
  }

  // Keeps `value` unless the token changed since `mark` (it may describe
  // the token before the change). Returns the value to use: the one
  // already cached when another call was first, so all share one.
  std::shared_ptr<const Value> Put(const std::string& name, uint64_t mark,
                                   std::shared_ptr<const Value> value) {
    absl::MutexLock lock(&mu_);
    DropIfChanged();
    if (mark != seen_) return value;
    auto [it, inserted] = entries_.emplace(name, std::move(value));
    return it->second;
  }

  // The entry `name` had before the latest change emptied the cache, or
  // null. A caller that finds the token object unchanged may Put it back
  // (keeping what hangs off it, such as a TLS key's sessions) instead of
  // building a new one.
  std::shared_ptr<const Value> BeforeChange(const std::string& name) {
    absl::MutexLock lock(&mu_);
    DropIfChanged();
    auto it = before_change_.find(name);
    return it == before_change_.end() ? nullptr : it->second;
  }

  // Drops `name` if it is `value` (another call may have replaced it).
  void Erase(const std::string& name, const std::shared_ptr<const Value>& value) {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(name);
    if (it != entries_.end() && it->second == value) entries_.erase(it);
  }

 private:
  void DropIfChanged() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t now = token_.changes();
    if (now == seen_) return;
    // Entries not looked up again since the previous change stay there, so
    // that a run of changes does not lose them; bounded for labels that
    // come and go.
    if (before_change_.size() > kMaxBeforeChange) before_change_.clear();
    for (auto& [name, value] : entries_) before_change_[name] = std::move(value);
    entries_.clear();
    seen_ = now;
  }

  static constexpr size_t kMaxBeforeChange = 1024;

  const Token& token_;
  absl::Mutex mu_;
  uint64_t seen_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::shared_ptr<const Value>> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<const Value>> before_change_ ABSL_GUARDED_BY(mu_);
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_TOKEN_CACHE_H_
