#include "agent/tls/session_store.h"

#include <ctime>
#include <utility>

namespace keyhold::agent::tls {
namespace {

bool Expired(SSL_SESSION* session, long now) {
  return SSL_SESSION_get_time(session) + SSL_SESSION_get_timeout(session) <=
         now;
}

}  // namespace

void SessionStore::Add(SslSessionPtr session) {
  if (session == nullptr || SSL_SESSION_is_resumable(session.get()) != 1) {
    return;
  }
  absl::MutexLock lock(&mu_);
  sessions_.push_front(std::move(session));
  while (sessions_.size() > capacity_) sessions_.pop_back();
}

SslSessionPtr SessionStore::Take() {
  const long now = static_cast<long>(std::time(nullptr));
  absl::MutexLock lock(&mu_);
  while (!sessions_.empty()) {
    SSL_SESSION* newest = sessions_.front().get();
    if (Expired(newest, now)) {
      sessions_.pop_front();
      continue;
    }
    if (SSL_SESSION_get_protocol_version(newest) >= TLS1_3_VERSION) {
      SslSessionPtr ticket = std::move(sessions_.front());
      sessions_.pop_front();
      return ticket;
    }
    SSL_SESSION_up_ref(newest);
    return SslSessionPtr(newest);
  }
  return nullptr;
}

size_t SessionStore::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

}  // namespace keyhold::agent::tls
