// Signature operations for keyhold keys (provider-signature(7)): RSA
// PKCS#1 v1.5 and PSS, ECDSA, and PureEdDSA (Ed25519), each ending in
// Signer::Sign. Verification (verify.cc) and settings and the context's
// lifecycle (signature_context.cc) live next door.
//
// - sign_init/sign: the caller hands over a digest (EVP_PKEY_sign).
// - digest_sign_*: the caller hands over the message; it is hashed here
//   with the default provider's digest from the provider's library context
//   (EVP_DigestSign*, X509_sign_ctx, libssl's CertificateVerify).
// - Ed25519 is one-shot only (PureEdDSA signs the message itself): the
//   digest_sign_init + digest_sign pair, no update/final.
//
// Failures, including a Signer error, go on the OpenSSL error queue under
// the provider's error library with the status text; the callback returns 0.
#include <cstring>
#include <string>

#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/provider/provider_internal.h"
#include "tokens/provider/signature_context.h"

namespace keyhold::provider_internal {
namespace {

int MaxSignatureSize(const SignatureContext& ctx, size_t* siglen) {
  const int size = EVP_PKEY_get_size(ctx.public_key.get());
  if (size <= 0) return FailWith(ctx, absl::InternalError("unknown key size"));
  *siglen = static_cast<size_t>(size);
  return 1;
}

// Calls the Signer and copies the signature out into `sig` (not null: the
// callers answer size queries with MaxSignatureSize).
int SignWith(SignatureContext& ctx, const SignatureAlgorithm& algorithm,
             std::span<const uint8_t> input, unsigned char* sig, size_t* siglen,
             size_t sigsize) {
  // Like OpenSSL's own providers, a buffer must hold the largest signature
  // of the key; checked before the signer is asked (a remote signature is
  // an audited call to the agent).
  size_t max_size = 0;
  if (MaxSignatureSize(ctx, &max_size) != 1) return 0;
  if (sigsize < max_size) {
    return FailWith(ctx, absl::InvalidArgumentError(absl::StrCat(
                             "the signature buffer holds ", sigsize,
                             " bytes; this key's signatures take up to ", max_size)));
  }
  absl::StatusOr<std::vector<uint8_t>> signature =
      ctx.signer->Sign(algorithm, input);
  if (!signature.ok()) {
    ctx.provider->RaiseStatus(ErrorReason::kSignerFailed, signature.status());
    return 0;
  }
  if (signature->size() > sigsize) {
    return FailWith(ctx, absl::InvalidArgumentError(absl::StrCat(
                             "signature is ", signature->size(),
                             " bytes, the buffer holds ", sigsize)));
  }
  std::memcpy(sig, signature->data(), signature->size());
  *siglen = signature->size();
  return 1;
}

template <KeyFamily kFamily>
void* NewCtx(void* provctx, const char* /*propq*/) {
  return NewSignatureContext(provctx, kFamily);
}

int SignInit(void* vctx, void* provkey, const OSSL_PARAM params[]) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (BindKey(ctx, provkey, Operation::kSign) != 1) return 0;
  if (params != nullptr) {
    if (absl::Status s = ApplyParams(ctx, params); !s.ok()) {
      return FailWith(ctx, s);
    }
  }
  return 1;
}

int Sign(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize,
         const unsigned char* tbs, size_t tbslen) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (ctx.operation != Operation::kSign) {
    return FailWith(ctx,
                    absl::FailedPreconditionError("sign without sign_init"));
  }
  if (sig == nullptr) return MaxSignatureSize(ctx, siglen);
  // Without a digest set, an ECDSA input's length tells its hash, for this
  // call only: the next input may be of another length.
  const bool guess_hash = ctx.family == KeyFamily::kEc && !ctx.hash.has_value();
  if (guess_hash) ctx.hash = HashOfLength(tbslen);
  absl::StatusOr<SignatureAlgorithm> algorithm = CurrentAlgorithm(ctx);
  if (guess_hash) ctx.hash.reset();
  if (!algorithm.ok()) return FailWith(ctx, algorithm.status());
  return SignWith(ctx, *algorithm, {tbs, tbslen}, sig, siglen, sigsize);
}

