#include "agent/ca/csr.h"

#include <climits>
#include <memory>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/ca/signing.h"
#include "tokens/openssl_error.h"
#include "tokens/pem.h"

namespace keyhold::agent::ca {

namespace {

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;

struct OpenSslFreeDeleter {
  void operator()(void* p) const { OPENSSL_free(p); }
};
template <typename T>
using OpenSslMemory = std::unique_ptr<T, OpenSslFreeDeleter>;

void FreeExtensions(STACK_OF(X509_EXTENSION)* extensions) {
  sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
}
using ExtensionsPtr = OpenSslPtr<STACK_OF(X509_EXTENSION), FreeExtensions>;
using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using BasicConstraintsPtr = OpenSslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;

// INVALID_ARGUMENT "CSR: <what>", with OpenSSL's reasons appended when it
// recorded any. Always leaves this thread's error queue empty.
absl::Status Refuse(absl::string_view what) {
  const std::string message = absl::StrCat("CSR: ", what);
  if (ERR_peek_error() != 0) return OpenSslError(message, absl::StatusCode::kInvalidArgument);
  return absl::InvalidArgumentError(message);
}

// Step 2 for DER: exactly one X509_REQ, nothing after it.
absl::StatusOr<X509ReqPtr> DecodeDer(absl::string_view der) {
  if (der.size() > static_cast<size_t>(LONG_MAX)) return Refuse("too large");
  const auto* start = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = start;
  X509ReqPtr request(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (request == nullptr) return Refuse("not a PEM or DER certificate request");
  if (static_cast<size_t>(p - start) != der.size()) {
    return Refuse("trailing data after the DER certificate request");
  }
  return request;
}

// Step 2 for PEM: one "CERTIFICATE REQUEST" block, only whitespace after it.
absl::StatusOr<X509ReqPtr> DecodePem(absl::string_view pem) {
  if (pem.size() > static_cast<size_t>(INT_MAX)) return Refuse("too large");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslError("BIO_new_mem_buf");
  char* raw_label = nullptr;
  char* raw_header = nullptr;
  unsigned char* raw_data = nullptr;
  long length = 0;
  const int read = PEM_read_bio(bio.get(), &raw_label, &raw_header, &raw_data, &length);
  OpenSslMemory<char> label(raw_label);
  OpenSslMemory<char> header(raw_header);
  OpenSslMemory<unsigned char> data(raw_data);
  if (read != 1) return Refuse("malformed PEM");
  const absl::string_view label_text(label.get());
  if (label_text != PEM_STRING_X509_REQ && label_text != PEM_STRING_X509_REQ_OLD) {
    return Refuse(absl::StrCat("PEM block is \"", absl::CHexEscape(label_text.substr(0, 40)),
                               "\"; expected \"", PEM_STRING_X509_REQ, "\""));
  }
  if (header != nullptr && header.get()[0] != '\0') return Refuse("PEM headers are not allowed");
  char* rest = nullptr;
  const long rest_length = BIO_get_mem_data(bio.get(), &rest);
  if (rest_length > 0 &&
      !absl::StripAsciiWhitespace(absl::string_view(rest, static_cast<size_t>(rest_length)))
           .empty()) {
    return Refuse("trailing data after the PEM block");
  }
  if (length < 0) return Refuse("malformed PEM");
  return DecodeDer(absl::string_view(reinterpret_cast<const char*>(data.get()),
                                     static_cast<size_t>(length)));
}

std::string Utf8Param(const EVP_PKEY* key, const char* name) {
  char buffer[80];
  size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, name, buffer, sizeof(buffer), &length) != 1) {
    ERR_clear_error();
    return "";
  }
  return std::string(buffer, length);
}

// Step 4: the description for an acceptable key, or why it is refused.
absl::StatusOr<std::string> DescribeKey(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA-PSS")) {
    return Refuse("RSA-PSS keys (id-RSASSA-PSS) are not supported; use an rsaEncryption key");
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits < kMinRsaBits) {
      return Refuse(absl::StrCat("RSA key of ", bits, " bits; at least ", kMinRsaBits,
                                 " required"));
    }
    if (bits > kMaxRsaBits) {
      return Refuse(absl::StrCat("RSA key of ", bits, " bits; at most ", kMaxRsaBits,
                                 " allowed"));
    }
    return absl::StrCat("RSA-", bits);
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    if (Utf8Param(key, OSSL_PKEY_PARAM_EC_ENCODING) == OSSL_PKEY_EC_ENCODING_EXPLICIT) {
      return Refuse("EC key with explicit curve parameters; a named curve is required");
    }
    const std::string curve = Utf8Param(key, OSSL_PKEY_PARAM_GROUP_NAME);
    if (curve == "prime256v1") return std::string("EC-P-256");
    if (curve == "secp384r1") return std::string("EC-P-384");
    if (curve == "secp521r1") return std::string("EC-P-521");
    return Refuse(absl::StrCat("unsupported curve ", curve.empty() ? "(unnamed)" : curve,
                               "; P-256, P-384 or P-521 required"));
  }
  if (EVP_PKEY_is_a(key, "ED25519")) return std::string("ED25519");
  const char* type = EVP_PKEY_get0_type_name(key);
  return Refuse(absl::StrCat("unsupported key type ", type == nullptr ? "(unknown)" : type,
                             "; RSA, EC or Ed25519 required"));
}

// The extension `nid` decoded from `extensions`, null when absent; refuses
// a malformed or repeated one.
template <typename Ptr>
absl::StatusOr<Ptr> RequestedExtension(const STACK_OF(X509_EXTENSION)* extensions, int nid) {
  int critical = -1;
  Ptr value(static_cast<typename Ptr::pointer>(
      X509V3_get_d2i(extensions, nid, &critical, nullptr)));
  if (value == nullptr && critical == -2) {
    return Refuse(absl::StrCat("more than one ", OBJ_nid2sn(nid), " extension requested"));
  }
  if (value == nullptr && critical != -1) {
    return Refuse(absl::StrCat("malformed ", OBJ_nid2sn(nid), " extension requested"));
  }
  return value;
}

