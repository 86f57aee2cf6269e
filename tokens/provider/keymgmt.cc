// Key management for keyhold keys (provider-keymgmt(7)). A key is a Signer
// plus its public half as a default-provider EVP_PKEY; every question about
// the key (size, group, encoding) is answered by that public key.
//
// The one rule that makes the rest of OpenSSL 3.0 work: export refuses any
// selection that includes the private key. libcrypto first tries to run a
// signature in the default provider by exporting the key there with
// OSSL_KEYMGMT_SELECT_ALL (crypto/evp/m_sigver.c, signature.c: "two
// iterations"); the refusal makes it fall back to keyhold's own signature
// implementation. Public-only exports succeed, so the default provider's
// encoders (i2d_PUBKEY, X509_set_pubkey, X509_REQ_set_pubkey) and matchers
// work.
#include <memory>
#include <optional>
#include <string_view>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/evp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tokens/provider/provider_internal.h"

namespace keyhold::provider_internal {
namespace {

constexpr int kPublicOrParameters =
    OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS;

bool HasPrivateMaterial(const OSSL_PARAM params[]) {
  for (const OSSL_PARAM* p = params; p->key != nullptr; ++p) {
    const absl::string_view key = p->key;
    if (key == OSSL_PKEY_PARAM_PRIV_KEY || key == OSSL_PKEY_PARAM_RSA_D ||
        absl::StartsWith(key, "rsa-factor") ||
        absl::StartsWith(key, "rsa-exponent") ||
        absl::StartsWith(key, "rsa-coefficient")) {
      return true;
    }
  }
  return false;
}

bool HasPublicKey(KeyFamily family, const OSSL_PARAM params[]) {
  if (family == KeyFamily::kRsa) {
    return OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_N) != nullptr;
  }
  return OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY) != nullptr ||
         OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY) !=
             nullptr;
}

// Re-encodes `key`'s SubjectPublicKeyInfo into a default-provider key in
// `libctx`. The copy cannot hold private parts and does not depend on the
// library context or provider the signer's key came from.
absl::StatusOr<EvpPkeyPtr> DefaultProviderPublicCopy(OSSL_LIB_CTX* libctx,
                                                     EVP_PKEY* key) {
  if (key == nullptr) {
    return absl::InvalidArgumentError("signer has no public key");
  }
  const int length = i2d_PUBKEY(key, nullptr);
  if (length <= 0) {
    return absl::InvalidArgumentError("cannot encode the signer's public key");
  }
  std::vector<uint8_t> der(static_cast<size_t>(length));
  uint8_t* out = der.data();
  if (i2d_PUBKEY(key, &out) != length) {
    return absl::InternalError("encoding the signer's public key");
  }
  const uint8_t* in = der.data();
  EvpPkeyPtr copy(
      d2i_PUBKEY_ex(nullptr, &in, length, libctx, "provider=default"));
  if (copy == nullptr) {
    return absl::InternalError("decoding the signer's public key");
  }
  return copy;
}

// Binds the signer registered under `handle` to `key`: import with
// kSignerHandleParam (MakeSignerPkey) and load with an object reference (the
// module's store and decoder) both end here.
int BindPendingSigner(KeyData& key, uint64_t handle) {
  std::shared_ptr<Signer> signer = key.provider->TakePendingSigner(handle);
  if (signer == nullptr) {
    key.provider->RaiseError(ErrorReason::kInvalidArgument,
                             "unknown or already used signer handle");
    return 0;
  }
  absl::StatusOr<EvpPkeyPtr> public_key =
      DefaultProviderPublicCopy(key.provider->libctx(), signer->PublicKey());
  if (!public_key.ok()) {
    key.provider->RaiseStatus(ErrorReason::kInvalidArgument,
                              public_key.status());
    return 0;
  }
  if (!EVP_PKEY_is_a(public_key->get(), KeymgmtName(key.family))) {
    key.provider->RaiseError(
        ErrorReason::kInvalidArgument,
        absl::StrCat("signer holds an ",
                     EVP_PKEY_get0_type_name(public_key->get()), " key, not ",
                     KeymgmtName(key.family)));
    return 0;
  }
  key.public_key = *std::move(public_key);
  key.signer = std::move(signer);
  return 1;
}

