#include "tokens/token.h"

#include <algorithm>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tokens/internal/key_objects.h"
#include "tokens/internal/module.h"
#include "tokens/internal/objects.h"
#include "tokens/internal/token_signer.h"
#include "tokens/internal/token_state.h"

namespace keyhold {

using pkcs11::FindById;
using pkcs11::FindByLabel;
using pkcs11::ObjectView;

std::vector<std::string> Mechanisms::Names() const {
  std::vector<std::string> names;
  if (rsa_keygen) names.push_back("CKM_RSA_PKCS_KEY_PAIR_GEN");
  if (rsa_pkcs1) names.push_back("CKM_RSA_PKCS");
  if (rsa_pss) names.push_back("CKM_RSA_PKCS_PSS");
  if (ec_keygen) names.push_back("CKM_EC_KEY_PAIR_GEN");
  if (ecdsa) names.push_back("CKM_ECDSA");
  if (eddsa_keygen) names.push_back("CKM_EC_EDWARDS_KEY_PAIR_GEN");
  if (eddsa) names.push_back("CKM_EDDSA");
  return names;
}

std::string KeyInfo::IdHex() const {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

absl::Status ValidateKeyLabel(absl::string_view label) {
  if (label.empty() || label.size() > 64) {
    return absl::InvalidArgumentError("key label must be 1 to 64 characters");
  }
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key label \"", absl::CEscape(label),
          "\" may only hold letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

Token::Token(std::shared_ptr<pkcs11::TokenState> state)
    : state_(std::move(state)) {}

Token::~Token() = default;

absl::StatusOr<std::unique_ptr<Token>> Token::Open(const TokenConfig& config) {
  absl::StatusOr<std::shared_ptr<pkcs11::TokenState>> state =
      pkcs11::TokenState::Open(config);
  if (!state.ok()) return state.status();
  return std::unique_ptr<Token>(new Token(*std::move(state)));
}

const TokenInfo& Token::info() const { return state_->info(); }
const Mechanisms& Token::mechanisms() const { return state_->mechanisms(); }

absl::StatusOr<bool> Token::LoggedIn() {
  return state_->Run<bool>([&](CK_SESSION_HANDLE session) -> absl::StatusOr<bool> {
    CK_SESSION_INFO info{};
    CK_RV rv = state_->ck()->C_GetSessionInfo(session, &info);
    if (rv != CKR_OK) return pkcs11::CkError(rv, "C_GetSessionInfo");
    if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS) {
      // Let Run() log in again and ask once more.
      return pkcs11::CkError(CKR_USER_NOT_LOGGED_IN, "token session");
    }
    return true;
  });
}

absl::StatusOr<std::vector<KeyInfo>> Token::ListKeys() {
  return state_->Run<std::vector<KeyInfo>>(
      [&](CK_SESSION_HANDLE session) -> absl::StatusOr<std::vector<KeyInfo>> {
        pkcs11::Template match;
        match.Ulong(CKA_CLASS, CKO_PRIVATE_KEY);
        absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> handles =
            pkcs11::FindObjects(state_->ck(), session, match);
        if (!handles.ok()) return handles.status();
        std::vector<KeyInfo> keys;
        for (CK_OBJECT_HANDLE h : *handles) {
          absl::StatusOr<KeyInfo> key = DescribeKey(*state_, session, h);
          // Keys keyhold cannot use (other types, no public object) are not
          // listed; token errors are.
          if (absl::IsUnimplemented(key.status()) ||
              absl::IsNotFound(key.status())) {
            continue;
          }
          if (!key.ok()) return key.status();
          keys.push_back(*std::move(key));
        }
        std::sort(keys.begin(), keys.end(),
                  [](const KeyInfo& a, const KeyInfo& b) { return a.label < b.label; });
        return keys;
      });
}

absl::StatusOr<KeyInfo> Token::FindKeyByLabel(absl::string_view label) {
  return state_->Run<KeyInfo>(
      [&](CK_SESSION_HANDLE session) -> absl::StatusOr<KeyInfo> {
        absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
            FindByLabel(state_->ck(), session, CKO_PRIVATE_KEY, label);
        if (!found.ok()) return found.status();
        if (found->empty()) {
          return absl::NotFoundError(absl::StrCat(
              "no key labelled \"", absl::CEscape(label), "\" on token \"",
              state_->info().label, "\""));
        }
        if (found->size() > 1) {
          return absl::FailedPreconditionError(absl::StrCat(
              found->size(), " keys are labelled \"", absl::CEscape(label),
              "\"; use the key id"));
        }
        return DescribeKey(*state_, session, found->front());
      });
}

absl::StatusOr<KeyInfo> Token::FindKeyById(std::span<const uint8_t> id) {
  return state_->Run<KeyInfo>(
      [&](CK_SESSION_HANDLE session) -> absl::StatusOr<KeyInfo> {
        absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
            FindById(state_->ck(), session, CKO_PRIVATE_KEY, id);
        if (!found.ok()) return found.status();
        if (found->empty()) {
          return absl::NotFoundError(absl::StrCat(
              "no key with id ",
              absl::BytesToHexString(absl::string_view(
                  reinterpret_cast<const char*>(id.data()), id.size())),
              " on token \"", state_->info().label, "\""));
        }
        return DescribeKey(*state_, session, found->front());
      });
}

absl::Status Token::DeleteKey(const KeyInfo& key) {
  const CountsChange counted(changes_);
  return state_->Run([&](CK_SESSION_HANDLE session) -> absl::Status {
    // Private key first: once it is gone the key is unusable whatever
    // happens to the rest.
    for (CK_OBJECT_CLASS cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE}) {
      absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
          FindById(state_->ck(), session, cls, key.id);
      if (!found.ok()) return found.status();
      if (cls == CKO_PRIVATE_KEY && found->empty()) {
        return absl::NotFoundError(
            absl::StrCat("key \"", key.label, "\" is not on the token"));
      }
      for (CK_OBJECT_HANDLE h : *found) {
        CK_RV rv = state_->ck()->C_DestroyObject(session, h);
        if (rv != CKR_OK) return pkcs11::CkError(rv, "C_DestroyObject");
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<EvpPkeyPtr> Token::PublicKey(const KeyInfo& key) {
  return state_->Run<EvpPkeyPtr>(
      [&](CK_SESSION_HANDLE session) -> absl::StatusOr<EvpPkeyPtr> {
        absl::StatusOr<pkcs11::TokenPublicKey> pub =
            pkcs11::PublicKeyById(state_->ck(), session, key.id);
        if (!pub.ok()) return pub.status();
        return std::move(pub->pkey);
      });
}

absl::StatusOr<KeyProtection> Token::Protection(const KeyInfo& key) {
  return state_->Run<KeyProtection>(
      [&](CK_SESSION_HANDLE session) -> absl::StatusOr<KeyProtection> {
        absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
            FindById(state_->ck(), session, CKO_PRIVATE_KEY, key.id);
        if (!found.ok()) return found.status();
        if (found->empty()) {
          return absl::NotFoundError(
              absl::StrCat("key \"", key.label, "\" is not on the token"));
        }
        ObjectView obj{state_->ck(), session, found->front()};
        KeyProtection p;
        struct Flag {
          CK_ATTRIBUTE_TYPE type;
          bool* out;
        };
        for (Flag f : {Flag{CKA_SENSITIVE, &p.sensitive},
                       Flag{CKA_EXTRACTABLE, &p.extractable},
                       Flag{CKA_ALWAYS_SENSITIVE, &p.always_sensitive},
                       Flag{CKA_NEVER_EXTRACTABLE, &p.never_extractable}}) {
          absl::StatusOr<bool> v = pkcs11::GetBool(obj, f.type);
          if (!v.ok()) return v.status();
          *f.out = *v;
        }
        // Ask for each secret component; any answer other than an error or
        // CK_UNAVAILABLE_INFORMATION means the token gave it out.
        p.secret_readable = false;
        for (CK_ATTRIBUTE_TYPE t : {CKA_VALUE, CKA_PRIVATE_EXPONENT, CKA_PRIME_1}) {
          absl::StatusOr<std::vector<uint8_t>> v = pkcs11::GetBytes(obj, t);
          if (v.ok() && !v->empty()) p.secret_readable = true;
          if (!v.ok() && pkcs11::IsSessionLost(
                             pkcs11::CkRvOf(v.status()).value_or(CKR_OK))) {
            return v.status();
          }
        }
        return p;
      });
}

absl::StatusOr<std::unique_ptr<Signer>> Token::NewSigner(const KeyInfo& key) {
  absl::StatusOr<EvpPkeyPtr> pub = PublicKey(key);
  if (!pub.ok()) return pub.status();
  return std::make_unique<pkcs11::TokenSigner>(state_, key.id, *std::move(pub));
}

absl::Status Token::CloseAllSessionsForTesting() {
  CK_RV rv = state_->ck()->C_CloseAllSessions(state_->slot());
  if (rv != CKR_OK) return pkcs11::CkError(rv, "C_CloseAllSessions");
  return absl::OkStatus();
}

absl::Status InitializeToken(const std::string& module_path,
                             const std::string& label, const Secret& so_pin,
                             const Secret& user_pin) {
  absl::StatusOr<std::shared_ptr<pkcs11::Module>> module =
      pkcs11::Module::Load(module_path);
  if (!module.ok()) return module.status();
  return (*module)->InitializeToken(label, so_pin, user_pin);
}

}  // namespace keyhold
