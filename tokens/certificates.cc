// Token certificate operations: an X.509 certificate stored as a
// CKO_CERTIFICATE object next to its key (same CKA_ID and label).
#include <openssl/err.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/internal/key_objects.h"
#include "tokens/internal/objects.h"
#include "tokens/internal/token_state.h"
#include "tokens/openssl_error.h"
#include "tokens/token.h"

namespace keyhold {
namespace {

absl::StatusOr<std::vector<uint8_t>> Der(X509* cert) {
  int len = i2d_X509(cert, nullptr);
  if (len <= 0) return OpenSslError("encoding certificate", absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  i2d_X509(cert, &p);
  return der;
}

template <typename T, int (*Encode)(const T*, unsigned char**)>
std::vector<uint8_t> DerOf(const T* value) {
  int len = Encode(value, nullptr);
  if (len <= 0) return {};
  std::vector<uint8_t> der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  Encode(value, &p);
  return der;
}

}  // namespace

absl::Status Token::StoreCertificate(const KeyInfo& key, X509* cert) {
  if (cert == nullptr) return absl::InvalidArgumentError("no certificate");
  absl::StatusOr<EvpPkeyPtr> pub = PublicKey(key);
  if (!pub.ok()) return pub.status();
  EVP_PKEY* cert_key = X509_get0_pubkey(cert);
  if (cert_key == nullptr || EVP_PKEY_eq(cert_key, pub->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate's public key is not the public key of \"",
        key.label, "\""));
  }
  absl::StatusOr<std::vector<uint8_t>> value = Der(cert);
  if (!value.ok()) return value.status();
  // Counted from here: a refused certificate changes nothing, so the
  // agent's caches (and TLS sessions) stay.
  const CountsChange counted(changes_);
  std::vector<uint8_t> subject = DerOf<X509_NAME, i2d_X509_NAME>(X509_get_subject_name(cert));
  std::vector<uint8_t> issuer = DerOf<X509_NAME, i2d_X509_NAME>(X509_get_issuer_name(cert));
  std::vector<uint8_t> serial =
      DerOf<ASN1_INTEGER, i2d_ASN1_INTEGER>(X509_get0_serialNumber(cert));

  pkcs11::Template templ;
  templ.Ulong(CKA_CLASS, CKO_CERTIFICATE)
      .Ulong(CKA_CERTIFICATE_TYPE, CKC_X_509)
      .Bool(CKA_TOKEN, true)
      .Bool(CKA_PRIVATE, false)
      .Bool(CKA_MODIFIABLE, true)
      .String(CKA_LABEL, key.label)
      .Bytes(CKA_ID, key.id)
      .Bytes(CKA_SUBJECT, subject)
      .Bytes(CKA_ISSUER, issuer)
      .Bytes(CKA_SERIAL_NUMBER, serial)
      .Bytes(CKA_VALUE, *value);

  return state_->Run([&](CK_SESSION_HANDLE session) -> absl::Status {
    CK_FUNCTION_LIST* ck = state_->ck();
    absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> old =
        pkcs11::FindById(ck, session, CKO_CERTIFICATE, key.id);
    if (!old.ok()) return old.status();
    CK_OBJECT_HANDLE created = CK_INVALID_HANDLE;
    CK_RV rv = ck->C_CreateObject(session, templ.data(), templ.size(), &created);
    if (rv != CKR_OK) return pkcs11::CkError(rv, "storing the certificate");
    // The new certificate is in place; only now drop the ones it replaces.
    for (CK_OBJECT_HANDLE h : *old) {
      rv = ck->C_DestroyObject(session, h);
      if (rv != CKR_OK) {
        return pkcs11::CkError(rv, "removing the replaced certificate");
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<X509Ptr> Token::FindCertificate(const KeyInfo& key) {
  return state_->Run<X509Ptr>(
      [&](CK_SESSION_HANDLE session) -> absl::StatusOr<X509Ptr> {
        absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
            pkcs11::FindById(state_->ck(), session, CKO_CERTIFICATE, key.id);
        if (!found.ok()) return found.status();
        if (found->empty()) {
          return absl::NotFoundError(
              absl::StrCat("key \"", key.label, "\" has no certificate"));
        }
        absl::StatusOr<std::vector<uint8_t>> der = pkcs11::GetBytes(
            {state_->ck(), session, found->front()}, CKA_VALUE);
        if (!der.ok()) return der.status();
        const unsigned char* p = der->data();
        X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der->size())));
        if (!cert) return OpenSslError("the stored certificate does not parse");
        return cert;
      });
}

absl::Status Token::DeleteCertificate(const KeyInfo& key) {
  const CountsChange counted(changes_);
  return state_->Run([&](CK_SESSION_HANDLE session) -> absl::Status {
    absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> found =
        pkcs11::FindById(state_->ck(), session, CKO_CERTIFICATE, key.id);
    if (!found.ok()) return found.status();
    if (found->empty()) {
      return absl::NotFoundError(
          absl::StrCat("key \"", key.label, "\" has no certificate"));
    }
    for (CK_OBJECT_HANDLE h : *found) {
      CK_RV rv = state_->ck()->C_DestroyObject(session, h);
      if (rv != CKR_OK) return pkcs11::CkError(rv, "C_DestroyObject");
    }
    return absl::OkStatus();
  });
}

}  // namespace keyhold
