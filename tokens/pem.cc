#include "tokens/pem.h"

#include <openssl/pem.h>

namespace keyhold {

std::string MemBioContents(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return length > 0 && data != nullptr ? std::string(data, static_cast<size_t>(length)) : "";
}

absl::StatusOr<std::string> DerToPem(const char* name, absl::string_view der) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio(bio.get(), name, "", reinterpret_cast<const unsigned char*>(der.data()),
                            static_cast<long>(der.size())) <= 0) {
    return OpenSslError(absl::StrCat("encoding ", name, " as PEM"));
  }
  return MemBioContents(bio.get());
}

}  // namespace keyhold
