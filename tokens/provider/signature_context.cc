#include "tokens/provider/signature_context.h"

#include <string>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tokens/provider/algorithm_id.h"

namespace keyhold::provider_internal {
namespace {

ErrorReason ReasonFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnimplemented: return ErrorReason::kUnsupported;
    case absl::StatusCode::kInternal: return ErrorReason::kInternal;
    default: return ErrorReason::kInvalidArgument;
  }
}

absl::StatusOr<int> ParsePadMode(const OSSL_PARAM& p) {
  int mode = 0;
  if (p.data_type == OSSL_PARAM_UTF8_STRING) {
    const char* name = nullptr;
    if (OSSL_PARAM_get_utf8_string_ptr(&p, &name) != 1) {
      return absl::InvalidArgumentError("unreadable pad-mode");
    }
    const absl::string_view value = name;
    if (value == OSSL_PKEY_RSA_PAD_MODE_PKCSV15) return RSA_PKCS1_PADDING;
    if (value == OSSL_PKEY_RSA_PAD_MODE_PSS) return RSA_PKCS1_PSS_PADDING;
    return absl::UnimplementedError(absl::StrCat(
        "RSA pad mode \"", value, "\"; keyhold signs with pkcs1 or pss"));
  }
  if (OSSL_PARAM_get_int(&p, &mode) != 1) {
    return absl::InvalidArgumentError("pad-mode must be an int or a string");
  }
  if (mode != RSA_PKCS1_PADDING && mode != RSA_PKCS1_PSS_PADDING) {
    return absl::UnimplementedError(
        absl::StrCat("RSA pad mode ", mode,
                     "; keyhold signs with RSA_PKCS1_PADDING or "
                     "RSA_PKCS1_PSS_PADDING"));
  }
  return mode;
}

// Accepts OpenSSL's spellings: the ints RSA_PSS_SALTLEN_DIGEST (-1),
// _MAX (-2), _AUTO (-3) or a length, or the strings "digest", "max",
// "auto" or a decimal length (what EVP_PKEY_CTX_set_rsa_pss_saltlen sends).
absl::StatusOr<int> ParseSaltLength(const OSSL_PARAM& p) {
  int length = 0;
  if (p.data_type == OSSL_PARAM_UTF8_STRING) {
    const char* text = nullptr;
    if (OSSL_PARAM_get_utf8_string_ptr(&p, &text) != 1) {
      return absl::InvalidArgumentError("unreadable saltlen");
    }
    const absl::string_view value = text;
    if (value == OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) {
      return RSA_PSS_SALTLEN_DIGEST;
    }
    if (value == OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) return RSA_PSS_SALTLEN_MAX;
    if (value == OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) return RSA_PSS_SALTLEN_AUTO;
    if (!absl::SimpleAtoi(value, &length)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "saltlen \"", value, "\" is not digest, max, auto or a number"));
    }
  } else if (OSSL_PARAM_get_int(&p, &length) != 1) {
    return absl::InvalidArgumentError("saltlen must be an int or a string");
  }
  if (length < RSA_PSS_SALTLEN_AUTO) {
    return absl::UnimplementedError(
        absl::StrCat("RSA-PSS salt length ", length, " is not supported"));
  }
  return length;
}

absl::StatusOr<HashAlgorithm> ParseDigest(const OSSL_PARAM& p) {
  const char* name = nullptr;
  if (OSSL_PARAM_get_utf8_string_ptr(&p, &name) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(p.key, " must be a digest name"));
  }
  return HashFromName(name);
}

// The salt length a PSS signature will really use. Like OpenSSL 3.0,
// "auto" means the maximum when signing.
int ResolveSaltLength(int salt_length, HashAlgorithm hash,
                      const EVP_PKEY* public_key) {
  if (salt_length >= 0) return salt_length;
  const int digest_size = static_cast<int>(DigestSize(hash));
  if (salt_length == RSA_PSS_SALTLEN_DIGEST) return digest_size;
  // emLen = ceil((modBits - 1) / 8) (RFC 8017 §9.1.1).
  const int encoded_length = (EVP_PKEY_get_bits(public_key) - 1 + 7) / 8;
  return encoded_length - digest_size - 2;
}

std::string SaltLengthText(int salt_length) {
  switch (salt_length) {
    case RSA_PSS_SALTLEN_DIGEST: return OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST;
    case RSA_PSS_SALTLEN_MAX: return OSSL_PKEY_RSA_PSS_SALT_LEN_MAX;
    case RSA_PSS_SALTLEN_AUTO: return OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO;
    default: return absl::StrCat(salt_length);
  }
}

// Answers an int-or-string parameter in whichever type the caller asked.
bool SetIntOrText(OSSL_PARAM& p, int value, const std::string& text) {
  if (p.data_type == OSSL_PARAM_UTF8_STRING) {
    return OSSL_PARAM_set_utf8_string(&p, text.c_str()) == 1;
  }
  return OSSL_PARAM_set_int(&p, value) == 1;
}

}  // namespace