// import with kSignerHandleParam: the key MakeSignerPkey asked for.
int ImportSigner(KeyData& key, const OSSL_PARAM& handle_param) {
  uint64_t handle = 0;
  if (OSSL_PARAM_get_uint64(&handle_param, &handle) != 1) {
    key.provider->RaiseError(ErrorReason::kInvalidArgument,
                             "signer handle must be a uint64");
    return 0;
  }
  return BindPendingSigner(key, handle);
}

// import without a handle: a public key (from a certificate, for
// EVP_PKEY_eq and X509_check_private_key, which export the other key into
// ours). Becomes a public-only keyhold key.
int ImportPublic(KeyData& key, const OSSL_PARAM params[]) {
  if (!HasPublicKey(key.family, params)) {
    key.provider->RaiseError(ErrorReason::kUnsupported,
                             "keyhold imports need a public key");
    return 0;
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(
      key.provider->libctx(), KeymgmtName(key.family), "provider=default"));
  EVP_PKEY* public_key = nullptr;
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &public_key, EVP_PKEY_PUBLIC_KEY,
                        const_cast<OSSL_PARAM*>(params)) <= 0) {
    return 0;  // OpenSSL's own error is on the queue.
  }
  key.public_key.reset(public_key);
  return 1;
}

template <KeyFamily kFamily>
void* KeymgmtNew(void* provctx) {
  return new KeyData{static_cast<ProviderContext*>(provctx), kFamily, nullptr,
                     nullptr};
}

void KeymgmtFree(void* keydata) { delete static_cast<KeyData*>(keydata); }

// load (provider-keymgmt(7)): a store or decoder of the same provider handed
// OpenSSL an object reference (EncodeSignerReference). There is no provctx
// argument, so the ProviderContext is found among the live ones by the
// handle it holds.
template <KeyFamily kFamily>
void* KeymgmtLoad(const void* reference, size_t reference_size) {
  std::optional<uint64_t> handle =
      DecodeSignerReference(reference, reference_size);
  if (!handle.has_value()) return nullptr;
  ProviderContext* provider = ProviderContext::HolderOfPendingSigner(*handle);
  if (provider == nullptr) return nullptr;
  auto key = std::make_unique<KeyData>(
      KeyData{provider, kFamily, nullptr, nullptr});
  if (BindPendingSigner(*key, *handle) != 1) return nullptr;
  return key.release();
}

int KeymgmtHas(const void* keydata, int selection) {
  const auto* key = static_cast<const KeyData*>(keydata);
  if (key == nullptr) return 0;
  bool ok = true;
  // Domain parameters (EC) live in the public key; RSA and Ed25519 have
  // none to lack.
  if ((selection & kPublicOrParameters) != 0) {
    ok = ok && key->public_key != nullptr;
  }
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) {
    ok = ok && key->signer != nullptr;
  }
  return ok ? 1 : 0;
}

int KeymgmtMatch(const void* keydata1, const void* keydata2, int selection) {
  const auto* a = static_cast<const KeyData*>(keydata1);
  const auto* b = static_cast<const KeyData*>(keydata2);
  if (a == nullptr || b == nullptr || a->public_key == nullptr ||
      b->public_key == nullptr) {
    return 0;
  }
  // A signer's private half is bound to its public half, so comparing the
  // public keys also answers a private-key match.
  if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0) {
    return EVP_PKEY_eq(a->public_key.get(), b->public_key.get()) == 1 ? 1 : 0;
  }
  if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0) {
    return EVP_PKEY_parameters_eq(a->public_key.get(), b->public_key.get()) == 1
               ? 1
               : 0;
  }
  return 1;
}

