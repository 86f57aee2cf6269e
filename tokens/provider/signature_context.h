// The state behind one keyhold signature operation (an EVP_PKEY_CTX's
// algctx), shared by signature.cc (signing through the Signer) and
// verify.cc (verification, handed to the default provider). Internal to
// tokens/provider/.
#ifndef KEYHOLD_TOKENS_PROVIDER_SIGNATURE_CONTEXT_H_
#define KEYHOLD_TOKENS_PROVIDER_SIGNATURE_CONTEXT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>

#include <openssl/core.h>
#include <openssl/rsa.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tokens/key_type.h"
#include "tokens/openssl_ptr.h"
#include "tokens/provider/provider_internal.h"
#include "tokens/signer.h"

namespace keyhold::provider_internal {

enum class Operation { kNone, kSign, kDigestSign, kVerify, kDigestVerify };

struct SignatureContext {
  SignatureContext(ProviderContext* provider_in, KeyFamily family_in)
      : provider(provider_in), family(family_in) {}

  ProviderContext* const provider;
  const KeyFamily family;
  Operation operation = Operation::kNone;
  std::shared_ptr<Signer> signer;  // Null for verification.
  EvpPkeyPtr public_key;
  // Settings, reset by every *_init. `hash` unset means "not chosen yet".
  std::optional<HashAlgorithm> hash;
  int pad_mode = RSA_PKCS1_PADDING;
  int salt_length = RSA_PSS_SALTLEN_AUTO;  // OpenSSL 3.0's default.
  std::optional<HashAlgorithm> mgf1_hash;  // Unset: same as `hash`.
  // The running hash of a digest-sign operation (RSA, ECDSA).
  EvpMdCtxPtr digest;
  // The default provider's digest-verify operation, made on first use so
  // that settings made after init reach it.
  EvpMdCtxPtr verifier;
};

inline SignatureContext* AsSignatureContext(void* vctx) {
  return static_cast<SignatureContext*>(vctx);
}

// Puts `status` on the OpenSSL error queue and returns 0, OpenSSL's
// "failed".
int FailWith(const SignatureContext& ctx, const absl::Status& status,
             std::source_location where = std::source_location::current());

// Common to every *_init: binds `provkey` (a KeyData) to the context and
// resets the settings. Signing needs a key with a signer; verifying does
// not. Returns 1, or reports and returns 0.
int BindKey(SignatureContext& ctx, void* provkey, Operation operation);

// set_ctx_params / get_ctx_params and their lists, per family. RSA knows
// digest, pad-mode, saltlen, mgf1-digest; ECDSA digest; Ed25519 nothing.
// get also answers algorithm-id.
absl::Status ApplyParams(SignatureContext& ctx, const OSSL_PARAM params[]);
absl::Status AnswerParams(const SignatureContext& ctx, OSSL_PARAM params[]);
const OSSL_PARAM* SettableParams(KeyFamily family);
const OSSL_PARAM* GettableParams(KeyFamily family);

// The algorithm the Signer is asked for, from the context's settings, with
// the PSS salt length resolved to bytes.
absl::StatusOr<SignatureAlgorithm> CurrentAlgorithm(
    const SignatureContext& ctx);

// A digest's hash from its length (28, 32, 48, 64 bytes), for ECDSA over a
// digest whose algorithm the caller did not name.
std::optional<HashAlgorithm> HashOfLength(size_t length);

// Context lifecycle (the same for every family).
void* NewSignatureContext(void* provctx, KeyFamily family);
void FreeSignatureContext(void* vctx);
void* DupSignatureContext(void* vctx);
int GetSignatureParams(void* vctx, OSSL_PARAM params[]);
int SetSignatureParams(void* vctx, const OSSL_PARAM params[]);

// Verification (verify.cc), by the default provider with the public key.
int VerifyInit(void* vctx, void* provkey, const OSSL_PARAM params[]);
int Verify(void* vctx, const unsigned char* sig, size_t siglen,
           const unsigned char* tbs, size_t tbslen);
int DigestVerifyInit(void* vctx, const char* mdname, void* provkey,
                     const OSSL_PARAM params[]);
int DigestVerifyUpdate(void* vctx, const unsigned char* data, size_t datalen);
int DigestVerifyFinal(void* vctx, const unsigned char* sig, size_t siglen);
int DigestVerify(void* vctx, const unsigned char* sig, size_t siglen,
                 const unsigned char* tbs, size_t tbslen);

}  // namespace keyhold::provider_internal

#endif  // KEYHOLD_TOKENS_PROVIDER_SIGNATURE_CONTEXT_H_
