// libFuzzer target for the CA's intake of untrusted text and bytes: the
// same input is tried as a CSR (PEM or DER; its requested SANs go through
// FromGeneralNames), as a distinguished name and as a SAN list. Besides
// "no crash, no leak, no UB", it checks the round trips the headers
// promise, aborting when one breaks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/ca/csr.h"
#include "agent/ca/distinguished_name.h"
#include "agent/ca/subject_alt_names.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {
namespace {

using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;

void Require(bool condition) {
  if (!condition) std::abort();
}

void FuzzCsr(absl::string_view bytes) {
  absl::StatusOr<ParsedCsr> parsed = ParseCsr(bytes);
  if (!parsed.ok()) return;
  Require(parsed->request != nullptr && parsed->public_key != nullptr);
  Require(X509_NAME_entry_count(parsed->subject) > 0);
  Require(parsed->subject_alt_names.size() <= kMaxSubjectAltNames);
  // What intake accepted, re-encoded as PEM, is accepted again alike.
  absl::StatusOr<std::string> pem = CsrToPem(parsed->request.get());
  Require(pem.ok());
  absl::StatusOr<ParsedCsr> again = ParseCsr(*pem, pem->size());
  Require(again.ok());
  Require(again->subject_alt_names == parsed->subject_alt_names);
  Require(again->requests_ca == parsed->requests_ca);
  Require(again->key_description == parsed->key_description);
  FormatDistinguishedName(parsed->subject);
}

void FuzzDistinguishedName(absl::string_view text) {
  absl::StatusOr<X509NamePtr> name = ParseDistinguishedName(text);
  if (!name.ok()) return;
  const std::string formatted = FormatDistinguishedName(name->get());
  // Short names can be longer than the OIDs they were typed as.
  if (formatted.size() > kMaxNameTextBytes) return;
  absl::StatusOr<X509NamePtr> again = ParseDistinguishedName(formatted);
  Require(again.ok());
  Require(X509_NAME_cmp(name->get(), again->get()) == 0);
}

void FuzzSubjectAltNames(absl::string_view text) {
  absl::StatusOr<std::vector<SubjectAltName>> names = ParseSubjectAltNames(text);
  if (!names.ok()) return;
  absl::StatusOr<std::vector<SubjectAltName>> again =
      ParseSubjectAltNames(FormatSubjectAltNames(*names));
  Require(again.ok() && *again == *names);
  absl::StatusOr<GENERAL_NAMES*> raw = ToGeneralNames(*names);
  Require(raw.ok());
  GeneralNamesPtr general_names(*raw);
  absl::StatusOr<std::vector<SubjectAltName>> back = FromGeneralNames(general_names.get());
  Require(back.ok() && *back == *names);
}

}  // namespace
}  // namespace keyhold::agent::ca

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  keyhold::agent::ca::FuzzCsr(bytes);
  keyhold::agent::ca::FuzzDistinguishedName(bytes);
  keyhold::agent::ca::FuzzSubjectAltNames(bytes);
  ERR_clear_error();
  return 0;
}
