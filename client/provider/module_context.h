// The loadable module's provider context: the shared keymgmt/signature
// context (tokens/provider) plus the agent connection, and the one step the
// store and the decoder share — turning a key name into an object reference
// that keymgmt load (tokens/provider/keymgmt.cc) turns into a key.
#ifndef KEYHOLD_CLIENT_PROVIDER_MODULE_CONTEXT_H_
#define KEYHOLD_CLIENT_PROVIDER_MODULE_CONTEXT_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "client/provider/agent_connection.h"
#include "client/provider/key_reference.h"
#include "tokens/openssl_ptr.h"
#include "tokens/provider/provider_internal.h"

namespace keyhold::provider_module {

// A key ready for OpenSSL: its signer waits in the provider context under
// `handle` until keymgmt load takes it. Whoever made it and sees it unused
// (the store on close, the decoder after its callback) calls Release().
struct PreparedKey {
  uint64_t handle = 0;
  std::array<uint8_t, provider_internal::kSignerReferenceSize> reference{};
  const char* keymgmt_name = nullptr;  // "RSA", "EC", "ED25519"
  std::string certificate_der;         // Empty if none is stored.
};

class ModuleContext : public provider_internal::ProviderContext {
 public:
  // `libctx` is the child library context made for this instance.
  ModuleContext(const OSSL_CORE_HANDLE* handle, OsslLibCtxPtr libctx,
                provider_internal::CoreErrorFunctions errors,
                AgentConnection* connection)
      : ProviderContext(handle, libctx.get(), errors),
        owned_libctx_(std::move(libctx)),
        connection_(connection) {}

  AgentConnection* connection() const { return connection_; }

  // Asks the agent for the key and registers its RemoteSigner.
  absl::StatusOr<PreparedKey> PrepareKey(const KeyLocator& locator);
  // Drops an unused registration; harmless if keymgmt load took it.
  void Release(const PreparedKey& key) { TakePendingSigner(key.handle); }

 private:
  OsslLibCtxPtr owned_libctx_;
  AgentConnection* const connection_;
};

}  // namespace keyhold::provider_module

#endif  // KEYHOLD_CLIENT_PROVIDER_MODULE_CONTEXT_H_
