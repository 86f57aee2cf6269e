// The "keyhold" OSSL_STORE loader: `keyhold:LABEL` or `keyhold:id=HEX`
// yields two objects, in this order: the private key (an object reference
// that this module's keymgmt load turns into a key signing through the
// agent) and, if the agent stores one next to the key, its certificate
// (DER). An application that expects only one kind (OSSL_STORE_expect, or
// the "expect" parameter) gets only that one.
#include "client/provider/store.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "client/provider/key_reference.h"
#include "client/provider/module_context.h"

namespace keyhold::provider_module {
namespace {

using provider_internal::DispatchEntry;
using provider_internal::ErrorReason;

struct StoreContext {
  ModuleContext* provider = nullptr;
  KeyLocator locator;
  int expect = 0;  // OSSL_STORE_INFO_*; 0 = anything.
  enum class Step { kKey, kCertificate, kDone } step = Step::kKey;
  std::optional<PreparedKey> key;

  ~StoreContext() {
    if (key.has_value()) provider->Release(*key);
  }
};

void* StoreOpen(void* provctx, const char* uri) {
  auto* provider = static_cast<ModuleContext*>(provctx);
  absl::StatusOr<KeyLocator> locator = ParseKeyholdUri(uri);
  if (!locator.ok()) {
    provider->RaiseStatus(ErrorReason::kInvalidArgument, locator.status());
    return nullptr;
  }
  auto* store = new StoreContext;
  store->provider = provider;
  store->locator = *std::move(locator);
  return store;
}

const OSSL_PARAM* StoreSettableParams(void* /*provctx*/) {
  static const OSSL_PARAM kParams[] = {
      OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, nullptr),
      OSSL_PARAM_END,
  };
  return kParams;
}

int StoreSetParams(void* loaderctx, const OSSL_PARAM params[]) {
  auto* store = static_cast<StoreContext*>(loaderctx);
  if (params == nullptr) return 1;
  const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
  if (p != nullptr && OSSL_PARAM_get_int(p, &store->expect) != 1) return 0;
  return 1;
}

bool Wants(const StoreContext& store, int type) {
  return store.expect == 0 || store.expect == type;
}

int StoreLoad(void* loaderctx, OSSL_CALLBACK* object_cb, void* object_cbarg,
              OSSL_PASSPHRASE_CALLBACK* /*pw_cb*/, void* /*pw_cbarg*/) {
  auto* store = static_cast<StoreContext*>(loaderctx);
  if (store->step == StoreContext::Step::kKey) {
    store->step = StoreContext::Step::kCertificate;
    absl::StatusOr<PreparedKey> key =
        store->provider->PrepareKey(store->locator);
    if (!key.ok()) {
      store->step = StoreContext::Step::kDone;
      store->provider->RaiseStatus(ErrorReason::kKeyUnavailable, key.status());
      return 0;
    }
    store->key = *std::move(key);
    if (Wants(*store, OSSL_STORE_INFO_PKEY)) {
      int type = OSSL_OBJECT_PKEY;
      OSSL_PARAM params[] = {
          OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type),
          OSSL_PARAM_construct_utf8_string(
              OSSL_OBJECT_PARAM_DATA_TYPE,
              const_cast<char*>(store->key->keymgmt_name), 0),
          OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
                                            store->key->reference.data(),
                                            store->key->reference.size()),
          OSSL_PARAM_construct_end(),
      };
      return object_cb(params, object_cbarg);
    }
  }
  if (store->step == StoreContext::Step::kCertificate) {
    store->step = StoreContext::Step::kDone;
    if (store->key->certificate_der.empty() ||
        !Wants(*store, OSSL_STORE_INFO_CERT)) {
      return 0;
    }
    int type = OSSL_OBJECT_CERT;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type),
        OSSL_PARAM_construct_octet_string(
            OSSL_OBJECT_PARAM_DATA, store->key->certificate_der.data(),
            store->key->certificate_der.size()),
        OSSL_PARAM_construct_end(),
    };
    return object_cb(params, object_cbarg);
  }
  return 0;
}

int StoreEof(void* loaderctx) {
  const auto* store = static_cast<const StoreContext*>(loaderctx);
  if (store->step == StoreContext::Step::kDone) return 1;
  // After the key, the certificate is the only thing left to give.
  return store->step == StoreContext::Step::kCertificate &&
                 store->key.has_value() &&
                 (store->key->certificate_der.empty() ||
                  !Wants(*store, OSSL_STORE_INFO_CERT))
             ? 1
             : 0;
}

int StoreClose(void* loaderctx) {
  delete static_cast<StoreContext*>(loaderctx);
  return 1;
}

const OSSL_DISPATCH* StoreFunctions() {
  static const OSSL_DISPATCH kFunctions[] = {
      DispatchEntry<OSSL_FUNC_store_open_fn>(OSSL_FUNC_STORE_OPEN, &StoreOpen),
      DispatchEntry<OSSL_FUNC_store_settable_ctx_params_fn>(
          OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, &StoreSettableParams),
      DispatchEntry<OSSL_FUNC_store_set_ctx_params_fn>(
          OSSL_FUNC_STORE_SET_CTX_PARAMS, &StoreSetParams),
      DispatchEntry<OSSL_FUNC_store_load_fn>(OSSL_FUNC_STORE_LOAD, &StoreLoad),
      DispatchEntry<OSSL_FUNC_store_eof_fn>(OSSL_FUNC_STORE_EOF, &StoreEof),
      DispatchEntry<OSSL_FUNC_store_close_fn>(OSSL_FUNC_STORE_CLOSE,
                                              &StoreClose),
      provider_internal::kDispatchEnd,
  };
  return kFunctions;
}

}  // namespace

const OSSL_ALGORITHM* StoreAlgorithms() {
  static const OSSL_ALGORITHM kAlgorithms[] = {
      {kUriScheme, provider_internal::kAlgorithmProperties, StoreFunctions(),
       "keys held by keyholdd: keyhold:LABEL, keyhold:id=HEX"},
      {nullptr, nullptr, nullptr, nullptr},
  };
  return kAlgorithms;
}

}  // namespace keyhold::provider_module
