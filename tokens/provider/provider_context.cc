#include <cstdarg>
#include <cstring>
#include <string>

#include <openssl/provider.h>
#include <openssl/rand.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "tokens/provider/provider_internal.h"

namespace keyhold::provider_internal {
namespace {

// Every live ProviderContext, so FromProvider can tell ours from a foreign
// provider's context before casting. Leaked on purpose: provider teardown
// may run from OpenSSL's atexit handler, after static destructors.
struct LiveContexts {
  absl::Mutex mu;
  absl::flat_hash_set<const ProviderContext*> contexts ABSL_GUARDED_BY(mu);
};

LiveContexts& Live() {
  static LiveContexts* live = new LiveContexts;
  return *live;
}

// The core wants a va_list; this is the only variadic function here, and it
// is only ever called with the literal "%s".
void CallVsetError(OSSL_FUNC_core_vset_error_fn* vset_error,
                   const OSSL_CORE_HANDLE* handle, uint32_t reason,
                   const char* format, ...) {
  va_list args;
  va_start(args, format);
  vset_error(handle, reason, format, args);
  va_end(args);
}

}  // namespace

const char* KeymgmtName(KeyFamily family) {
  switch (family) {
    case KeyFamily::kRsa: return "RSA";
    case KeyFamily::kEc: return "EC";
    case KeyFamily::kEd25519: return "ED25519";
  }
  return "";
}

const OSSL_ITEM* ReasonStrings() {
  static const OSSL_ITEM kStrings[] = {
      {static_cast<unsigned int>(ErrorReason::kSignerFailed),
       const_cast<char*>("signer failed")},
      {static_cast<unsigned int>(ErrorReason::kUnsupported),
       const_cast<char*>("not supported by keyhold")},
      {static_cast<unsigned int>(ErrorReason::kInvalidArgument),
       const_cast<char*>("invalid argument")},
      {static_cast<unsigned int>(ErrorReason::kNoPrivateKey),
       const_cast<char*>("key has no signer")},
      {static_cast<unsigned int>(ErrorReason::kInternal),
       const_cast<char*>("internal error")},
      {static_cast<unsigned int>(ErrorReason::kKeyUnavailable),
       const_cast<char*>("key unavailable")},
      {0, nullptr},
  };
  return kStrings;
}

namespace {
constexpr char kSignerReferenceMagic[8] = {'k', 'e', 'y', 'h',
                                           'o', 'l', 'd', '1'};
}  // namespace

std::array<uint8_t, kSignerReferenceSize> EncodeSignerReference(
    uint64_t handle) {
  std::array<uint8_t, kSignerReferenceSize> reference{};
  std::memcpy(reference.data(), kSignerReferenceMagic,
              sizeof(kSignerReferenceMagic));
  std::memcpy(reference.data() + sizeof(kSignerReferenceMagic), &handle,
              sizeof(handle));
  return reference;
}

std::optional<uint64_t> DecodeSignerReference(const void* reference,
                                              size_t size) {
  if (reference == nullptr || size != kSignerReferenceSize ||
      std::memcmp(reference, kSignerReferenceMagic,
                  sizeof(kSignerReferenceMagic)) != 0) {
    return std::nullopt;
  }
  uint64_t handle = 0;
  std::memcpy(&handle,
              static_cast<const uint8_t*>(reference) +
                  sizeof(kSignerReferenceMagic),
              sizeof(handle));
  return handle;
}

CoreErrorFunctions CoreErrorFunctionsFrom(const OSSL_DISPATCH* in) {
  CoreErrorFunctions errors;
  for (const OSSL_DISPATCH* f = in; f != nullptr && f->function_id != 0; ++f) {
    switch (f->function_id) {
      case OSSL_FUNC_CORE_NEW_ERROR:
        errors.new_error = OSSL_FUNC_core_new_error(f);
        break;
      case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
        errors.set_error_debug = OSSL_FUNC_core_set_error_debug(f);
        break;
      case OSSL_FUNC_CORE_VSET_ERROR:
        errors.vset_error = OSSL_FUNC_core_vset_error(f);
        break;
      default: break;
    }
  }
  return errors;
}

EvpPkeyPtr ShareKey(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_up_ref(key) != 1) return nullptr;
  return EvpPkeyPtr(key);
}

ProviderContext::ProviderContext(const OSSL_CORE_HANDLE* handle,
                                 OSSL_LIB_CTX* libctx,
                                 CoreErrorFunctions errors)
    : handle_(handle), libctx_(libctx), errors_(errors) {
  LiveContexts& live = Live();
  absl::MutexLock lock(&live.mu);
  live.contexts.insert(this);
}

ProviderContext::~ProviderContext() {
  LiveContexts& live = Live();
  absl::MutexLock lock(&live.mu);
  live.contexts.erase(this);
}

ProviderContext* ProviderContext::FromProvider(const OSSL_PROVIDER* provider) {
  if (provider == nullptr) return nullptr;
  auto* candidate = static_cast<const ProviderContext*>(
      OSSL_PROVIDER_get0_provider_ctx(provider));
  LiveContexts& live = Live();
  absl::MutexLock lock(&live.mu);
  if (!live.contexts.contains(candidate)) return nullptr;
  return const_cast<ProviderContext*>(candidate);
}

ProviderContext* ProviderContext::HolderOfPendingSigner(uint64_t handle) {
  LiveContexts& live = Live();
  absl::MutexLock lock(&live.mu);
  for (const ProviderContext* candidate : live.contexts) {
    auto* context = const_cast<ProviderContext*>(candidate);
    absl::MutexLock pending_lock(&context->mu_);
    if (context->pending_.contains(handle)) return context;
  }
  return nullptr;
}

absl::StatusOr<uint64_t> ProviderContext::AddPendingSigner(
    std::shared_ptr<Signer> signer) {
  absl::MutexLock lock(&mu_);
  for (int attempt = 0; attempt < 8; ++attempt) {
    uint64_t handle = 0;
    if (RAND_bytes_ex(libctx_, reinterpret_cast<unsigned char*>(&handle),
                      sizeof(handle), 0) != 1) {
      return absl::InternalError("no randomness for a signer handle");
    }
    if (handle != 0 && pending_.emplace(handle, signer).second) return handle;
  }
  return absl::InternalError("could not pick an unused signer handle");
}

std::shared_ptr<Signer> ProviderContext::TakePendingSigner(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(handle);
  if (it == pending_.end()) return nullptr;
  std::shared_ptr<Signer> signer = std::move(it->second);
  pending_.erase(it);
  return signer;
}

void ProviderContext::RaiseError(ErrorReason reason, std::string_view message,
                                 std::source_location where) const {
  if (errors_.new_error == nullptr || errors_.vset_error == nullptr) return;
  errors_.new_error(handle_);
  if (errors_.set_error_debug != nullptr) {
    errors_.set_error_debug(handle_, where.file_name(),
                            static_cast<int>(where.line()),
                            where.function_name());
  }
  const std::string text(message);
  CallVsetError(errors_.vset_error, handle_, static_cast<uint32_t>(reason),
                "%s", text.c_str());
}

void ProviderContext::RaiseStatus(ErrorReason reason,
                                  const absl::Status& status,
                                  std::source_location where) const {
  RaiseError(reason,
             absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                          status.message()),
             where);
}

}  // namespace keyhold::provider_internal
