#include "agent/ca/csr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_replace.h"
#include "agent/ca/distinguished_name.h"
#include "agent/ca/signing.h"
#include "agent/ca/subject_alt_names.h"
#include "tests/status_matchers.h"
#include "tests/testing/test_pki.h"
#include "tokens/key_type.h"
#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"
#include "tokens/provider/provider.h"
#include "tokens/software_signer.h"

namespace keyhold::agent::ca {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Kind = SubjectAltName::Kind;

void FreeExtensions(STACK_OF(X509_EXTENSION)* extensions) {
  sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
}
using ExtensionsPtr = OpenSslPtr<STACK_OF(X509_EXTENSION), FreeExtensions>;

constexpr char kSubject[] = "/C=BR/O=Example/CN=host.example";

std::string Der(const X509_REQ* request) {
  unsigned char* raw = nullptr;
  const int length = i2d_X509_REQ(request, &raw);
  std::string der(reinterpret_cast<const char*>(raw), length > 0 ? length : 0);
  OPENSSL_free(raw);
  return der;
}

// A request built by hand (for shapes CreateCsr will not make): `subject`,
// `extensions` when given, signed with `key` (default library context).
absl::StatusOr<X509ReqPtr> HandMadeCsr(EVP_PKEY* key, const X509_NAME* subject,
                                       const STACK_OF(X509_EXTENSION)* extensions = nullptr) {
  X509ReqPtr request(X509_REQ_new());
  if (X509_REQ_set_version(request.get(), 0) != 1 ||
      X509_REQ_set_subject_name(request.get(), subject) != 1 ||
      X509_REQ_set_pubkey(request.get(), key) != 1 ||
      (extensions != nullptr && X509_REQ_add_extensions(request.get(), extensions) != 1)) {
    return OpenSslError("building the request");
  }
  const bool pure = EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448");
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, pure ? nullptr : "SHA256", nullptr, nullptr, key,
                            nullptr) != 1 ||
      X509_REQ_sign_ctx(request.get(), ctx.get()) <= 0) {
    return OpenSslError("signing the request");
  }
  return request;
}

// One extension request holding `nid` = `value` (openssl config syntax).
ExtensionsPtr ExtensionRequest(int nid, const char* value) {
  ExtensionsPtr extensions(sk_X509_EXTENSION_new_null());
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, nullptr, nid, value);
  if (extension != nullptr) sk_X509_EXTENSION_push(extensions.get(), extension);
  return extensions;
}

class CsrTest : public ::testing::Test {
 protected:
  // A P-256 key shared by the tests that only need some acceptable key.
  static EVP_PKEY* Key() {
    static EVP_PKEY* key = [] {
      absl::StatusOr<EvpPkeyPtr> generated = testing::GenerateTestKey(nullptr, KeyType::kEcP256);
      return generated.ok() ? generated->release() : nullptr;
    }();
    return key;
  }

  void SetUp() override {
    ASSERT_NE(Key(), nullptr);
    ASSERT_OK_AND_ASSIGN(subject_, ParseDistinguishedName(kSubject));
  }

  absl::StatusOr<X509ReqPtr> Csr(EVP_PKEY* key, std::span<const SubjectAltName> sans = {}) {
    return CreateCsr(nullptr, key, subject_.get(), sans);
  }

  X509NamePtr subject_;
};

TEST_F(CsrTest, AcceptsPem) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  ASSERT_OK_AND_ASSIGN(std::string pem, CsrToPem(request.get()));
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(pem));
  EXPECT_EQ(FormatDistinguishedName(parsed.subject), kSubject);
  EXPECT_EQ(parsed.key_description, "EC-P-256");
  EXPECT_EQ(EVP_PKEY_eq(parsed.public_key.get(), Key()), 1);
}

TEST_F(CsrTest, AcceptsDer) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(Der(request.get())));
  EXPECT_EQ(FormatDistinguishedName(parsed.subject), kSubject);
}