int FailWith(const SignatureContext& ctx, const absl::Status& status,
             std::source_location where) {
  ctx.provider->RaiseStatus(ReasonFor(status), status, where);
  return 0;
}

int BindKey(SignatureContext& ctx, void* provkey, Operation operation) {
  const auto* key = static_cast<const KeyData*>(provkey);
  if (key == nullptr || key->public_key == nullptr) {
    return FailWith(ctx, absl::InvalidArgumentError("no key"));
  }
  if (key->family != ctx.family) {
    return FailWith(ctx, absl::InvalidArgumentError(absl::StrCat(
                             "a ", KeymgmtName(key->family), " key cannot do ",
                             KeymgmtName(ctx.family), " signatures")));
  }
  const bool signs =
      operation == Operation::kSign || operation == Operation::kDigestSign;
  if (signs && key->signer == nullptr) {
    ctx.provider->RaiseError(
        ErrorReason::kNoPrivateKey,
        "this keyhold key is public-only (imported), it has no signer");
    return 0;
  }
  ctx.operation = operation;
  ctx.signer = signs ? key->signer : nullptr;
  ctx.public_key = ShareKey(key->public_key.get());
  ctx.hash.reset();
  ctx.pad_mode = RSA_PKCS1_PADDING;
  ctx.salt_length = RSA_PSS_SALTLEN_AUTO;
  ctx.mgf1_hash.reset();
  ctx.digest.reset();
  ctx.verifier.reset();
  return 1;
}

absl::Status ApplyParams(SignatureContext& ctx, const OSSL_PARAM params[]) {
  if (const OSSL_PARAM* p =
          OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST)) {
    absl::StatusOr<HashAlgorithm> hash = ParseDigest(*p);
    if (!hash.ok()) return hash.status();
    // Once hashing has started, the digest is part of the running state.
    if ((ctx.digest != nullptr || ctx.verifier != nullptr) &&
        ctx.hash != *hash) {
      return absl::FailedPreconditionError(
          "the digest cannot change once hashing has started");
    }
    ctx.hash = *hash;
  }
  if (ctx.family != KeyFamily::kRsa) return absl::OkStatus();

  if (const OSSL_PARAM* p =
          OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) {
    absl::StatusOr<int> mode = ParsePadMode(*p);
    if (!mode.ok()) return mode.status();
    ctx.pad_mode = *mode;
  }
  if (const OSSL_PARAM* p =
          OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) {
    absl::StatusOr<int> length = ParseSaltLength(*p);
    if (!length.ok()) return length.status();
    ctx.salt_length = *length;
  }
  if (const OSSL_PARAM* p =
          OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) {
    absl::StatusOr<HashAlgorithm> hash = ParseDigest(*p);
    if (!hash.ok()) return hash.status();
    ctx.mgf1_hash = *hash;
  }
  return absl::OkStatus();
}

std::optional<HashAlgorithm> HashOfLength(size_t length) {
  for (HashAlgorithm hash : {HashAlgorithm::kSha224, HashAlgorithm::kSha256,
                             HashAlgorithm::kSha384, HashAlgorithm::kSha512}) {
    if (DigestSize(hash) == length) return hash;
  }
  return std::nullopt;
}

absl::StatusOr<SignatureAlgorithm> CurrentAlgorithm(
    const SignatureContext& ctx) {
  SignatureAlgorithm algorithm;
  if (ctx.family == KeyFamily::kEd25519) {
    algorithm.scheme = SignatureScheme::kEd25519;
    return algorithm;
  }
  if (!ctx.hash.has_value()) {
    return absl::FailedPreconditionError(
        "no digest chosen; set one with EVP_PKEY_CTX_set_signature_md");
  }
  algorithm.hash = *ctx.hash;
  if (ctx.family == KeyFamily::kEc) {
    algorithm.scheme = SignatureScheme::kEcdsa;
    return algorithm;
  }
  if (ctx.pad_mode != RSA_PKCS1_PSS_PADDING) {
    algorithm.scheme = SignatureScheme::kRsaPkcs1;
    return algorithm;
  }
  algorithm.scheme = SignatureScheme::kRsaPss;
  algorithm.mgf1_hash = ctx.mgf1_hash.value_or(*ctx.hash);
  algorithm.pss_salt_length =
      ResolveSaltLength(ctx.salt_length, *ctx.hash, ctx.public_key.get());
  return algorithm;
}

