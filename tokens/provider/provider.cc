// The provider's entry point (provider-base(7)): init, teardown, what it
// offers (query_operation), its own parameters and reason strings; plus the
// two public functions that load it and wrap a Signer.
#include "tokens/provider/provider.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/openssl_error.h"
#include "tokens/provider/provider_internal.h"

namespace keyhold {
namespace provider_internal {

const OSSL_ALGORITHM* KeymgmtAlgorithms() {
  static const OSSL_ALGORITHM kAlgorithms[] = {
      {provider_internal::kRsaNames, provider_internal::kAlgorithmProperties,
       KeymgmtFunctions(KeyFamily::kRsa), "RSA key held by a keyhold Signer"},
      {provider_internal::kEcNames, provider_internal::kAlgorithmProperties,
       KeymgmtFunctions(KeyFamily::kEc), "EC key held by a keyhold Signer"},
      {provider_internal::kEd25519Names,
       provider_internal::kAlgorithmProperties,
       KeymgmtFunctions(KeyFamily::kEd25519),
       "Ed25519 key held by a keyhold Signer"},
      {nullptr, nullptr, nullptr, nullptr},
  };
  return kAlgorithms;
}

const OSSL_ALGORITHM* SignatureAlgorithms() {
  static const OSSL_ALGORITHM kAlgorithms[] = {
      {provider_internal::kRsaNames, provider_internal::kAlgorithmProperties,
       SignatureFunctions(KeyFamily::kRsa),
       "RSA PKCS#1 v1.5 and PSS through a keyhold Signer"},
      {provider_internal::kEcdsaNames, provider_internal::kAlgorithmProperties,
       SignatureFunctions(KeyFamily::kEc), "ECDSA through a keyhold Signer"},
      {provider_internal::kEd25519Names,
       provider_internal::kAlgorithmProperties,
       SignatureFunctions(KeyFamily::kEd25519),
       "Ed25519 through a keyhold Signer"},
      {nullptr, nullptr, nullptr, nullptr},
  };
  return kAlgorithms;
}

}  // namespace provider_internal

namespace {

using provider_internal::DispatchEntry;
using provider_internal::ProviderContext;

#ifndef KEYHOLD_VERSION
#define KEYHOLD_VERSION "unknown"
#endif

const OSSL_ALGORITHM* QueryOperation(void* /*provctx*/, int operation_id,
                                     int* no_cache) {
  *no_cache = 0;
  switch (operation_id) {
    case OSSL_OP_KEYMGMT: return provider_internal::KeymgmtAlgorithms();
    case OSSL_OP_SIGNATURE: return provider_internal::SignatureAlgorithms();
    default: return nullptr;
  }
}

const OSSL_PARAM* GettableParams(void* /*provctx*/) {
  return provider_internal::ProviderGettableParams();
}

int GetParams(void* /*provctx*/, OSSL_PARAM params[]) {
  return provider_internal::AnswerProviderParams(params, "keyhold Signer provider");
}

const OSSL_ITEM* GetReasonStrings(void* /*provctx*/) {
  return provider_internal::ReasonStrings();
}

void Teardown(void* provctx) { delete static_cast<ProviderContext*>(provctx); }

int ProviderInit(const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in,
                 const OSSL_DISPATCH** out, void** provctx) {
  OSSL_FUNC_core_get_libctx_fn* get_libctx = nullptr;
  const provider_internal::CoreErrorFunctions errors =
      provider_internal::CoreErrorFunctionsFrom(in);
  for (const OSSL_DISPATCH* f = in; f != nullptr && f->function_id != 0; ++f) {
    if (f->function_id == OSSL_FUNC_CORE_GET_LIBCTX) {
      get_libctx = OSSL_FUNC_core_get_libctx(f);
    }
  }
  if (get_libctx == nullptr) return 0;
  // keyhold is only ever a built-in provider (OSSL_PROVIDER_add_builtin),
  // running inside the libcrypto that loads it, and there the core's
  // OPENSSL_CORE_CTX is the OSSL_LIB_CTX itself. The loadable module
  // (client/provider/) makes a child library context instead.
  auto* libctx = reinterpret_cast<OSSL_LIB_CTX*>(get_libctx(handle));

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
  *provctx = new ProviderContext(handle, libctx, errors);
  *out = kProviderFunctions;
  return 1;
}

// The keyhold instance loaded in `libctx`, found among the activated
// providers (no reference is taken: the caller's KeyholdProvider keeps it).
ProviderContext* FindKeyholdContext(OSSL_LIB_CTX* libctx) {
  ProviderContext* found = nullptr;
  OSSL_PROVIDER_do_all(
      libctx,
      [](OSSL_PROVIDER* provider, void* cbdata) -> int {
        if (std::string_view(OSSL_PROVIDER_get0_name(provider)) !=
            kKeyholdProviderName) {
          return 1;
        }
        *static_cast<ProviderContext**>(cbdata) =
            ProviderContext::FromProvider(provider);
        return 0;  // Stop: names are unique within a library context.
      },
      &found);
  return found;
}

absl::StatusOr<KeyFamily> FamilyOfKey(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) return KeyFamily::kRsa;
  if (EVP_PKEY_is_a(key, "EC")) return KeyFamily::kEc;
  if (EVP_PKEY_is_a(key, "ED25519")) return KeyFamily::kEd25519;
  return absl::UnimplementedError(
      absl::StrCat("keyhold cannot wrap ", EVP_PKEY_get0_type_name(key),
                   " keys; RSA, EC and ED25519 only"));
}

}  // namespace

