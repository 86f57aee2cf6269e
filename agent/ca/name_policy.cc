#include "agent/ca/name_policy.h"

#include <memory>
#include <optional>
#include <set>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {

namespace {

// Attributes are compared by OID, so that dotted OIDs OpenSSL has no name
// for work as well as C or commonName.
std::string DottedOid(const ASN1_OBJECT* object) {
  char text[256];
  const int length = OBJ_obj2txt(text, sizeof(text), object, /*no_name=*/1);
  if (length <= 0 || static_cast<size_t>(length) >= sizeof(text)) return "";
  return std::string(text, static_cast<size_t>(length));
}

// The dotted OID of a short or long name or a dotted OID; nullopt when
// OpenSSL knows no such name or the OID is not written canonically
// (OBJ_txt2obj reads "2.5.4.3." as 2.5.4.3 and "2..5" as 2.0.5).
std::optional<std::string> OidOf(const std::string& attribute) {
  if (attribute.empty()) return std::nullopt;
  Asn1ObjectPtr object(OBJ_txt2obj(attribute.c_str(), /*no_name=*/0));
  if (!object) return std::nullopt;
  std::string oid = DottedOid(object.get());
  if (oid.empty()) return std::nullopt;
  if (absl::ascii_isdigit(static_cast<unsigned char>(attribute[0])) && oid != attribute) {
    return std::nullopt;
  }
  return oid;
}

// The attribute's name for messages: its long name ("countryName"), else
// its OID.
std::string LongName(const std::string& oid) {
  const int nid = OBJ_txt2nid(oid.c_str());
  const char* name = nid != NID_undef ? OBJ_nid2ln(nid) : nullptr;
  return name != nullptr ? name : oid;
}

struct OpenSslFreeDeleter {
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};

// The UTF-8 value of every entry of type `oid`, in order; nullopt for one
// that does not decode.
std::vector<std::optional<std::string>> EntryValues(const X509_NAME* name,
                                                    const std::string& oid) {
  std::vector<std::optional<std::string>> values;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    if (DottedOid(X509_NAME_ENTRY_get_object(entry)) != oid) continue;
    unsigned char* raw = nullptr;
    const int length = ASN1_STRING_to_UTF8(&raw, X509_NAME_ENTRY_get_data(entry));
    std::unique_ptr<unsigned char, OpenSslFreeDeleter> utf8(raw);
    if (length < 0) {
      ERR_clear_error();
      values.push_back(std::nullopt);
      continue;
    }
    values.emplace_back(std::string(reinterpret_cast<const char*>(utf8.get()),
                                    static_cast<size_t>(length)));
  }
  return values;
}

}  // namespace

std::map<std::string, NamePolicy> BuiltinNamePolicies() {
  std::map<std::string, NamePolicy> policies;
  policies["strict"] = NamePolicy{"strict", {"C", "ST", "O"}, {"CN"}, {"OU", "emailAddress"},
                                  /*allow_other_attributes=*/false};
  policies["loose"] = NamePolicy{"loose", {}, {"CN"}, {}, /*allow_other_attributes=*/true};
  return policies;
}

absl::Status ValidateNamePolicy(const NamePolicy& policy) {
  std::set<std::string> seen;
  for (const std::vector<std::string>* list : {&policy.match, &policy.supplied, &policy.optional}) {
    for (const std::string& attribute : *list) {
      const std::optional<std::string> oid = OidOf(attribute);
      if (!oid) {
        return absl::InvalidArgumentError(absl::StrCat(
            "policy ", policy.name, ": unknown name attribute \"", attribute,
            "\" (use C, ST, L, O, OU, CN, emailAddress, ... or a dotted OID)"));
      }
      if (!seen.insert(*oid).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "policy ", policy.name, ": ", attribute, " is listed more than once"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSubject(const NamePolicy& policy, const X509_NAME* ca_subject,
                          const X509_NAME* subject) {
  const std::string where = absl::StrCat("policy ", policy.name, ": ");
  // A policy that ValidateNamePolicy() refused has no entries to check
  // against; treat its unknown names as listing nothing.
  auto oid_of = [](const std::string& attribute) { return OidOf(attribute).value_or(""); };
  for (const std::string& attribute : policy.match) {
    const std::string oid = oid_of(attribute);
    const std::vector<std::optional<std::string>> ca_values = EntryValues(ca_subject, oid);
    const std::optional<std::string> want =
        ca_values.empty() ? std::nullopt : ca_values.front();
    // Every occurrence must match, as in openssl ca: "/C=BR/C=US" would
    // otherwise pass on its first C.
    const std::vector<std::optional<std::string>> values = EntryValues(subject, oid);
    if (values.empty() || !values.front()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, LongName(oid), " is required and must match the CA's (",
          want.value_or("the CA has none"), ")"));
    }
    for (const std::optional<std::string>& have : values) {
      if (!want || !have || *want != *have) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, LongName(oid), " must match the CA's (", want.value_or("the CA has none"),
            "), the request has \"", have.value_or("a value that is not text"), "\""));
      }
    }
  }
  for (const std::string& attribute : policy.supplied) {
    const std::string oid = oid_of(attribute);
    const std::vector<std::optional<std::string>> values = EntryValues(subject, oid);
    if (values.empty() || !values.front()) {
      return absl::InvalidArgumentError(absl::StrCat(where, LongName(oid), " is required"));
    }
  }
  if (policy.allow_other_attributes) return absl::OkStatus();
  std::set<std::string> listed;
  for (const std::vector<std::string>* list : {&policy.match, &policy.supplied, &policy.optional}) {
    for (const std::string& attribute : *list) listed.insert(oid_of(attribute));
  }
  for (int i = 0; i < X509_NAME_entry_count(subject); ++i) {
    const std::string oid =
        DottedOid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(subject, i)));
    if (oid.empty() || !listed.contains(oid)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, oid.empty() ? "an unknown attribute" : LongName(oid),
          " is not allowed in the subject"));
    }
  }
  return absl::OkStatus();
}

}  // namespace keyhold::agent::ca
