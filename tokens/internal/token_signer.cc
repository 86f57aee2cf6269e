#include "tokens/internal/token_signer.h"

#include <openssl/bn.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/internal/objects.h"
#include "tokens/openssl_error.h"

namespace keyhold::pkcs11 {
namespace {

// RFC 8017, 9.2 note 1.
constexpr uint8_t kSha224Prefix[] = {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                     0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                     0x04, 0x05, 0x00, 0x04, 0x1c};
constexpr uint8_t kSha256Prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                     0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                     0x01, 0x05, 0x00, 0x04, 0x20};
constexpr uint8_t kSha384Prefix[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                     0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                     0x02, 0x05, 0x00, 0x04, 0x30};
constexpr uint8_t kSha512Prefix[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                     0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                     0x03, 0x05, 0x00, 0x04, 0x40};

CK_MECHANISM_TYPE HashMechanism(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha224: return CKM_SHA224;
    case HashAlgorithm::kSha256: return CKM_SHA256;
    case HashAlgorithm::kSha384: return CKM_SHA384;
    case HashAlgorithm::kSha512: return CKM_SHA512;
  }
  return CKM_SHA256;
}

CK_RSA_PKCS_MGF_TYPE Mgf1(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha224: return CKG_MGF1_SHA224;
    case HashAlgorithm::kSha256: return CKG_MGF1_SHA256;
    case HashAlgorithm::kSha384: return CKG_MGF1_SHA384;
    case HashAlgorithm::kSha512: return CKG_MGF1_SHA512;
  }
  return CKG_MGF1_SHA256;
}

// PKCS#11 ECDSA signatures are r || s; X.509 and TLS want DER.
absl::StatusOr<std::vector<uint8_t>> EcdsaRawToDer(std::span<const uint8_t> raw) {
  if (raw.empty() || raw.size() % 2 != 0) {
    return absl::InternalError("token returned a malformed ECDSA signature");
  }
  const int half = static_cast<int>(raw.size() / 2);
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw.data(), half, nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, half, nullptr);
  if (!sig || r == nullptr || s == nullptr || !ECDSA_SIG_set0(sig.get(), r, s)) {
    BN_free(r);
    BN_free(s);
    return OpenSslError("encoding ECDSA signature");
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return OpenSslError("encoding ECDSA signature");
  std::vector<uint8_t> der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  i2d_ECDSA_SIG(sig.get(), &p);
  return der;
}

}  // namespace

std::span<const uint8_t> DigestInfoPrefix(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha224: return kSha224Prefix;
    case HashAlgorithm::kSha256: return kSha256Prefix;
    case HashAlgorithm::kSha384: return kSha384Prefix;
    case HashAlgorithm::kSha512: return kSha512Prefix;
  }
  return {};
}

TokenSigner::TokenSigner(std::shared_ptr<TokenState> state,
                         std::vector<uint8_t> id, EvpPkeyPtr public_key)
    : state_(std::move(state)),
      id_(std::move(id)),
      public_key_(std::move(public_key)) {}

absl::Status TokenSigner::CheckMechanism(SignatureScheme scheme) const {
  const Mechanisms& m = state_->mechanisms();
  const char* missing = nullptr;
  switch (scheme) {
    case SignatureScheme::kRsaPkcs1: if (!m.rsa_pkcs1) missing = "CKM_RSA_PKCS"; break;
    case SignatureScheme::kRsaPss: if (!m.rsa_pss) missing = "CKM_RSA_PKCS_PSS"; break;
    case SignatureScheme::kEcdsa: if (!m.ecdsa) missing = "CKM_ECDSA"; break;
    case SignatureScheme::kEd25519: if (!m.eddsa) missing = "CKM_EDDSA"; break;
  }
  if (missing == nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "token \"", state_->info().label, "\" cannot sign with ",
      SchemeName(scheme), ": it does not offer ", missing));
}

absl::StatusOr<CK_OBJECT_HANDLE> TokenSigner::KeyHandle(
    CK_SESSION_HANDLE session) {
  const uint64_t epoch = state_->handle_epoch();
  {
    absl::MutexLock lock(&mu_);
    if (handle_ != CK_INVALID_HANDLE && handle_epoch_ == epoch) return handle_;
  }
  Template match;
  match.Ulong(CKA_CLASS, CKO_PRIVATE_KEY).Bytes(CKA_ID, id_);
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
      FindObjects(state_->ck(), session, match);
  if (!found.ok()) return found.status();
  if (found->empty()) {
    return absl::NotFoundError(absl::StrCat(
        "private key is no longer on token \"", state_->info().label, "\""));
  }
  absl::MutexLock lock(&mu_);
  handle_ = found->front();
  handle_epoch_ = epoch;
  return handle_;
}

void TokenSigner::ForgetHandle() {
  absl::MutexLock lock(&mu_);
  handle_ = CK_INVALID_HANDLE;
}

absl::StatusOr<std::vector<uint8_t>> TokenSigner::Sign(
    const SignatureAlgorithm& algorithm, std::span<const uint8_t> input) {
  if (absl::Status s = CheckSignInput(public_key_.get(), algorithm, input);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckMechanism(algorithm.scheme); !s.ok()) return s;

  // Mechanism and its input, built once outside the retry loop.
  std::vector<uint8_t> data;
  CK_RSA_PKCS_PSS_PARAMS pss{};
  CK_MECHANISM mechanism{};
  switch (algorithm.scheme) {
    case SignatureScheme::kRsaPkcs1: {
      std::span<const uint8_t> prefix = DigestInfoPrefix(algorithm.hash);
      data.assign(prefix.begin(), prefix.end());
      data.insert(data.end(), input.begin(), input.end());
      mechanism = {CKM_RSA_PKCS, nullptr, 0};
      break;
    }
    case SignatureScheme::kRsaPss:
      data.assign(input.begin(), input.end());
      pss.hashAlg = HashMechanism(algorithm.hash);
      pss.mgf = Mgf1(algorithm.mgf1_hash);
      pss.sLen = static_cast<CK_ULONG>(algorithm.pss_salt_length);
      mechanism = {CKM_RSA_PKCS_PSS, &pss, sizeof(pss)};
      break;
    case SignatureScheme::kEcdsa:
      data.assign(input.begin(), input.end());
      mechanism = {CKM_ECDSA, nullptr, 0};
      break;
    case SignatureScheme::kEd25519:
      data.assign(input.begin(), input.end());
      mechanism = {CKM_EDDSA, nullptr, 0};
      break;
  }

  std::vector<uint8_t> signature;
  absl::Status status = state_->Run([&](CK_SESSION_HANDLE session) -> absl::Status {
    absl::StatusOr<CK_OBJECT_HANDLE> key = KeyHandle(session);
    if (!key.ok()) return key.status();
    CK_FUNCTION_LIST* ck = state_->ck();
    CK_RV rv = ck->C_SignInit(session, &mechanism, *key);
    if (rv != CKR_OK) {
      if (IsObjectHandleStale(rv)) ForgetHandle();
      return CkError(rv, "C_SignInit");
    }
    uint8_t out[1024];  // RSA-8192 at most
    CK_ULONG out_len = sizeof(out);
    rv = ck->C_Sign(session, data.data(), data.size(), out, &out_len);
    if (rv != CKR_OK) {
      if (IsObjectHandleStale(rv)) ForgetHandle();
      return CkError(rv, "C_Sign");
    }
    signature.assign(out, out + out_len);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (algorithm.scheme == SignatureScheme::kEcdsa) return EcdsaRawToDer(signature);
  return signature;
}

}  // namespace keyhold::pkcs11
