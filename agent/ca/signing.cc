#include "agent/ca/signing.h"

#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "absl/status/status.h"
#include "tokens/openssl_error.h"

namespace keyhold::agent::ca {

namespace {

// nullptr for Ed25519 (no separate digest); else the OpenSSL digest name.
absl::StatusOr<const char*> DigestFor(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519")) return nullptr;
  if (EVP_PKEY_is_a(key, "RSA")) return "SHA256";
  if (EVP_PKEY_is_a(key, "EC")) {
    switch (EVP_PKEY_get_bits(key)) {
      case 256: return "SHA256";
      case 384: return "SHA384";
      case 521: return "SHA512";
      default: break;
    }
  }
  return absl::InvalidArgumentError(
      "the signing key is not RSA, EC on P-256/P-384/P-521 or Ed25519");
}

}  // namespace

absl::StatusOr<EvpMdCtxPtr> SigningContext(OSSL_LIB_CTX* libctx, EVP_PKEY* key) {
  absl::StatusOr<const char*> digest = DigestFor(key);
  if (!digest.ok()) return digest.status();
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return OpenSslError("EVP_MD_CTX_new");
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, *digest, libctx, nullptr, key, nullptr) != 1) {
    return OpenSslError("preparing to sign with the CA key");
  }
  return ctx;
}

}  // namespace keyhold::agent::ca
