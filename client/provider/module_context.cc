#include "client/provider/module_context.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "client/provider/remote_signer.h"

namespace keyhold::provider_module {
namespace {

absl::StatusOr<std::string> CertificateDer(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* der = nullptr;
  long length = 0;
  if (bio == nullptr ||
      PEM_read_bio(bio.get(), &name, &header, &der, &length) != 1) {
    return absl::InvalidArgumentError(
        "the certificate stored with the key is not PEM");
  }
  std::string out(reinterpret_cast<const char*>(der),
                  static_cast<size_t>(length));
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(der);
  return out;
}

}  // namespace

absl::StatusOr<PreparedKey> ModuleContext::PrepareKey(
    const KeyLocator& locator) {
  v1::KeySelector selector;
  if (!locator.id.empty()) {
    selector.set_id(locator.id);
  } else {
    selector.set_label(locator.label);
  }
  absl::StatusOr<std::shared_ptr<RemoteSigner>> signer =
      RemoteSigner::New(connection_, selector, libctx());
  if (!signer.ok()) return signer.status();

  PreparedKey prepared;
  EVP_PKEY* public_key = (*signer)->PublicKey();
  if (EVP_PKEY_is_a(public_key, "RSA")) {
    prepared.keymgmt_name = provider_internal::KeymgmtName(KeyFamily::kRsa);
  } else if (EVP_PKEY_is_a(public_key, "EC")) {
    prepared.keymgmt_name = provider_internal::KeymgmtName(KeyFamily::kEc);
  } else if (EVP_PKEY_is_a(public_key, "ED25519")) {
    prepared.keymgmt_name = provider_internal::KeymgmtName(KeyFamily::kEd25519);
  } else {
    return absl::UnimplementedError(
        absl::StrCat("keyhold cannot use ", EVP_PKEY_get0_type_name(public_key),
                     " keys; RSA, EC and ED25519 only"));
  }
  if (!(*signer)->key().certificate_pem().empty()) {
    absl::StatusOr<std::string> der =
        CertificateDer((*signer)->key().certificate_pem());
    if (!der.ok()) return der.status();
    prepared.certificate_der = *std::move(der);
  }
  absl::StatusOr<uint64_t> handle = AddPendingSigner(*std::move(signer));
  if (!handle.ok()) return handle.status();
  prepared.handle = *handle;
  prepared.reference = provider_internal::EncodeSignerReference(*handle);
  return prepared;
}

}  // namespace keyhold::provider_module
