// Verification with keyhold keys, done by the default provider with the
// key's public half. Needed because OpenSSL keeps the EVP_PKEY it was given:
// a certificate made with X509_set_pubkey(cert, keyhold_key) answers
// X509_get0_pubkey with the keyhold key itself, so verifying a chain
// in-process under a keyhold CA certificate runs a verify operation on a
// keyhold key. libcrypto cannot move the key to the default provider for
// that (export refuses the private half), so the operation lands here.
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/provider/signature_context.h"

namespace keyhold::provider_internal {
namespace {

constexpr char kDefaultProvider[] = "provider=default";

// Hands the RSA settings to a default-provider operation. "auto" keeps its
// verification meaning there: accept any salt length.
absl::Status CopyRsaSettings(const SignatureContext& ctx, EVP_PKEY_CTX* pctx) {
  if (ctx.family != KeyFamily::kRsa) return absl::OkStatus();
  int pad_mode = ctx.pad_mode;
  int salt_length = ctx.salt_length;
  std::string mgf1;
  std::vector<OSSL_PARAM> params = {
      OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PAD_MODE, &pad_mode)};
  if (ctx.pad_mode == RSA_PKCS1_PSS_PADDING) {
    params.push_back(OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
                                              &salt_length));
    if (ctx.mgf1_hash.has_value()) {
      mgf1 = std::string(HashName(*ctx.mgf1_hash));
      params.push_back(OSSL_PARAM_construct_utf8_string(
          OSSL_SIGNATURE_PARAM_MGF1_DIGEST, mgf1.data(), 0));
    }
  }
  params.push_back(OSSL_PARAM_construct_end());
  if (EVP_PKEY_CTX_set_params(pctx, params.data()) != 1) {
    return absl::InternalError("default provider refused the RSA settings");
  }
  return absl::OkStatus();
}

// Starts the default provider's digest-verify on first use, with whatever
// settings the caller made after init.
absl::Status EnsureVerifier(SignatureContext& ctx) {
  if (ctx.verifier != nullptr) return absl::OkStatus();
  if (ctx.operation != Operation::kDigestVerify) {
    return absl::FailedPreconditionError("verify without EVP_DigestVerifyInit");
  }
  std::string digest;
  if (ctx.family != KeyFamily::kEd25519) {
    digest = std::string(HashName(ctx.hash.value_or(HashAlgorithm::kSha256)));
  }
  EvpMdCtxPtr verifier(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (verifier == nullptr ||
      EVP_DigestVerifyInit_ex(verifier.get(), &pctx,
                              digest.empty() ? nullptr : digest.c_str(),
                              ctx.provider->libctx(), kDefaultProvider,
                              ctx.public_key.get(), nullptr) != 1) {
    return absl::InternalError("cannot start default-provider verification");
  }
  if (absl::Status s = CopyRsaSettings(ctx, pctx); !s.ok()) return s;
  ctx.verifier = std::move(verifier);
  return absl::OkStatus();
}

}  // namespace

int VerifyInit(void* vctx, void* provkey, const OSSL_PARAM params[]) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (BindKey(ctx, provkey, Operation::kVerify) != 1) return 0;
  if (params != nullptr) {
    if (absl::Status s = ApplyParams(ctx, params); !s.ok()) {
      return FailWith(ctx, s);
    }
  }
  return 1;
}

// 1: valid, 0: invalid or error (OpenSSL's own error queue says which).
int Verify(void* vctx, const unsigned char* sig, size_t siglen,
           const unsigned char* tbs, size_t tbslen) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (ctx.operation != Operation::kVerify) {
    return FailWith(
        ctx, absl::FailedPreconditionError("verify without verify_init"));
  }
  EvpPkeyCtxPtr pctx(EVP_PKEY_CTX_new_from_pkey(
      ctx.provider->libctx(), ctx.public_key.get(), kDefaultProvider));
  if (pctx == nullptr || EVP_PKEY_verify_init(pctx.get()) != 1) {
    return FailWith(ctx, absl::InternalError("cannot start verification"));
  }
  std::optional<HashAlgorithm> hash = ctx.hash;
  if (!hash.has_value() && ctx.family == KeyFamily::kEc) {
    hash = HashOfLength(tbslen);
  }
  if (hash.has_value()) {
    std::string digest(HashName(*hash));
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(
                               OSSL_SIGNATURE_PARAM_DIGEST, digest.data(), 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_PKEY_CTX_set_params(pctx.get(), params) != 1) {
      return FailWith(ctx, absl::InternalError("cannot set the digest"));
    }
  }
  if (absl::Status s = CopyRsaSettings(ctx, pctx.get()); !s.ok()) {
    return FailWith(ctx, s);
  }
  return EVP_PKEY_verify(pctx.get(), sig, siglen, tbs, tbslen) == 1 ? 1 : 0;
}

int DigestVerifyInit(void* vctx, const char* mdname, void* provkey,
                     const OSSL_PARAM params[]) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (BindKey(ctx, provkey, Operation::kDigestVerify) != 1) return 0;
  const bool has_mdname = mdname != nullptr && mdname[0] != '\0';
  if (ctx.family == KeyFamily::kEd25519) {
    if (has_mdname) {
      return FailWith(ctx, absl::InvalidArgumentError(absl::StrCat(
                               "Ed25519 verifies the message itself; digest \"",
                               mdname, "\" is not allowed")));
    }
  } else {
    absl::StatusOr<HashAlgorithm> hash =
        has_mdname ? HashFromName(mdname) : HashAlgorithm::kSha256;
    if (!hash.ok()) return FailWith(ctx, hash.status());
    ctx.hash = *hash;
  }
  if (params != nullptr) {
    if (absl::Status s = ApplyParams(ctx, params); !s.ok()) {
      return FailWith(ctx, s);
    }
  }
  return 1;
}

int DigestVerifyUpdate(void* vctx, const unsigned char* data, size_t datalen) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (absl::Status s = EnsureVerifier(ctx); !s.ok()) return FailWith(ctx, s);
  return EVP_DigestVerifyUpdate(ctx.verifier.get(), data, datalen) == 1 ? 1 : 0;
}

int DigestVerifyFinal(void* vctx, const unsigned char* sig, size_t siglen) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (absl::Status s = EnsureVerifier(ctx); !s.ok()) return FailWith(ctx, s);
  return EVP_DigestVerifyFinal(ctx.verifier.get(), sig, siglen) == 1 ? 1 : 0;
}

int DigestVerify(void* vctx, const unsigned char* sig, size_t siglen,
                 const unsigned char* tbs, size_t tbslen) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (absl::Status s = EnsureVerifier(ctx); !s.ok()) return FailWith(ctx, s);
  return EVP_DigestVerify(ctx.verifier.get(), sig, siglen, tbs, tbslen) == 1
             ? 1
             : 0;
}

}  // namespace keyhold::provider_internal
