// The "keyhold" OpenSSL 3 provider: turns any Signer (a token key, a remote
// key, a software key in tests) into an EVP_PKEY whose private operations
// call Signer::Sign. With it, X509_sign_ctx, X509_REQ_sign_ctx,
// X509_CRL_sign_ctx and SSL_CTX_use_PrivateKey work on keys that never leave
// their token.
//
// It implements key management (RSA, EC, ED25519) and signature (RSA
// PKCS#1 v1.5 and PSS, ECDSA, PureEdDSA). Everything else — verification,
// encoding, hashing — is the default provider's, which the keymgmt hands the
// public half to.
//
// Typical use:
//   OsslLibCtxPtr libctx(OSSL_LIB_CTX_new());
//   absl::StatusOr<KeyholdProvider> provider =
//   LoadKeyholdProvider(libctx.get()); absl::StatusOr<EvpPkeyPtr> key =
//   MakeSignerPkey(libctx.get(), signer); SSL_CTX* ctx =
//   SSL_CTX_new_ex(libctx.get(), nullptr, TLS_client_method());
//   SSL_CTX_use_PrivateKey(ctx, key->get());
// Free keys before the KeyholdProvider, and that before the library context.
#ifndef KEYHOLD_TOKENS_PROVIDER_PROVIDER_H_
#define KEYHOLD_TOKENS_PROVIDER_PROVIDER_H_

#include <memory>

#include <openssl/types.h>

#include "absl/status/statusor.h"
#include "tokens/openssl_ptr.h"
#include "tokens/signer.h"

namespace keyhold {

// The provider's name in a library context ("provider=keyhold").
inline constexpr char kKeyholdProviderName[] = "keyhold";

// Keeps the default and keyhold providers loaded in one library context;
// unloads both when destroyed. Move-only.
class KeyholdProvider {
 public:
  KeyholdProvider(KeyholdProvider&&) = default;
  KeyholdProvider& operator=(KeyholdProvider&&) = default;

  OSSL_PROVIDER* default_provider() const { return default_provider_.get(); }
  OSSL_PROVIDER* keyhold_provider() const { return keyhold_provider_.get(); }

 private:
  friend absl::StatusOr<KeyholdProvider> LoadKeyholdProvider(
      OSSL_LIB_CTX* libctx);
  KeyholdProvider(OsslProviderPtr default_provider,
                  OsslProviderPtr keyhold_provider)
      : default_provider_(std::move(default_provider)),
        keyhold_provider_(std::move(keyhold_provider)) {}

  // Declaration order matters: keyhold is unloaded first.
  OsslProviderPtr default_provider_;
  OsslProviderPtr keyhold_provider_;
};

// Registers the built-in "keyhold" provider in `libctx`
// (OSSL_PROVIDER_add_builtin), loads the "default" provider first, loads
// keyhold, and sets libctx's default properties to "?provider=default" so
// ordinary keys and digests never pick keyhold's algorithms. Give it a
// library context of its own (OSSL_LIB_CTX_new), not nullptr: the default
// properties apply to everything in the context.
absl::StatusOr<KeyholdProvider> LoadKeyholdProvider(OSSL_LIB_CTX* libctx);

// An EVP_PKEY in `libctx` whose public half is signer->PublicKey() and whose
// private operations call signer->Sign. The key keeps the signer alive
// (shared ownership) and cannot be exported with its private half.
// `libctx` must have keyhold loaded (LoadKeyholdProvider).
absl::StatusOr<EvpPkeyPtr> MakeSignerPkey(OSSL_LIB_CTX* libctx,
                                          std::shared_ptr<Signer> signer);

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_PROVIDER_PROVIDER_H_
