// ClientContexts by (key, certificate chain, target, TLS settings), so
// every connection with the same key to the same target shares one SSL_CTX
// and its stored sessions: TLS session resumption works per (key, target).
//
// Identity: the key by its EVP_PKEY pointer — keep one EVP_PKEY per token
// key (next to its Signer) and reuse it; a fresh EVP_PKEY for the same key
// is a new identity with no sessions yet. A cached context holds a
// reference to its key, so a pointer cannot be reused for another key while
// the entry lives. Certificates count by content (SHA-256 of the DER), so
// a chain parsed again from the same PEM finds the same context. A trust
// file counts by path, size and modification time.
//
// Thread-safe. Bounded: the least recently used context is dropped past
// `capacity` (connections using it keep it alive).
#ifndef KEYHOLD_AGENT_TLS_CLIENT_CONTEXT_CACHE_H_
#define KEYHOLD_AGENT_TLS_CLIENT_CONTEXT_CACHE_H_

#include <openssl/types.h>

#include <cstddef>
#include <list>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/tls/client_context.h"
#include "agent/tls/tls_settings.h"

namespace keyhold::agent::tls {

class ClientContextCache {
 public:
  explicit ClientContextCache(size_t capacity = 256) : capacity_(capacity) {}
  ClientContextCache(const ClientContextCache&) = delete;
  ClientContextCache& operator=(const ClientContextCache&) = delete;

  // The context for `settings`, built on first use (errors as
  // ClientContext::New). Timeouts do not take part in the identity.
  absl::StatusOr<std::shared_ptr<const ClientContext>> Get(
      const TlsSettings& settings);

  // Drops every context for `key`, e.g. when the agent forgets its signer.
  void Forget(const EVP_PKEY* key);

  size_t size() const;

 private:
  struct Entry {
    std::string identity;
    const EVP_PKEY* key;
    std::shared_ptr<const ClientContext> context;
  };

  const size_t capacity_;
  mutable absl::Mutex mu_;
  // Most recently used first.
  std::list<Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> by_identity_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace keyhold::agent::tls

#endif  // KEYHOLD_AGENT_TLS_CLIENT_CONTEXT_CACHE_H_
