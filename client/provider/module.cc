// OSSL_provider_init of keyhold-provider.so: the loadable OpenSSL 3
// provider that applications load from openssl.cnf (docs/provider.md). It
// serves tokens/provider's keymgmt and signature tables, whose keys sign
// through a RemoteSigner, plus a "keyhold:" store and PEM key-reference
// decoders.
//
// Configuration (the provider's openssl.cnf section, read once at load):
//   socket = /path   the agent's socket; else $KEYHOLD_SOCKET; else
//                    /run/keyhold/agent.sock
#include <cstdlib>
#include <string>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "client/provider/agent_connection.h"
#include "client/provider/decoder.h"
#include "client/provider/module_context.h"
#include "client/provider/store.h"
#include "tokens/provider/provider_internal.h"

namespace keyhold::provider_module {
namespace {

using provider_internal::DispatchEntry;

#ifndef KEYHOLD_VERSION
#define KEYHOLD_VERSION "unknown"
#endif

inline constexpr char kDefaultSocket[] = "/run/keyhold/agent.sock";
inline constexpr char kSocketParam[] = "socket";

const OSSL_ALGORITHM* QueryOperation(void* /*provctx*/, int operation_id,
                                     int* no_cache) {
  *no_cache = 0;
  switch (operation_id) {
    case OSSL_OP_KEYMGMT: return provider_internal::KeymgmtAlgorithms();
    case OSSL_OP_SIGNATURE: return provider_internal::SignatureAlgorithms();
    case OSSL_OP_STORE: return StoreAlgorithms();
    case OSSL_OP_DECODER: return DecoderAlgorithms();
    default: return nullptr;
  }
}

const OSSL_PARAM* GettableParams(void* /*provctx*/) {
  return provider_internal::ProviderGettableParams();
}

int GetParams(void* /*provctx*/, OSSL_PARAM params[]) {
  return provider_internal::AnswerProviderParams(params, "keyhold agent key provider");
}

const OSSL_ITEM* GetReasonStrings(void* /*provctx*/) {
  return provider_internal::ReasonStrings();
}

void Teardown(void* provctx) { delete static_cast<ModuleContext*>(provctx); }

// The socket: the config section's `socket`, else $KEYHOLD_SOCKET, else the
// default path.
std::string SocketPath(const OSSL_CORE_HANDLE* handle,
                       const OSSL_DISPATCH* in) {
  OSSL_FUNC_core_get_params_fn* get_params = nullptr;
  for (const OSSL_DISPATCH* f = in; f != nullptr && f->function_id != 0; ++f) {
    if (f->function_id == OSSL_FUNC_CORE_GET_PARAMS) {
      get_params = OSSL_FUNC_core_get_params(f);
    }
  }
  if (get_params != nullptr) {
    const char* configured = nullptr;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_ptr(kSocketParam,
                                      const_cast<char**>(&configured), 0),
        OSSL_PARAM_construct_end(),
    };
    if (get_params(handle, params) == 1 && configured != nullptr &&
        *configured != '\0') {
      return configured;
    }
  }
  const char* from_env = std::getenv("KEYHOLD_SOCKET");
  if (from_env != nullptr && *from_env != '\0') return from_env;
  return kDefaultSocket;
}

int ProviderInit(const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in,
                 const OSSL_DISPATCH** out, void** provctx) {
  // nginx and other servers load keys, then fork workers that sign. gRPC
  // survives fork(2) only with fork support on, which it reads when it
  // initialises (first channel); an explicit setting by the user wins.
  setenv("GRPC_ENABLE_FORK_SUPPORT", "true", 0);

  // A child library context: the module's own fetches (digests, public
  // keys) see the application's providers without re-entering its
  // configuration.
  OsslLibCtxPtr libctx(OSSL_LIB_CTX_new_child(handle, in));
  if (libctx == nullptr) return 0;
  AgentConnection* connection = AgentConnection::Shared(SocketPath(handle, in));

  static const OSSL_DISPATCH kProviderFunctions[] = {
      DispatchEntry<OSSL_FUNC_provider_teardown_fn>(OSSL_FUNC_PROVIDER_TEARDOWN,
                                                    &Teardown),
      DispatchEntry<OSSL_FUNC_provider_gettable_params_fn>(
          OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, &GettableParams),
      DispatchEntry<OSSL_FUNC_provider_get_params_fn>(
          OSSL_FUNC_PROVIDER_GET_PARAMS, &GetParams),
      DispatchEntry<OSSL_FUNC_provider_query_operation_fn>(
          OSSL_FUNC_PROVIDER_QUERY_OPERATION, &QueryOperation),
      DispatchEntry<OSSL_FUNC_provider_get_reason_strings_fn>(
          OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, &GetReasonStrings),
      provider_internal::kDispatchEnd,
  };
  *provctx = new ModuleContext(handle, std::move(libctx),
                               provider_internal::CoreErrorFunctionsFrom(in),
                               connection);
  *out = kProviderFunctions;
  return 1;
}

}  // namespace
}  // namespace keyhold::provider_module

extern "C" __attribute__((visibility("default"))) int OSSL_provider_init(
    const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in,
    const OSSL_DISPATCH** out, void** provctx) {
  return keyhold::provider_module::ProviderInit(handle, in, out, provctx);
}
