// Shared by the keyhold provider's files (provider.cc, keymgmt.cc,
// signature.cc) and by the loadable provider module (client/provider/),
// which serves the same keymgmt and signature tables from its own
// OSSL_provider_init: the provider context, the key data behind every
// keyhold EVP_PKEY, error reporting and the dispatch tables.
//
// Threading: OpenSSL may call any function here from any thread. The
// provider context is shared and internally locked; key data is immutable
// after import; a signature context belongs to one EVP_PKEY_CTX, which
// OpenSSL never uses from two threads at once.
#ifndef KEYHOLD_TOKENS_PROVIDER_PROVIDER_INTERNAL_H_
#define KEYHOLD_TOKENS_PROVIDER_PROVIDER_INTERNAL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>
#include <string_view>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "tokens/key_type.h"
#include "tokens/openssl_ptr.h"
#include "tokens/signer.h"

namespace keyhold::provider_internal {

// Algorithm names, identical to the default provider's so that
// EVP_PKEY_is_a(key, "RSA" / "rsaEncryption" / "id-ecPublicKey" / ...)
// holds for keyhold keys (libssl's ssl_cert_lookup_by_pkey relies on it) and
// so that the default provider's encoders and keymgmts accept them.
inline constexpr char kRsaNames[] = "RSA:rsaEncryption:1.2.840.113549.1.1.1";
inline constexpr char kEcNames[] = "EC:id-ecPublicKey:1.2.840.10045.2.1";
inline constexpr char kEd25519Names[] = "ED25519:1.3.101.112";
inline constexpr char kEcdsaNames[] = "ECDSA";
inline constexpr char kAlgorithmProperties[] = "provider=keyhold";

// The import parameter that carries a signer registration (see
// ProviderContext::AddPendingSigner). uint64.
inline constexpr char kSignerHandleParam[] = "keyhold-signer-handle";

// The canonical (first) name of a family's keymgmt: "RSA", "EC", "ED25519".
const char* KeymgmtName(KeyFamily family);

// Reasons on the OpenSSL error queue. OpenSSL files them under the
// provider's own error library ("keyhold"); ReasonStrings() names them.
enum class ErrorReason : uint32_t {
  kSignerFailed = 1,     // Signer::Sign returned an error.
  kUnsupported = 2,      // An algorithm or parameter keyhold does not do.
  kInvalidArgument = 3,  // A malformed parameter or call.
  kNoPrivateKey = 4,     // A private operation on a public-only key.
  kInternal = 5,         // An OpenSSL call that should not fail did.
  kKeyUnavailable = 6,   // The key could not be found or fetched (module).
};
const OSSL_ITEM* ReasonStrings();

// What both keyhold providers (built-in and module) answer to
// OSSL_FUNC_provider_gettable_params / get_params: name, version,
// buildinfo, status.
const OSSL_PARAM* ProviderGettableParams();
int AnswerProviderParams(OSSL_PARAM params[], const char* name);

// The core's error functions, taken from the dispatch table OpenSSL hands
// OSSL_provider_init. Any may be null (then errors are dropped).
struct CoreErrorFunctions {
  OSSL_FUNC_core_new_error_fn* new_error = nullptr;
  OSSL_FUNC_core_set_error_debug_fn* set_error_debug = nullptr;
  OSSL_FUNC_core_vset_error_fn* vset_error = nullptr;
};

// One per loaded instance of the provider (per OSSL_LIB_CTX).
//
// How a Signer reaches the keymgmt without a forgeable pointer in an
// OSSL_PARAM: MakeSignerPkey registers the signer here under a random
// 64-bit handle, then asks OpenSSL to import a key with
// kSignerHandleParam = handle. The keymgmt's import takes the entry out
// (TakePendingSigner), so each handle builds at most one key and is gone
// from the registry once the key exists. A caller who guesses or replays a
// handle gets an import error, never a pointer dereference.
class ProviderContext {
 public:
  ProviderContext(const OSSL_CORE_HANDLE* handle, OSSL_LIB_CTX* libctx,
                  CoreErrorFunctions errors);
  // Virtual: the loadable module extends the context with its agent
  // connection and deletes it through this type in its teardown.
  virtual ~ProviderContext();
  ProviderContext(const ProviderContext&) = delete;
  ProviderContext& operator=(const ProviderContext&) = delete;

