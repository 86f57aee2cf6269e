#include "agent/tls/client_context_cache.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tokens/openssl_error.h"

namespace keyhold::agent::tls {
namespace {

absl::StatusOr<std::string> Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  size_t length = 0;
  if (EVP_Q_digest(nullptr, "SHA256", nullptr, data.data(), data.size(), digest,
                   &length) != 1) {
    return OpenSslError("SHA-256");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

absl::StatusOr<std::string> CertificateDigest(X509* certificate) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(certificate, EVP_sha256(), digest, &length) != 1) {
    return OpenSslError("hashing a client certificate");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

absl::StatusOr<std::string> TrustIdentity(const TrustAnchors& trust) {
  std::string identity;
  if (!trust.pem_bundle.empty()) {
    absl::StatusOr<std::string> digest = Sha256(trust.pem_bundle);
    if (!digest.ok()) return digest.status();
    absl::StrAppend(&identity, "pem=", *digest, ";");
  }
  if (!trust.file.empty()) {
    struct stat info;
    if (::stat(trust.file.c_str(), &info) != 0) {
      return absl::NotFoundError(
          absl::StrCat("cannot read the trust anchors file ", trust.file));
    }
    absl::StrAppend(&identity, "file=", trust.file, "@", info.st_size, ",",
                    info.st_mtim.tv_sec, ".", info.st_mtim.tv_nsec, ";");
  }
  if (trust.system_store) identity += "system;";
  return identity;
}

// Every setting that shapes the SSL_CTX or its connections, in one string.
// Fields are length-prefixed where free text could forge a separator.
absl::StatusOr<std::string> Identity(const TlsSettings& settings) {
  std::string chain;
  for (X509* certificate : settings.certificate_chain) {
    absl::StatusOr<std::string> digest = CertificateDigest(certificate);
    if (!digest.ok()) return digest.status();
    absl::StrAppend(&chain, *digest, ",");
  }
  absl::StatusOr<std::string> trust = TrustIdentity(settings.trust);
  if (!trust.ok()) return trust.status();
  std::string alpn;
  for (const std::string& name : settings.alpn) {
    absl::StrAppend(&alpn, name.size(), ":", name, ",");
  }
  return absl::StrCat(
      "key=", reinterpret_cast<uintptr_t>(settings.client_key),
      "|libctx=", reinterpret_cast<uintptr_t>(settings.libctx),
      "|chain=", chain, "|host=", settings.host, "|port=", settings.port,
      "|sni=", settings.sni, "|trust=", *trust,
      "|verify_hostname=", settings.verify_hostname,
      "|versions=", static_cast<int>(settings.min_version), "-",
      static_cast<int>(settings.max_version), "|alpn=", alpn,
      "|ciphers=", settings.cipher_list.size(), ":", settings.cipher_list,
      "|suites=", settings.ciphersuites.size(), ":", settings.ciphersuites);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ClientContext>> ClientContextCache::Get(
    const TlsSettings& settings) {
  if (absl::Status s = ValidateTlsSettings(settings); !s.ok()) return s;
  absl::StatusOr<std::string> identity = Identity(settings);
  if (!identity.ok()) return identity.status();
  {
    absl::MutexLock lock(&mu_);
    if (auto it = by_identity_.find(*identity); it != by_identity_.end()) {
      entries_.splice(entries_.begin(), entries_, it->second);
      return it->second->context;
    }
  }
  // Built outside the lock: loading a trust store takes milliseconds.
  absl::StatusOr<std::unique_ptr<ClientContext>> built =
      ClientContext::New(settings);
  if (!built.ok()) return built.status();
  std::shared_ptr<const ClientContext> context = *std::move(built);

  absl::MutexLock lock(&mu_);
  if (auto it = by_identity_.find(*identity); it != by_identity_.end()) {
    // Another thread built the same context meanwhile; keep the first.
    entries_.splice(entries_.begin(), entries_, it->second);
    return it->second->context;
  }
  entries_.push_front(Entry{*identity, settings.client_key, context});
  by_identity_[*identity] = entries_.begin();
  while (entries_.size() > capacity_) {
    by_identity_.erase(entries_.back().identity);
    entries_.pop_back();
  }
  return context;
}

void ClientContextCache::Forget(const EVP_PKEY* key) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->key == key) {
      by_identity_.erase(it->identity);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t ClientContextCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace keyhold::agent::tls