TEST_F(CsrTest, AcceptsOldNewCertificateRequestPemLabel) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  ASSERT_OK_AND_ASSIGN(std::string pem, CsrToPem(request.get()));
  pem = absl::StrReplaceAll(pem, {{"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}});
  EXPECT_THAT(ParseCsr(pem), IsOk());
}

TEST_F(CsrTest, AcceptsWhitespaceAroundPem) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  ASSERT_OK_AND_ASSIGN(std::string pem, CsrToPem(request.get()));
  EXPECT_THAT(ParseCsr("\n  " + pem + "\r\n\n"), IsOk());
}

TEST_F(CsrTest, RefusesTamperedSignature) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  std::string der = Der(request.get());
  der.back() ^= 0x01;  // the last byte belongs to the signature BIT STRING
  EXPECT_THAT(ParseCsr(der), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("CSR: signature does not verify")));
}

TEST_F(CsrTest, RefusesRsa1024) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
  ASSERT_NE(key, nullptr);
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(key.get()));
  EXPECT_THAT(ParseCsr(Der(request.get())),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR: RSA key of 1024 bits; at least 2048 required")));
}

TEST_F(CsrTest, RefusesSecp256k1) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"));
  ASSERT_NE(key, nullptr);
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, HandMadeCsr(key.get(), subject_.get()));
  EXPECT_THAT(ParseCsr(Der(request.get())),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CSR: unsupported curve secp256k1")));
}

TEST_F(CsrTest, RefusesRsaPssKey) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA-PSS", nullptr));
  EVP_PKEY* raw = nullptr;
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(EVP_PKEY_keygen_init(ctx.get()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048), 1);
  ASSERT_EQ(EVP_PKEY_generate(ctx.get(), &raw), 1);
  EvpPkeyPtr key(raw);
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, HandMadeCsr(key.get(), subject_.get()));
  EXPECT_THAT(ParseCsr(Der(request.get())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSA-PSS keys")));
}

TEST_F(CsrTest, RefusesEd448) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448"));
  ASSERT_NE(key, nullptr);
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, HandMadeCsr(key.get(), subject_.get()));
  EXPECT_THAT(ParseCsr(Der(request.get())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unsupported key type")));
}

TEST_F(CsrTest, RefusesEmptyInput) {
  EXPECT_THAT(ParseCsr(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST_F(CsrTest, RefusesOversizeInput) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  ASSERT_OK_AND_ASSIGN(std::string pem, CsrToPem(request.get()));
  EXPECT_THAT(ParseCsr(pem, pem.size() - 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most")));
}

TEST_F(CsrTest, RefusesInputOverTheDefaultCap) {
  EXPECT_THAT(ParseCsr(std::string(kDefaultMaxCsrBytes + 1, '0')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 16384")));
}

TEST_F(CsrTest, RefusesTrailingGarbageAfterDer) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  EXPECT_THAT(ParseCsr(Der(request.get()) + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing data")));
}

TEST_F(CsrTest, RefusesTrailingGarbageAfterPem) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  ASSERT_OK_AND_ASSIGN(std::string pem, CsrToPem(request.get()));
  EXPECT_THAT(ParseCsr(pem + "extra\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing data")));
}

TEST_F(CsrTest, RefusesSecondPemBlock) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  ASSERT_OK_AND_ASSIGN(std::string pem, CsrToPem(request.get()));
  EXPECT_THAT(ParseCsr(pem + pem),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing data")));
}

TEST_F(CsrTest, RefusesCertificatePem) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  ASSERT_OK_AND_ASSIGN(std::string pem, CsrToPem(request.get()));
  pem = absl::StrReplaceAll(pem, {{"CERTIFICATE REQUEST", "CERTIFICATE"}});
  EXPECT_THAT(ParseCsr(pem), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("expected \"CERTIFICATE REQUEST\"")));
}

TEST_F(CsrTest, RefusesGarbage) {
  EXPECT_THAT(ParseCsr("this is not a CSR"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a PEM or DER")));
}

TEST_F(CsrTest, RefusesTruncatedDer) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  const std::string der = Der(request.get());
  EXPECT_THAT(ParseCsr(der.substr(0, der.size() / 2)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a PEM or DER")));
}

TEST_F(CsrTest, RefusesEmptySubject) {
  X509NamePtr empty(X509_NAME_new());
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, HandMadeCsr(Key(), empty.get()));
  EXPECT_THAT(ParseCsr(Der(request.get())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CSR: empty subject")));
}

TEST_F(CsrTest, CreateCsrRefusesEmptySubject) {
  X509NamePtr empty(X509_NAME_new());
  EXPECT_THAT(CreateCsr(nullptr, Key(), empty.get(), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-empty subject")));
}

TEST_F(CsrTest, DetectsCaTrueRequest) {
  ExtensionsPtr extensions = ExtensionRequest(NID_basic_constraints, "critical,CA:TRUE");
  ASSERT_EQ(sk_X509_EXTENSION_num(extensions.get()), 1);
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, HandMadeCsr(Key(), subject_.get(), extensions.get()));
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(Der(request.get())));
  EXPECT_TRUE(parsed.requests_ca);
}

TEST_F(CsrTest, CaFalseRequestIsNotCa) {
  ExtensionsPtr extensions = ExtensionRequest(NID_basic_constraints, "CA:FALSE");
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, HandMadeCsr(Key(), subject_.get(), extensions.get()));
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(Der(request.get())));
  EXPECT_FALSE(parsed.requests_ca);
}

TEST_F(CsrTest, NoExtensionRequestMeansNoSansAndNotCa) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, Csr(Key()));
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(Der(request.get())));
  EXPECT_THAT(parsed.subject_alt_names, IsEmpty());
  EXPECT_FALSE(parsed.requests_ca);
}

TEST_F(CsrTest, ReadsRequestedSans) {
  ExtensionsPtr extensions = ExtensionRequest(
      NID_subject_alt_name, "DNS:WWW.Example.com,IP:192.0.2.7,email:a@example.com,URI:urn:x");
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, HandMadeCsr(Key(), subject_.get(), extensions.get()));
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(Der(request.get())));
  EXPECT_THAT(parsed.subject_alt_names,
              ElementsAre(SubjectAltName{Kind::kDns, "www.example.com"},
                          SubjectAltName{Kind::kIp, "192.0.2.7"},
                          SubjectAltName{Kind::kEmail, "a@example.com"},
                          SubjectAltName{Kind::kUri, "urn:x"}));
}

TEST_F(CsrTest, RefusesOtherNameSan) {
  ExtensionsPtr extensions =
      ExtensionRequest(NID_subject_alt_name, "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:a@example");
  ASSERT_EQ(sk_X509_EXTENSION_num(extensions.get()), 1);
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, HandMadeCsr(Key(), subject_.get(), extensions.get()));
  EXPECT_THAT(ParseCsr(Der(request.get())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CSR: subject alternative "
                                                                     "name of type otherName")));
}