absl::Status AnswerParams(const SignatureContext& ctx, OSSL_PARAM params[]) {
  if (OSSL_PARAM* p =
          OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) {
    // Without a digest there is no identifier yet; leaving the parameter
    // unset is how OpenSSL says so (ASN1_item_sign_ctx then reports it).
    if (ctx.hash.has_value() || ctx.family == KeyFamily::kEd25519) {
      absl::StatusOr<SignatureAlgorithm> algorithm = CurrentAlgorithm(ctx);
      if (!algorithm.ok()) return algorithm.status();
      absl::StatusOr<std::vector<uint8_t>> der =
          SignatureAlgorithmIdentifier(*algorithm);
      if (!der.ok()) return der.status();
      if (OSSL_PARAM_set_octet_string(p, der->data(), der->size()) != 1) {
        return absl::InvalidArgumentError("algorithm-id buffer too small");
      }
    }
  }
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
      p != nullptr && ctx.hash.has_value()) {
    if (OSSL_PARAM_set_utf8_string(
            p, std::string(HashName(*ctx.hash)).c_str()) != 1) {
      return absl::InvalidArgumentError("cannot return digest");
    }
  }
  if (ctx.family != KeyFamily::kRsa) return absl::OkStatus();

  if (OSSL_PARAM* p =
          OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) {
    const std::string text = ctx.pad_mode == RSA_PKCS1_PSS_PADDING
                                 ? OSSL_PKEY_RSA_PAD_MODE_PSS
                                 : OSSL_PKEY_RSA_PAD_MODE_PKCSV15;
    if (!SetIntOrText(*p, ctx.pad_mode, text)) {
      return absl::InvalidArgumentError("cannot return pad-mode");
    }
  }
  if (OSSL_PARAM* p =
          OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) {
    if (!SetIntOrText(*p, ctx.salt_length, SaltLengthText(ctx.salt_length))) {
      return absl::InvalidArgumentError("cannot return saltlen");
    }
  }
  if (OSSL_PARAM* p =
          OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) {
    std::optional<HashAlgorithm> mgf1 =
        ctx.mgf1_hash ? ctx.mgf1_hash : ctx.hash;
    if (mgf1.has_value() && OSSL_PARAM_set_utf8_string(
                                p, std::string(HashName(*mgf1)).c_str()) != 1) {
      return absl::InvalidArgumentError("cannot return mgf1-digest");
    }
  }
  return absl::OkStatus();
}

const OSSL_PARAM* GettableParams(KeyFamily family) {
  static const OSSL_PARAM kRsa[] = {
      OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, nullptr, 0),
      OSSL_PARAM_END};
  static const OSSL_PARAM kEcdsa[] = {
      OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
      OSSL_PARAM_END};
  static const OSSL_PARAM kEd25519[] = {
      OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, nullptr, 0),
      OSSL_PARAM_END};
  switch (family) {
    case KeyFamily::kRsa: return kRsa;
    case KeyFamily::kEc: return kEcdsa;
    case KeyFamily::kEd25519: return kEd25519;
  }
  return nullptr;
}

// libcrypto checks names against this list before translating ctrls
// (EVP_PKEY_CTX_set_rsa_padding etc.); the types are the preferred ones,
// set_ctx_params also takes ints where noted in ApplyParams.
const OSSL_PARAM* SettableParams(KeyFamily family) {
  static const OSSL_PARAM kRsa[] = {
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, nullptr, 0),
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, nullptr, 0),
      OSSL_PARAM_END};
  static const OSSL_PARAM kEcdsa[] = {
      OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
      OSSL_PARAM_END};
  static const OSSL_PARAM kNone[] = {OSSL_PARAM_END};
  switch (family) {
    case KeyFamily::kRsa: return kRsa;
    case KeyFamily::kEc: return kEcdsa;
    case KeyFamily::kEd25519: return kNone;
  }
  return kNone;
}

void* NewSignatureContext(void* provctx, KeyFamily family) {
  return new SignatureContext(static_cast<ProviderContext*>(provctx), family);
}

void FreeSignatureContext(void* vctx) { delete AsSignatureContext(vctx); }

void* DupSignatureContext(void* vctx) {
  const SignatureContext* from = AsSignatureContext(vctx);
  auto copy = std::make_unique<SignatureContext>(from->provider, from->family);
  copy->operation = from->operation;
  copy->signer = from->signer;
  copy->public_key = ShareKey(from->public_key.get());
  copy->hash = from->hash;
  copy->pad_mode = from->pad_mode;
  copy->salt_length = from->salt_length;
  copy->mgf1_hash = from->mgf1_hash;
  // Running hashes are copied, so the copy and the original can finish
  // independently (EVP_DigestSignFinal finalises a copy).
  for (auto [source, target] : {std::pair{&from->digest, &copy->digest},
                                std::pair{&from->verifier, &copy->verifier}}) {
    if (*source == nullptr) continue;
    target->reset(EVP_MD_CTX_new());
    if (*target == nullptr ||
        EVP_MD_CTX_copy_ex(target->get(), source->get()) != 1) {
      return nullptr;
    }
  }
  return copy.release();
}

int GetSignatureParams(void* vctx, OSSL_PARAM params[]) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (params == nullptr) return 1;
  if (absl::Status s = AnswerParams(ctx, params); !s.ok()) {
    return FailWith(ctx, s);
  }
  return 1;
}

int SetSignatureParams(void* vctx, const OSSL_PARAM params[]) {
  SignatureContext& ctx = *AsSignatureContext(vctx);
  if (params == nullptr) return 1;
  if (absl::Status s = ApplyParams(ctx, params); !s.ok()) {
    return FailWith(ctx, s);
  }
  return 1;
}

}  // namespace keyhold::provider_internal