// Step 5 (SANs) and the CA flag, from the extensionRequest attribute.
absl::Status ReadRequestedExtensions(X509_REQ* request, ParsedCsr* parsed) {
  ExtensionsPtr extensions(X509_REQ_get_extensions(request));
  if (extensions == nullptr) return Refuse("malformed extensionRequest attribute");

  absl::StatusOr<GeneralNamesPtr> sans =
      RequestedExtension<GeneralNamesPtr>(extensions.get(), NID_subject_alt_name);
  if (!sans.ok()) return sans.status();
  absl::StatusOr<std::vector<SubjectAltName>> names = FromGeneralNames(sans->get());
  if (!names.ok()) return Refuse(names.status().message());
  parsed->subject_alt_names = *std::move(names);

  absl::StatusOr<BasicConstraintsPtr> constraints =
      RequestedExtension<BasicConstraintsPtr>(extensions.get(), NID_basic_constraints);
  if (!constraints.ok()) return constraints.status();
  parsed->requests_ca = *constraints != nullptr && (*constraints)->ca != 0;
  return absl::OkStatus();
}

absl::StatusOr<ParsedCsr> CheckCsr(X509ReqPtr request) {
  // 2 (continued): the version.
  const long version = X509_REQ_get_version(request.get());
  if (version != X509_REQ_VERSION_1) {
    return Refuse(absl::StrCat("version value ", version, "; only 0 (version 1) is defined"));
  }
  // 3: proof of possession, before anything else in the request is used.
  EvpPkeyPtr key(X509_REQ_get_pubkey(request.get()));
  if (key == nullptr) return Refuse("the public key cannot be decoded");
  if (X509_REQ_verify(request.get(), key.get()) != 1) {
    return Refuse("signature does not verify");
  }
  // 4: the key.
  absl::StatusOr<std::string> description = DescribeKey(key.get());
  if (!description.ok()) return description.status();
  // 5: subject and requested names.
  const X509_NAME* subject = X509_REQ_get_subject_name(request.get());
  if (subject == nullptr || X509_NAME_entry_count(subject) == 0) {
    return Refuse("empty subject");
  }
  ParsedCsr parsed;
  if (absl::Status s = ReadRequestedExtensions(request.get(), &parsed); !s.ok()) return s;
  parsed.subject = subject;
  parsed.public_key = std::move(key);
  parsed.key_description = *std::move(description);
  parsed.request = std::move(request);
  return parsed;
}

}  // namespace

absl::StatusOr<ParsedCsr> ParseCsr(absl::string_view bytes, size_t max_bytes) {
  // 1: size.
  if (bytes.empty()) return Refuse("empty");
  if (bytes.size() > max_bytes) {
    return Refuse(absl::StrCat(bytes.size(), " bytes; at most ", max_bytes, " allowed"));
  }
  // 2: decoding.
  // PEM_read_bio wants "-----BEGIN" at the start of a line.
  const absl::string_view pem = absl::StripLeadingAsciiWhitespace(bytes);
  absl::StatusOr<X509ReqPtr> request =
      absl::StartsWith(pem, "-----BEGIN ") ? DecodePem(pem) : DecodeDer(bytes);
  if (!request.ok()) return request.status();
  return CheckCsr(*std::move(request));
}

absl::StatusOr<X509ReqPtr> CreateCsr(OSSL_LIB_CTX* libctx, EVP_PKEY* key,
                                     const X509_NAME* subject,
                                     std::span<const SubjectAltName> sans) {
  if (key == nullptr) return absl::InvalidArgumentError("CreateCsr: no key");
  if (subject == nullptr || X509_NAME_entry_count(subject) == 0) {
    return absl::InvalidArgumentError("CreateCsr: a CSR needs a non-empty subject");
  }
  X509ReqPtr request(X509_REQ_new_ex(libctx, nullptr));
  if (request == nullptr || X509_REQ_set_version(request.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(request.get(), subject) != 1 ||
      X509_REQ_set_pubkey(request.get(), key) != 1) {
    return OpenSslError("building the CSR");
  }
  if (!sans.empty()) {
    absl::StatusOr<GENERAL_NAMES*> raw_names = ToGeneralNames(sans);
    if (!raw_names.ok()) return raw_names.status();
    GeneralNamesPtr names(*raw_names);
    ExtensionsPtr extensions(sk_X509_EXTENSION_new_null());
    X509ExtensionPtr extension(X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get()));
    if (extensions == nullptr || extension == nullptr ||
        sk_X509_EXTENSION_push(extensions.get(), extension.get()) <= 0) {
      return OpenSslError("encoding the subjectAltName extension");
    }
    extension.release();  // now owned by `extensions`
    if (X509_REQ_add_extensions(request.get(), extensions.get()) != 1) {
      return OpenSslError("adding the extension request");
    }
  }
  absl::StatusOr<EvpMdCtxPtr> signing = SigningContext(libctx, key);
  if (!signing.ok()) return signing.status();
  if (X509_REQ_sign_ctx(request.get(), signing->get()) <= 0) {
    return OpenSslError("signing the CSR");
  }
  return request;
}

absl::StatusOr<std::string> CsrToPem(const X509_REQ* request) {
  if (request == nullptr) return absl::InvalidArgumentError("CsrToPem: no request");
  return ToPem(PEM_write_bio_X509_REQ, request, "the CSR");
}

}  // namespace keyhold::agent::ca