TEST_F(CsrTest, RefusesInvalidDnsSan) {
  ExtensionsPtr extensions = ExtensionRequest(NID_subject_alt_name, "DNS:a..example");
  ASSERT_EQ(sk_X509_EXTENSION_num(extensions.get()), 1);
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request, HandMadeCsr(Key(), subject_.get(), extensions.get()));
  EXPECT_THAT(ParseCsr(Der(request.get())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty DNS label")));
}

// CreateCsr with each supported key type, held either in memory or behind
// the keyhold provider (the token path): its CSR passes intake unchanged.
struct KeyCase {
  KeyType type;
  bool through_provider;
  std::string description;
};

std::string CaseName(const ::testing::TestParamInfo<KeyCase>& info) {
  std::string name(KeyTypeName(info.param.type));
  name = absl::StrReplaceAll(name, {{"-", "_"}});
  return name + (info.param.through_provider ? "_Provider" : "_Software");
}

class CreateCsrTest : public ::testing::TestWithParam<KeyCase> {
 protected:
  // Keys are generated once per type for the binary: RSA generation is slow.
  static absl::StatusOr<std::shared_ptr<SoftwareSigner>> CachedSigner(KeyType type) {
    static auto* cache = new std::map<KeyType, std::shared_ptr<SoftwareSigner>>;
    if (auto it = cache->find(type); it != cache->end()) return it->second;
    absl::StatusOr<std::unique_ptr<SoftwareSigner>> signer = SoftwareSigner::Generate(type);
    if (!signer.ok()) return signer.status();
    return cache->emplace(type, *std::move(signer)).first->second;
  }
  static absl::StatusOr<EvpPkeyPtr> CachedSoftwareKey(KeyType type) {
    static auto* cache = new std::map<KeyType, EvpPkeyPtr>;
    auto it = cache->find(type);
    if (it == cache->end()) {
      absl::StatusOr<EvpPkeyPtr> key = testing::GenerateTestKey(nullptr, type);
      if (!key.ok()) return key.status();
      it = cache->emplace(type, *std::move(key)).first;
    }
    if (EVP_PKEY_up_ref(it->second.get()) != 1) return OpenSslError("EVP_PKEY_up_ref");
    return EvpPkeyPtr(it->second.get());
  }

  void SetUp() override {
    if (GetParam().through_provider) {
      ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> signer,
                           CachedSigner(GetParam().type));
      libctx_.reset(OSSL_LIB_CTX_new());
      ASSERT_NE(libctx_, nullptr);
      ASSERT_OK_AND_ASSIGN(provider_, LoadKeyholdProvider(libctx_.get()));
      ASSERT_OK_AND_ASSIGN(key_, MakeSignerPkey(libctx_.get(), signer));
      public_key_ = signer->PublicKey();
    } else {
      ASSERT_OK_AND_ASSIGN(key_, CachedSoftwareKey(GetParam().type));
      public_key_ = key_.get();
    }
    ASSERT_OK_AND_ASSIGN(subject_, ParseDistinguishedName(kRoundTripSubject));
    ASSERT_OK_AND_ASSIGN(X509ReqPtr request,
                         CreateCsr(libctx_.get(), key_.get(), subject_.get(), sans_));
    ASSERT_OK_AND_ASSIGN(pem_, CsrToPem(request.get()));
  }

  static constexpr char kRoundTripSubject[] = "/C=PT/L=São Paulo/O=Ex\\/ample/CN=svc";
  const std::vector<SubjectAltName> sans_ = {{Kind::kDns, "svc.example.com"},
                                             {Kind::kDns, "*.svc.example.com"},
                                             {Kind::kIp, "2001:db8::7"},
                                             {Kind::kUri, "spiffe://example.com/svc"}};
  // Destroyed in reverse: key, provider, library context.
  OsslLibCtxPtr libctx_;
  std::optional<KeyholdProvider> provider_;
  EvpPkeyPtr key_;
  const EVP_PKEY* public_key_ = nullptr;  // default-provider public half of key_
  X509NamePtr subject_;
  std::string pem_;
};