absl::StatusOr<KeyholdProvider> LoadKeyholdProvider(OSSL_LIB_CTX* libctx) {
  if (OSSL_PROVIDER_available(libctx, kKeyholdProviderName) != 1 &&
      OSSL_PROVIDER_add_builtin(libctx, kKeyholdProviderName, &ProviderInit) !=
          1) {
    return OpenSslError("registering the keyhold provider");
  }
  // Loading "default" explicitly also stops OpenSSL from falling back to
  // it implicitly, so it must come first.
  OsslProviderPtr default_provider(OSSL_PROVIDER_load(libctx, "default"));
  if (default_provider == nullptr) {
    return OpenSslError("loading the default provider");
  }
  OsslProviderPtr keyhold_provider(
      OSSL_PROVIDER_load(libctx, kKeyholdProviderName));
  if (keyhold_provider == nullptr) {
    return OpenSslError("loading the keyhold provider");
  }
  // keyhold's algorithms carry the same names as the default provider's;
  // without this preference an ordinary key or digest could be fetched from
  // keyhold. keyhold keys still find keyhold's signature: libcrypto falls
  // back to the key's own provider when the default one cannot take the key.
  if (EVP_set_default_properties(libctx, "?provider=default") != 1) {
    return OpenSslError("setting default properties");
  }
  return KeyholdProvider(std::move(default_provider),
                         std::move(keyhold_provider));
}

absl::StatusOr<EvpPkeyPtr> MakeSignerPkey(OSSL_LIB_CTX* libctx,
                                          std::shared_ptr<Signer> signer) {
  if (signer == nullptr || signer->PublicKey() == nullptr) {
    return absl::InvalidArgumentError(
        "MakeSignerPkey needs a signer with a public key");
  }
  absl::StatusOr<KeyFamily> family = FamilyOfKey(signer->PublicKey());
  if (!family.ok()) return family.status();
  ProviderContext* provider = FindKeyholdContext(libctx);
  if (provider == nullptr) {
    return absl::FailedPreconditionError(
        "the keyhold provider is not loaded in this library context; call "
        "LoadKeyholdProvider first");
  }

  absl::StatusOr<uint64_t> handle = provider->AddPendingSigner(signer);
  if (!handle.ok()) return handle.status();
  // The keymgmt's import normally consumes the registration; if anything
  // below fails before it does, drop it here.
  absl::Cleanup drop_registration = [&] {
    provider->TakePendingSigner(*handle);
  };

  const char* keymgmt = provider_internal::KeymgmtName(*family);
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(
      libctx, keymgmt, provider_internal::kAlgorithmProperties));
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return OpenSslError(absl::StrCat("preparing a keyhold ", keymgmt, " key"));
  }
  uint64_t handle_value = *handle;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_uint64(provider_internal::kSignerHandleParam,
                                  &handle_value),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEYPAIR, params) != 1) {
    return OpenSslError(absl::StrCat("building a keyhold ", keymgmt, " key"));
  }
  return EvpPkeyPtr(key);
}

}  // namespace keyhold

namespace keyhold::provider_internal {

const OSSL_PARAM* ProviderGettableParams() {
  static const OSSL_PARAM kParams[] = {
      OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, nullptr, 0),
      OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, nullptr, 0),
      OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, nullptr, 0),
      OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, nullptr),
      OSSL_PARAM_END,
  };
  return kParams;
}

int AnswerProviderParams(OSSL_PARAM params[], const char* name) {
  OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
  if (p != nullptr && OSSL_PARAM_set_utf8_ptr(p, name) != 1) return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
  if (p != nullptr && OSSL_PARAM_set_utf8_ptr(p, KEYHOLD_VERSION) != 1) return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
  if (p != nullptr && OSSL_PARAM_set_utf8_ptr(p, KEYHOLD_VERSION) != 1) return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
  if (p != nullptr && OSSL_PARAM_set_int(p, 1) != 1) return 0;
  return 1;
}

}  // namespace keyhold::provider_internal