int KeymgmtImport(void* keydata, int /*selection*/, const OSSL_PARAM params[]) {
  auto* key = static_cast<KeyData*>(keydata);
  if (key == nullptr || params == nullptr) return 0;
  if (key->public_key != nullptr) {
    key->provider->RaiseError(ErrorReason::kInvalidArgument,
                              "keyhold keys are immutable once imported");
    return 0;
  }
  // Checked before the handle, so no combination of parameters smuggles a
  // private key into a keyhold key.
  if (HasPrivateMaterial(params)) {
    key->provider->RaiseError(
        ErrorReason::kUnsupported,
        "keyhold keys hold no private material; import public keys only");
    return 0;
  }
  if (const OSSL_PARAM* handle =
          OSSL_PARAM_locate_const(params, kSignerHandleParam)) {
    return ImportSigner(*key, *handle);
  }
  return ImportPublic(*key, params);
}

int KeymgmtExport(void* keydata, int selection, OSSL_CALLBACK* callback,
                  void* callback_arg) {
  const auto* key = static_cast<const KeyData*>(keydata);
  if (key == nullptr || key->public_key == nullptr) return 0;
  // No error raised: this refusal is routine (see the file comment) and
  // libcrypto expects a quiet failure before it tries the next provider.
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) return 0;
  return EVP_PKEY_export(key->public_key.get(), selection, callback,
                         callback_arg);
}

void* KeymgmtDup(const void* keydata_from, int selection) {
  const auto* from = static_cast<const KeyData*>(keydata_from);
  if (from == nullptr) return nullptr;
  auto* copy = new KeyData{from->provider, from->family, nullptr, nullptr};
  if ((selection & kPublicOrParameters) != 0 ||
      (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) {
    // The public key is immutable, so sharing it is a copy.
    copy->public_key = ShareKey(from->public_key.get());
  }
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) {
    copy->signer = from->signer;
  }
  return copy;
}

int KeymgmtGetParams(void* keydata, OSSL_PARAM params[]) {
  const auto* key = static_cast<const KeyData*>(keydata);
  if (key == nullptr || key->public_key == nullptr) return 0;
  return EVP_PKEY_get_params(key->public_key.get(), params);
}

// What get_params can answer; a subset of the default provider's lists
// (the private-key entries are left out).
template <KeyFamily kFamily>
const OSSL_PARAM* KeymgmtGettableParams(void* /*provctx*/) {
  static const OSSL_PARAM kRsa[] = {
      OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
      OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
      OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
      OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
      OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
      OSSL_PARAM_END};
  static const OSSL_PARAM kEc[] = {
      OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
      OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
      OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                             nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
      OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, nullptr, 0),
      OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, nullptr, 0),
      OSSL_PARAM_END};
  static const OSSL_PARAM kEd25519[] = {
      OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
      OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
      OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
      OSSL_PARAM_END};
  switch (kFamily) {
    case KeyFamily::kRsa: return kRsa;
    case KeyFamily::kEc: return kEc;
    case KeyFamily::kEd25519: return kEd25519;
  }
  return nullptr;
}

// What import accepts (public key and domain parameters, or a signer
// handle) and what export produces (the same, without the handle).
template <KeyFamily kFamily, bool kWithHandle>
const OSSL_PARAM* KeyTypes(int /*selection*/) {
  static const OSSL_PARAM kRsa[] = {
      OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
      OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
      OSSL_PARAM_uint64(kSignerHandleParam, nullptr), OSSL_PARAM_END};
  static const OSSL_PARAM kEc[] = {
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                             nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
      OSSL_PARAM_uint64(kSignerHandleParam, nullptr),
      OSSL_PARAM_END};
  static const OSSL_PARAM kEd25519[] = {
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
      OSSL_PARAM_uint64(kSignerHandleParam, nullptr), OSSL_PARAM_END};
  // Each list ends handle, END: skipping the handle means ending one early.
  static const OSSL_PARAM kRsaNoHandle[] = {kRsa[0], kRsa[1], OSSL_PARAM_END};
  static const OSSL_PARAM kEcNoHandle[] = {kEc[0], kEc[1], kEc[2], kEc[3],
                                           OSSL_PARAM_END};
  static const OSSL_PARAM kEd25519NoHandle[] = {kEd25519[0], OSSL_PARAM_END};
  switch (kFamily) {
    case KeyFamily::kRsa: return kWithHandle ? kRsa : kRsaNoHandle;
    case KeyFamily::kEc: return kWithHandle ? kEc : kEcNoHandle;
    case KeyFamily::kEd25519: return kWithHandle ? kEd25519 : kEd25519NoHandle;
  }
  return nullptr;
}