TEST_P(CreateCsrTest, PassesIntake) { EXPECT_THAT(ParseCsr(pem_), IsOk()); }

TEST_P(CreateCsrTest, SubjectRoundTrips) {
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(pem_));
  EXPECT_EQ(X509_NAME_cmp(parsed.subject, subject_.get()), 0);
  EXPECT_EQ(FormatDistinguishedName(parsed.subject), kRoundTripSubject);
}

TEST_P(CreateCsrTest, SansRoundTrip) {
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(pem_));
  EXPECT_EQ(parsed.subject_alt_names, sans_);
  EXPECT_FALSE(parsed.requests_ca);
}

TEST_P(CreateCsrTest, DescribesTheKey) {
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(pem_));
  EXPECT_EQ(parsed.key_description, GetParam().description);
}

TEST_P(CreateCsrTest, CarriesTheSignersPublicKey) {
  ASSERT_OK_AND_ASSIGN(ParsedCsr parsed, ParseCsr(pem_));
  EXPECT_EQ(EVP_PKEY_eq(parsed.public_key.get(), public_key_), 1);
}

INSTANTIATE_TEST_SUITE_P(
    KeyTypes, CreateCsrTest,
    ::testing::Values(KeyCase{KeyType::kEcP256, false, "EC-P-256"},
                      KeyCase{KeyType::kEcP384, false, "EC-P-384"},
                      KeyCase{KeyType::kRsa2048, false, "RSA-2048"},
                      KeyCase{KeyType::kEd25519, false, "ED25519"},
                      KeyCase{KeyType::kEcP256, true, "EC-P-256"},
                      KeyCase{KeyType::kEcP384, true, "EC-P-384"},
                      KeyCase{KeyType::kRsa2048, true, "RSA-2048"},
                      KeyCase{KeyType::kEd25519, true, "ED25519"}),
    CaseName);

}  // namespace
}  // namespace keyhold::agent::ca
