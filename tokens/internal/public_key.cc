#include "tokens/internal/public_key.h"

#include <openssl/core_names.h>
#include <openssl/objects.h>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/internal/objects.h"
#include "tokens/openssl_error.h"

namespace keyhold::pkcs11 {
namespace {

// DER OIDs: prime256v1 1.2.840.10045.3.1.7, secp384r1 1.3.132.0.34,
// id-Ed25519 1.3.101.112.
constexpr uint8_t kP256Oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
                                0x3d, 0x03, 0x01, 0x07};
constexpr uint8_t kP384Oid[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
constexpr uint8_t kEd25519Oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

absl::StatusOr<TokenPublicKey> RsaPublicKey(const ObjectView& obj) {
  absl::StatusOr<std::vector<uint8_t>> n = GetBytes(obj, CKA_MODULUS);
  if (!n.ok()) return n.status();
  absl::StatusOr<std::vector<uint8_t>> e = GetBytes(obj, CKA_PUBLIC_EXPONENT);
  if (!e.ok()) return e.status();
  BignumPtr bn_n(BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
  BignumPtr bn_e(BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return OpenSslError("building RSA public key");
  }
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return OpenSslError("building RSA public key");
  }
  EvpPkeyPtr pkey(raw);
  KeyType type;
  switch (EVP_PKEY_get_bits(pkey.get())) {
    case 2048: type = KeyType::kRsa2048; break;
    case 3072: type = KeyType::kRsa3072; break;
    case 4096: type = KeyType::kRsa4096; break;
    default:
      return absl::UnimplementedError(absl::StrCat(
          "RSA-", EVP_PKEY_get_bits(pkey.get()), " keys are not supported"));
  }
  return TokenPublicKey{std::move(pkey), type};
}

// CKA_EC_POINT is a DER OCTET STRING by the standard; some modules return
// the bare point. `raw_size` is the bare point's size for the curve.
std::vector<uint8_t> UnwrapEcPoint(std::vector<uint8_t> point, size_t raw_size) {
  if (point.size() == raw_size) return point;
  const unsigned char* p = point.data();
  Asn1OctetStringPtr os(
      d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(point.size())));
  if (!os || p != point.data() + point.size()) return point;
  const unsigned char* data = ASN1_STRING_get0_data(os.get());
  return std::vector<uint8_t>(data, data + ASN1_STRING_length(os.get()));
}

absl::StatusOr<TokenPublicKey> EcPublicKey(const ObjectView& obj,
                                           bool edwards) {
  absl::StatusOr<std::vector<uint8_t>> params = GetBytes(obj, CKA_EC_PARAMS);
  if (!params.ok()) return params.status();
  absl::StatusOr<std::vector<uint8_t>> point = GetBytes(obj, CKA_EC_POINT);
  if (!point.ok()) return point.status();
  const std::vector<uint8_t> p256(std::begin(kP256Oid), std::end(kP256Oid));
  const std::vector<uint8_t> p384(std::begin(kP384Oid), std::end(kP384Oid));
  const std::vector<uint8_t> ed(std::begin(kEd25519Oid), std::end(kEd25519Oid));
  // Ed25519 curve parameters may also be the PrintableString "edwards25519".
  static constexpr absl::string_view kEdName = "edwards25519";
  const bool is_ed_name =
      params->size() == kEdName.size() + 2 && (*params)[0] == 0x13 &&
      absl::string_view(reinterpret_cast<const char*>(params->data() + 2),
                       kEdName.size()) == kEdName;
  if (edwards) {
    if (*params != ed && !is_ed_name) {
      return absl::UnimplementedError("Edwards curve other than Ed25519");
    }
    std::vector<uint8_t> raw = UnwrapEcPoint(*std::move(point), 32);
    EvpPkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr,
                                                   raw.data(), raw.size()));
    if (!pkey) return OpenSslError("building Ed25519 public key");
    return TokenPublicKey{std::move(pkey), KeyType::kEd25519};
  }
  KeyType type;
  size_t raw_size;
  if (*params == p256) {
    type = KeyType::kEcP256;
    raw_size = 65;
  } else if (*params == p384) {
    type = KeyType::kEcP384;
    raw_size = 97;
  } else {
    return absl::UnimplementedError("EC curve other than P-256 or P-384");
  }
  std::vector<uint8_t> raw = UnwrapEcPoint(*std::move(point), raw_size);
  std::string group(EcGroupName(type));
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                       group.c_str(), 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                        raw.data(), raw.size())) {
    return OpenSslError("building EC public key");
  }
  OsslParamPtr ossl_params(OSSL_PARAM_BLD_to_param(bld.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* out = nullptr;
  if (!ossl_params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY,
                        ossl_params.get()) <= 0) {
    return OpenSslError("building EC public key");
  }
  return TokenPublicKey{EvpPkeyPtr(out), type};
}

}  // namespace

std::vector<uint8_t> EcParamsFor(KeyType type) {
  switch (type) {
    case KeyType::kEcP256: return {std::begin(kP256Oid), std::end(kP256Oid)};
    case KeyType::kEcP384: return {std::begin(kP384Oid), std::end(kP384Oid)};
    case KeyType::kEd25519:
      return {std::begin(kEd25519Oid), std::end(kEd25519Oid)};
    default: return {};
  }
}

absl::StatusOr<TokenPublicKey> ReadPublicKey(CK_FUNCTION_LIST* ck,
                                             CK_SESSION_HANDLE session,
                                             CK_OBJECT_HANDLE object) {
  ObjectView obj{ck, session, object};
  absl::StatusOr<CK_ULONG> key_type = GetUlong(obj, CKA_KEY_TYPE);
  if (!key_type.ok()) return key_type.status();
  switch (*key_type) {
    case CKK_RSA: return RsaPublicKey(obj);
    case CKK_EC: return EcPublicKey(obj, /*edwards=*/false);
    case CKK_EC_EDWARDS: return EcPublicKey(obj, /*edwards=*/true);
    default:
      return absl::UnimplementedError(
          absl::StrCat("key type 0x", absl::Hex(*key_type), " is not supported"));
  }
}

}  // namespace keyhold::pkcs11