int DigestSignInit(void* vctx, const char* mdname, void* provkey,
                   const OSSL_PARAM params[]) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (BindKey(ctx, provkey, Operation::kDigestSign) != 1) return 0;
  const bool has_mdname = mdname != nullptr && mdname[0] != '\0';
  if (ctx.family == KeyFamily::kEd25519) {
    if (has_mdname) {
      return FailWith(ctx, absl::InvalidArgumentError(absl::StrCat(
                               "Ed25519 signs the message itself; digest \"",
                               mdname, "\" is not allowed")));
    }
    return 1;
  }
  // libcrypto passes the key's default digest when the caller named none.
  absl::StatusOr<HashAlgorithm> hash =
      has_mdname ? HashFromName(mdname) : HashAlgorithm::kSha256;
  if (!hash.ok()) return FailWith(ctx, hash.status());
  ctx.hash = *hash;
  if (params != nullptr) {
    if (absl::Status s = ApplyParams(ctx, params); !s.ok()) {
      return FailWith(ctx, s);
    }
  }
  EvpMdPtr md(EVP_MD_fetch(ctx.provider->libctx(),
                           std::string(HashName(*ctx.hash)).c_str(),
                           "provider=default"));
  ctx.digest.reset(EVP_MD_CTX_new());
  if (md == nullptr || ctx.digest == nullptr ||
      EVP_DigestInit_ex2(ctx.digest.get(), md.get(), nullptr) != 1) {
    return FailWith(ctx,
                    absl::InternalError(absl::StrCat(
                        "cannot start ", HashName(*ctx.hash), " hashing")));
  }
  return 1;
}

int DigestSignUpdate(void* vctx, const unsigned char* data, size_t datalen) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (ctx.operation != Operation::kDigestSign || ctx.digest == nullptr) {
    return FailWith(ctx, absl::FailedPreconditionError(
                             "update without EVP_DigestSignInit"));
  }
  if (EVP_DigestUpdate(ctx.digest.get(), data, datalen) != 1) {
    return FailWith(ctx, absl::InternalError("hashing failed"));
  }
  return 1;
}

int DigestSignFinal(void* vctx, unsigned char* sig, size_t* siglen,
                    size_t sigsize) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (ctx.operation != Operation::kDigestSign || ctx.digest == nullptr) {
    return FailWith(
        ctx, absl::FailedPreconditionError("final without EVP_DigestSignInit"));
  }
  if (sig == nullptr) return MaxSignatureSize(ctx, siglen);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_DigestFinal_ex(ctx.digest.get(), digest, &digest_length) != 1) {
    return FailWith(ctx, absl::InternalError("finishing the hash failed"));
  }
  absl::StatusOr<SignatureAlgorithm> algorithm = CurrentAlgorithm(ctx);
  if (!algorithm.ok()) return FailWith(ctx, algorithm.status());
  return SignWith(ctx, *algorithm, {digest, digest_length}, sig, siglen,
                  sigsize);
}

// One-shot EVP_DigestSign. For RSA and ECDSA the same as update + final
// (so data passed to earlier updates counts, as with libcrypto's fallback).
int DigestSign(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize,
               const unsigned char* tbs, size_t tbslen) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (ctx.operation != Operation::kDigestSign) {
    return FailWith(ctx, absl::FailedPreconditionError(
                             "EVP_DigestSign without EVP_DigestSignInit"));
  }
  if (sig == nullptr) return MaxSignatureSize(ctx, siglen);
  if (ctx.family != KeyFamily::kEd25519) {
    return DigestSignUpdate(vctx, tbs, tbslen) == 1 &&
                   DigestSignFinal(vctx, sig, siglen, sigsize) == 1
               ? 1
               : 0;
  }
  absl::StatusOr<SignatureAlgorithm> algorithm = CurrentAlgorithm(ctx);
  if (!algorithm.ok()) return FailWith(ctx, algorithm.status());
  return SignWith(ctx, *algorithm, {tbs, tbslen}, sig, siglen, sigsize);
}

// OpenSSL asks for parameter lists per context; ours depend on the family.
template <KeyFamily kFamily>
const OSSL_PARAM* GettableCtxParams(void* /*vctx*/, void* /*provctx*/) {
  return GettableParams(kFamily);
}

template <KeyFamily kFamily>
const OSSL_PARAM* SettableCtxParams(void* /*vctx*/, void* /*provctx*/) {
  return SettableParams(kFamily);
}