// libcrypto asks which signature algorithm goes with a key; only EC needs
// an answer different from the keymgmt's own name.
template <KeyFamily kFamily>
const char* KeymgmtQueryOperationName(int operation_id) {
  if (operation_id != OSSL_OP_SIGNATURE) return nullptr;
  switch (kFamily) {
    case KeyFamily::kRsa: return "RSA";
    case KeyFamily::kEc: return "ECDSA";
    case KeyFamily::kEd25519: return "ED25519";
  }
  return nullptr;
}

template <KeyFamily kFamily>
const OSSL_DISPATCH* MakeKeymgmtFunctions() {
  static const OSSL_DISPATCH kFunctions[] = {
      DispatchEntry<OSSL_FUNC_keymgmt_new_fn>(OSSL_FUNC_KEYMGMT_NEW,
                                              &KeymgmtNew<kFamily>),
      DispatchEntry<OSSL_FUNC_keymgmt_free_fn>(OSSL_FUNC_KEYMGMT_FREE,
                                               &KeymgmtFree),
      DispatchEntry<OSSL_FUNC_keymgmt_has_fn>(OSSL_FUNC_KEYMGMT_HAS,
                                              &KeymgmtHas),
      DispatchEntry<OSSL_FUNC_keymgmt_match_fn>(OSSL_FUNC_KEYMGMT_MATCH,
                                                &KeymgmtMatch),
      DispatchEntry<OSSL_FUNC_keymgmt_import_fn>(OSSL_FUNC_KEYMGMT_IMPORT,
                                                 &KeymgmtImport),
      DispatchEntry<OSSL_FUNC_keymgmt_load_fn>(OSSL_FUNC_KEYMGMT_LOAD,
                                               &KeymgmtLoad<kFamily>),
      DispatchEntry<OSSL_FUNC_keymgmt_import_types_fn>(
          OSSL_FUNC_KEYMGMT_IMPORT_TYPES, &KeyTypes<kFamily, true>),
      DispatchEntry<OSSL_FUNC_keymgmt_export_fn>(OSSL_FUNC_KEYMGMT_EXPORT,
                                                 &KeymgmtExport),
      DispatchEntry<OSSL_FUNC_keymgmt_export_types_fn>(
          OSSL_FUNC_KEYMGMT_EXPORT_TYPES, &KeyTypes<kFamily, false>),
      DispatchEntry<OSSL_FUNC_keymgmt_dup_fn>(OSSL_FUNC_KEYMGMT_DUP,
                                              &KeymgmtDup),
      DispatchEntry<OSSL_FUNC_keymgmt_get_params_fn>(
          OSSL_FUNC_KEYMGMT_GET_PARAMS, &KeymgmtGetParams),
      DispatchEntry<OSSL_FUNC_keymgmt_gettable_params_fn>(
          OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, &KeymgmtGettableParams<kFamily>),
      DispatchEntry<OSSL_FUNC_keymgmt_query_operation_name_fn>(
          OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
          &KeymgmtQueryOperationName<kFamily>),
      kDispatchEnd,
  };
  return kFunctions;
}

}  // namespace

const OSSL_DISPATCH* KeymgmtFunctions(KeyFamily family) {
  switch (family) {
    case KeyFamily::kRsa: return MakeKeymgmtFunctions<KeyFamily::kRsa>();
    case KeyFamily::kEc: return MakeKeymgmtFunctions<KeyFamily::kEc>();
    case KeyFamily::kEd25519:
      return MakeKeymgmtFunctions<KeyFamily::kEd25519>();
  }
  return nullptr;
}

}  // namespace keyhold::provider_internal