  // The ProviderContext of `provider` if it is a live keyhold instance,
  // else null. Guards MakeSignerPkey against some other provider that
  // happens to be called "keyhold".
  static ProviderContext* FromProvider(const OSSL_PROVIDER* provider);

  // The library context this instance was loaded into. Digests and
  // default-provider keys the provider makes live here.
  OSSL_LIB_CTX* libctx() const { return libctx_; }

  // The live instance holding a pending signer under `handle`, else null.
  // For keymgmt load, which gets an object reference but no provctx.
  static ProviderContext* HolderOfPendingSigner(uint64_t handle);

  absl::StatusOr<uint64_t> AddPendingSigner(std::shared_ptr<Signer> signer);
  // Removes and returns the signer registered under `handle`; null if none.
  std::shared_ptr<Signer> TakePendingSigner(uint64_t handle);

  // Puts one error on this thread's OpenSSL error queue, filed under the
  // provider's error library with `where` as its debug location.
  void RaiseError(
      ErrorReason reason, std::string_view message,
      std::source_location where = std::source_location::current()) const;
  // The same, with "CODE: message" of a failed status.
  void RaiseStatus(
      ErrorReason reason, const absl::Status& status,
      std::source_location where = std::source_location::current()) const;

 private:
  const OSSL_CORE_HANDLE* const handle_;
  OSSL_LIB_CTX* const libctx_;
  const CoreErrorFunctions errors_;

  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Signer>> pending_
      ABSL_GUARDED_BY(mu_);
};

// The keydata behind a keyhold EVP_PKEY (what keymgmt new/import build and
// what signature *_init receive). Never modified after import.
struct KeyData {
  ProviderContext* provider;  // Not owned; outlives the key (the EVP_KEYMGMT
                              // holds a reference to the provider).
  KeyFamily family;
  // Null for public-only keys (imported from a certificate for
  // EVP_PKEY_eq / X509_check_private_key).
  std::shared_ptr<Signer> signer;
  // Default-provider key in provider->libctx(), public half only. Null
  // until import. Answers every get_params and export.
  EvpPkeyPtr public_key;
};

// An up-referenced second owner of `key`.
EvpPkeyPtr ShareKey(EVP_PKEY* key);

const OSSL_DISPATCH* KeymgmtFunctions(KeyFamily family);
const OSSL_DISPATCH* SignatureFunctions(KeyFamily family);

// The OSSL_OP_KEYMGMT and OSSL_OP_SIGNATURE answers of query_operation,
// shared by the built-in provider and the loadable module.
const OSSL_ALGORITHM* KeymgmtAlgorithms();
const OSSL_ALGORITHM* SignatureAlgorithms();

// The core's error functions found in the dispatch table `in` handed to
// OSSL_provider_init.
CoreErrorFunctions CoreErrorFunctionsFrom(const OSSL_DISPATCH* in);

// An object reference (provider-object(7)) for a pending signer handle, as
// a store or decoder passes it to OpenSSL and OpenSSL passes it back to
// keymgmt load. 16 bytes: a magic prefix and the handle. Never 8 bytes,
// because the default provider's keymgmt load takes an 8-byte reference to
// be a pointer to its own key data, and libcrypto may offer it ours.
inline constexpr size_t kSignerReferenceSize = 16;
std::array<uint8_t, kSignerReferenceSize> EncodeSignerReference(
    uint64_t handle);
// The handle in `reference`, or nullopt if it is not one of ours.
std::optional<uint64_t> DecodeSignerReference(const void* reference,
                                              size_t size);

// Builds one dispatch entry; `Fn` is OpenSSL's OSSL_FUNC_*_fn type for `id`,
// so a function with the wrong signature does not compile.
template <typename Fn>
OSSL_DISPATCH DispatchEntry(int id, Fn* function) {
  return {id, reinterpret_cast<void (*)(void)>(function)};
}
inline constexpr OSSL_DISPATCH kDispatchEnd = {0, nullptr};

}  // namespace keyhold::provider_internal

#endif  // KEYHOLD_TOKENS_PROVIDER_PROVIDER_INTERNAL_H_
