// PEM text from OpenSSL objects and DER, through a memory BIO.
#ifndef KEYHOLD_TOKENS_PEM_H_
#define KEYHOLD_TOKENS_PEM_H_

#include <openssl/bio.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"

namespace keyhold {

// What has been written to a memory BIO ("" when nothing).
std::string MemBioContents(BIO* bio);

// `der` as is, base64 between BEGIN/END `name` lines (e.g. "CERTIFICATE").
absl::StatusOr<std::string> DerToPem(const char* name, absl::string_view der);

// PEM text from one of OpenSSL's PEM_write_bio_* functions
// (PEM_write_bio_X509, PEM_write_bio_PUBKEY...); the error names `what`.
template <typename T>
absl::StatusOr<std::string> ToPem(int (*write)(BIO*, const T*), const T* object,
                                  absl::string_view what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || object == nullptr || write(bio.get(), object) != 1) {
    return OpenSslError(absl::StrCat("encoding ", what, " as PEM"));
  }
  return MemBioContents(bio.get());
}

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_PEM_H_