template <KeyFamily kFamily>
const OSSL_DISPATCH* MakeDigestSignatureFunctions() {
  static const OSSL_DISPATCH kFunctions[] = {
      DispatchEntry<OSSL_FUNC_signature_newctx_fn>(OSSL_FUNC_SIGNATURE_NEWCTX,
                                                   &NewCtx<kFamily>),
      DispatchEntry<OSSL_FUNC_signature_freectx_fn>(OSSL_FUNC_SIGNATURE_FREECTX,
                                                    &FreeSignatureContext),
      DispatchEntry<OSSL_FUNC_signature_dupctx_fn>(OSSL_FUNC_SIGNATURE_DUPCTX,
                                                   &DupSignatureContext),
      DispatchEntry<OSSL_FUNC_signature_sign_init_fn>(
          OSSL_FUNC_SIGNATURE_SIGN_INIT, &SignInit),
      DispatchEntry<OSSL_FUNC_signature_sign_fn>(OSSL_FUNC_SIGNATURE_SIGN,
                                                 &Sign),
      DispatchEntry<OSSL_FUNC_signature_digest_sign_init_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, &DigestSignInit),
      DispatchEntry<OSSL_FUNC_signature_digest_sign_update_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, &DigestSignUpdate),
      DispatchEntry<OSSL_FUNC_signature_digest_sign_final_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, &DigestSignFinal),
      DispatchEntry<OSSL_FUNC_signature_digest_sign_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_SIGN, &DigestSign),
      DispatchEntry<OSSL_FUNC_signature_verify_init_fn>(
          OSSL_FUNC_SIGNATURE_VERIFY_INIT, &VerifyInit),
      DispatchEntry<OSSL_FUNC_signature_verify_fn>(OSSL_FUNC_SIGNATURE_VERIFY,
                                                   &Verify),
      DispatchEntry<OSSL_FUNC_signature_digest_verify_init_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, &DigestVerifyInit),
      DispatchEntry<OSSL_FUNC_signature_digest_verify_update_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, &DigestVerifyUpdate),
      DispatchEntry<OSSL_FUNC_signature_digest_verify_final_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, &DigestVerifyFinal),
      DispatchEntry<OSSL_FUNC_signature_digest_verify_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, &DigestVerify),
      DispatchEntry<OSSL_FUNC_signature_get_ctx_params_fn>(
          OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, &GetSignatureParams),
      DispatchEntry<OSSL_FUNC_signature_gettable_ctx_params_fn>(
          OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, &GettableCtxParams<kFamily>),
      DispatchEntry<OSSL_FUNC_signature_set_ctx_params_fn>(
          OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, &SetSignatureParams),
      DispatchEntry<OSSL_FUNC_signature_settable_ctx_params_fn>(
          OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, &SettableCtxParams<kFamily>),
      kDispatchEnd,
  };
  return kFunctions;
}

// PureEdDSA: one-shot only, nothing to set.
const OSSL_DISPATCH* MakeEd25519SignatureFunctions() {
  static const OSSL_DISPATCH kFunctions[] = {
      DispatchEntry<OSSL_FUNC_signature_newctx_fn>(
          OSSL_FUNC_SIGNATURE_NEWCTX, &NewCtx<KeyFamily::kEd25519>),
      DispatchEntry<OSSL_FUNC_signature_freectx_fn>(OSSL_FUNC_SIGNATURE_FREECTX,
                                                    &FreeSignatureContext),
      DispatchEntry<OSSL_FUNC_signature_dupctx_fn>(OSSL_FUNC_SIGNATURE_DUPCTX,
                                                   &DupSignatureContext),
      DispatchEntry<OSSL_FUNC_signature_digest_sign_init_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, &DigestSignInit),
      DispatchEntry<OSSL_FUNC_signature_digest_sign_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_SIGN, &DigestSign),
      DispatchEntry<OSSL_FUNC_signature_digest_verify_init_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, &DigestVerifyInit),
      DispatchEntry<OSSL_FUNC_signature_digest_verify_fn>(
          OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, &DigestVerify),
      DispatchEntry<OSSL_FUNC_signature_get_ctx_params_fn>(
          OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, &GetSignatureParams),
      DispatchEntry<OSSL_FUNC_signature_gettable_ctx_params_fn>(
          OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
          &GettableCtxParams<KeyFamily::kEd25519>),
      kDispatchEnd,
  };
  return kFunctions;
}

}  // namespace

const OSSL_DISPATCH* SignatureFunctions(KeyFamily family) {
  switch (family) {
    case KeyFamily::kRsa:
      return MakeDigestSignatureFunctions<KeyFamily::kRsa>();
    case KeyFamily::kEc: return MakeDigestSignatureFunctions<KeyFamily::kEc>();
    case KeyFamily::kEd25519: return MakeEd25519SignatureFunctions();
  }
  return nullptr;
}

}  // namespace keyhold::provider_internal
