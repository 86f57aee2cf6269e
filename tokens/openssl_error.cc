#include "tokens/openssl_error.h"

#include <openssl/err.h>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"

namespace keyhold {

std::string DrainOpenSslErrors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long err = ERR_get_error_all(nullptr, nullptr, nullptr,
                                               &data, &flags)) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      absl::StrAppend(&out, " (", data, ")");
    }
  }
  if (out.empty()) out = "no OpenSSL error recorded";
  return out;
}

absl::Status OpenSslError(absl::string_view what, absl::StatusCode code) {
  return absl::Status(code, absl::StrCat(what, ": ", DrainOpenSslErrors()));
}

}  // namespace keyhold
