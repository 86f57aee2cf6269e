// Token::GenerateKey: key pairs made on the token with a non-exportable
// template, checked after the fact.
#include <openssl/rand.h>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/internal/key_objects.h"
#include "tokens/internal/objects.h"
#include "tokens/internal/public_key.h"
#include "tokens/internal/token_state.h"
#include "tokens/openssl_error.h"
#include "tokens/token.h"

namespace keyhold {
namespace {

using pkcs11::Template;

struct Generation {
  CK_MECHANISM_TYPE mechanism;
  const char* mechanism_name;
  CK_KEY_TYPE key_type;
};

Generation GenerationFor(KeyType type) {
  switch (FamilyOf(type)) {
    case KeyFamily::kRsa:
      return {CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN", CKK_RSA};
    case KeyFamily::kEc:
      return {CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN", CKK_EC};
    case KeyFamily::kEd25519:
      return {CKM_EC_EDWARDS_KEY_PAIR_GEN, "CKM_EC_EDWARDS_KEY_PAIR_GEN",
              CKK_EC_EDWARDS};
  }
  return {CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN", CKK_EC};
}

absl::Status CheckTokenCanGenerate(const Mechanisms& m, KeyType type,
                                   const std::string& token_label) {
  bool offered = false;
  switch (FamilyOf(type)) {
    case KeyFamily::kRsa: offered = m.rsa_keygen; break;
    case KeyFamily::kEc: offered = m.ec_keygen; break;
    case KeyFamily::kEd25519: offered = m.eddsa_keygen; break;
  }
  if (!offered) {
    return absl::FailedPreconditionError(absl::StrCat(
        "token \"", token_label, "\" cannot generate ", KeyTypeName(type),
        " keys: it does not offer ", GenerationFor(type).mechanism_name));
  }
  if (RsaBits(type) > 0 && m.rsa_max_bits > 0 &&
      static_cast<unsigned long>(RsaBits(type)) > m.rsa_max_bits) {
    return absl::FailedPreconditionError(absl::StrCat(
        "token \"", token_label, "\" generates RSA keys up to ",
        m.rsa_max_bits, " bits; ", KeyTypeName(type), " is too large"));
  }
  return absl::OkStatus();
}

// Reads back what the token made: some tokens ignore template attributes
// they don't like. A key that is not sensitive and non-extractable is
// destroyed rather than handed out.
absl::Status VerifyPrivateTemplate(CK_FUNCTION_LIST* ck,
                                   CK_SESSION_HANDLE session,
                                   CK_OBJECT_HANDLE priv) {
  pkcs11::ObjectView obj{ck, session, priv};
  absl::StatusOr<bool> sensitive = pkcs11::GetBool(obj, CKA_SENSITIVE);
  absl::StatusOr<bool> extractable = pkcs11::GetBool(obj, CKA_EXTRACTABLE);
  if (!sensitive.ok()) return sensitive.status();
  if (!extractable.ok()) return extractable.status();
  if (!*sensitive || *extractable) {
    return absl::InternalError(
        "the token did not honour CKA_SENSITIVE=TRUE / CKA_EXTRACTABLE=FALSE; "
        "the key was destroyed");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KeyInfo> Token::GenerateKey(absl::string_view label,
                                           KeyType type) {
  if (absl::Status s = ValidateKeyLabel(label); !s.ok()) return s;
  if (absl::Status s = CheckTokenCanGenerate(mechanisms(), type, info().label);
      !s.ok()) {
    return s;
  }
  // Counted from here (a refused request changes nothing).
  const CountsChange counted(changes_);
  std::vector<uint8_t> id(16);
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
    return OpenSslError("generating a key id");
  }
  const Generation gen = GenerationFor(type);

  Template pub;
  pub.Ulong(CKA_CLASS, CKO_PUBLIC_KEY)
      .Ulong(CKA_KEY_TYPE, gen.key_type)
      .Bool(CKA_TOKEN, true)
      .Bool(CKA_PRIVATE, false)
      .Bool(CKA_VERIFY, true)
      .Bool(CKA_ENCRYPT, false)
      .Bool(CKA_WRAP, false)
      .String(CKA_LABEL, label)
      .Bytes(CKA_ID, id);
  if (FamilyOf(type) == KeyFamily::kRsa) {
    static constexpr uint8_t kF4[] = {0x01, 0x00, 0x01};
    pub.Ulong(CKA_MODULUS_BITS, static_cast<CK_ULONG>(RsaBits(type)))
        .Bytes(CKA_PUBLIC_EXPONENT, kF4);
  } else {
    pub.Bytes(CKA_EC_PARAMS, pkcs11::EcParamsFor(type));
  }
  Template priv;
  priv.Ulong(CKA_CLASS, CKO_PRIVATE_KEY)
      .Ulong(CKA_KEY_TYPE, gen.key_type)
      .Bool(CKA_TOKEN, true)
      .Bool(CKA_PRIVATE, true)
      .Bool(CKA_SENSITIVE, true)
      .Bool(CKA_EXTRACTABLE, false)
      .Bool(CKA_SIGN, true)
      .Bool(CKA_DECRYPT, false)
      .Bool(CKA_UNWRAP, false)
      .Bool(CKA_DERIVE, false)
      .String(CKA_LABEL, label)
      .Bytes(CKA_ID, id);

  const std::string token_label = info().label;
  return state_->Run<KeyInfo>(
      [&](CK_SESSION_HANDLE session) -> absl::StatusOr<KeyInfo> {
        CK_FUNCTION_LIST* ck = state_->ck();
        // Checked inside the operation so a retry after recovery sees the
        // token as it is; two processes racing on one label is still
        // possible and is the operator's to avoid.
        absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> same =
            pkcs11::FindByLabel(ck, session, CKO_PRIVATE_KEY, label);
        if (!same.ok()) return same.status();
        if (!same->empty()) {
          return absl::AlreadyExistsError(absl::StrCat(
              "a key labelled \"", label, "\" already exists on token \"",
              token_label, "\""));
        }
        CK_MECHANISM mechanism{gen.mechanism, nullptr, 0};
        CK_OBJECT_HANDLE pub_handle = CK_INVALID_HANDLE;
        CK_OBJECT_HANDLE priv_handle = CK_INVALID_HANDLE;
        CK_RV rv = ck->C_GenerateKeyPair(session, &mechanism, pub.data(),
                                         pub.size(), priv.data(), priv.size(),
                                         &pub_handle, &priv_handle);
        if (rv != CKR_OK) {
          return pkcs11::CkError(
              rv, absl::StrCat("generating a ", KeyTypeName(type),
                               " key on token \"", token_label, "\""));
        }
        absl::Status verified = VerifyPrivateTemplate(ck, session, priv_handle);
        if (!verified.ok()) {
          ck->C_DestroyObject(session, priv_handle);
          ck->C_DestroyObject(session, pub_handle);
          return verified;
        }
        return pkcs11::DescribeKey(*state_, session, priv_handle);
      });
}

}  // namespace keyhold
