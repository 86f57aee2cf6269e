// mTLS client authentication with keyhold keys: a plain OpenSSL server
// that requires a client certificate accepts them in TLS 1.2 and 1.3, with
// the signature scheme each version calls for; wrong certificates fail.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/tls1.h>

#include "tests/status_matchers.h"
#include "tests/testing/fake_signers.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/tls_harness.h"
#include "tests/unit/tokens/provider/provider_fixture.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;

class TlsTest : public ProviderFixture {
 protected:
  void SetUp() override {
    ProviderFixture::SetUp();
    ASSERT_OK_AND_ASSIGN(
        client_ca_, MakeCertificateAuthority(nullptr, "keyhold client CA"));
  }

  absl::StatusOr<X509Ptr> ClientCertificateFor(EVP_PKEY* key) {
    return IssueCertificate(client_ca_.certificate.get(),
                            {.key = client_ca_.key.get()}, key,
                            {.common_name = "keyhold-client"});
  }

  absl::StatusOr<HandshakeResult> Handshake(EVP_PKEY* key, X509* certificate,
                                            int version,
                                            std::string client_sigalgs = "") {
    return HandshakeWithClientKey(
        {.libctx = libctx(), .key = key, .certificate = certificate},
        {.tls_version = version,
         .client_ca = client_ca_.certificate.get(),
         .client_sigalgs = std::move(client_sigalgs)});
  }

  CertificateAuthority client_ca_;
};

// ---- Every key type, both versions ------------------------------------------

struct TlsCase {
  std::string name;
  KeyType type;
  int version;
  int expected_signature_type;
  int expected_digest;
  friend void PrintTo(const TlsCase& c, std::ostream* os) { *os << c.name; }
};

std::string CaseName(const ::testing::TestParamInfo<TlsCase>& param_info) {
  return param_info.param.name;
}

class ClientAuthTest : public TlsTest,
                       public ::testing::WithParamInterface<TlsCase> {};

TEST_P(ClientAuthTest, ServerAcceptsKeyholdClientKey) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(X509Ptr certificate,
                       ClientCertificateFor(key.key.get()));
  ASSERT_OK_AND_ASSIGN(
      HandshakeResult result,
      Handshake(key.key.get(), certificate.get(), GetParam().version));
  EXPECT_EQ(result.version, GetParam().version);
  EXPECT_EQ(result.client_common_name, "keyhold-client");
}

TEST_P(ClientAuthTest, ClientSignsWithExpectedScheme) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(X509Ptr certificate,
                       ClientCertificateFor(key.key.get()));
  ASSERT_OK_AND_ASSIGN(
      HandshakeResult result,
      Handshake(key.key.get(), certificate.get(), GetParam().version));
  EXPECT_EQ(OBJ_nid2sn(result.client_signature_type),
            std::string(OBJ_nid2sn(GetParam().expected_signature_type)));
  EXPECT_EQ(result.client_signature_digest, GetParam().expected_digest);
}

// OpenSSL prefers PSS for RSA in TLS 1.2 as well (since 1.1.1); TLS 1.3
// allows nothing else. ECDSA in 1.3 is tied to the curve's hash.
INSTANTIATE_TEST_SUITE_P(
    Keys, ClientAuthTest,
    ::testing::Values(TlsCase{"Rsa2048Tls12", KeyType::kRsa2048, TLS1_2_VERSION,
                              EVP_PKEY_RSA_PSS, NID_sha256},
                      TlsCase{"Rsa2048Tls13", KeyType::kRsa2048, TLS1_3_VERSION,
                              EVP_PKEY_RSA_PSS, NID_sha256},
                      TlsCase{"EcP256Tls12", KeyType::kEcP256, TLS1_2_VERSION,
                              EVP_PKEY_EC, NID_sha256},
                      TlsCase{"EcP256Tls13", KeyType::kEcP256, TLS1_3_VERSION,
                              EVP_PKEY_EC, NID_sha256},
                      TlsCase{"EcP384Tls13", KeyType::kEcP384, TLS1_3_VERSION,
                              EVP_PKEY_EC, NID_sha384},
                      TlsCase{"Ed25519Tls12", KeyType::kEd25519, TLS1_2_VERSION,
                              EVP_PKEY_ED25519, NID_undef},
                      TlsCase{"Ed25519Tls13", KeyType::kEd25519, TLS1_3_VERSION,
                              EVP_PKEY_ED25519, NID_undef}),
    CaseName);

// ---- Single properties ------------------------------------------------------

TEST_F(TlsTest, Tls12RsaPkcs1WhenServerAsksForIt) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kRsa2048));
  ASSERT_OK_AND_ASSIGN(X509Ptr certificate,
                       ClientCertificateFor(key.key.get()));
  ASSERT_OK_AND_ASSIGN(HandshakeResult result,
                       Handshake(key.key.get(), certificate.get(),
                                 TLS1_2_VERSION, "RSA+SHA384"));
  EXPECT_EQ(result.client_signature_type, EVP_PKEY_RSA);
  EXPECT_EQ(result.client_signature_digest, NID_sha384);
}

TEST_F(TlsTest, Tls13SignerIsAskedForPssWithDigestLengthSalt) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<SoftwareSigner> software,
                       CachedSigner(KeyType::kRsa2048));
  auto recorder = std::make_shared<RecordingSigner>(software);
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key, MakeSignerPkey(libctx(), recorder));
  ASSERT_OK_AND_ASSIGN(X509Ptr certificate, ClientCertificateFor(key.get()));
  ASSERT_THAT(Handshake(key.get(), certificate.get(), TLS1_3_VERSION), IsOk());
  ASSERT_EQ(recorder->calls().size(), 1u);
  EXPECT_EQ(recorder->calls()[0].algorithm,
            (SignatureAlgorithm{.scheme = SignatureScheme::kRsaPss,
                                .hash = HashAlgorithm::kSha256,
                                .mgf1_hash = HashAlgorithm::kSha256,
                                .pss_salt_length = 32}));
}

TEST_F(TlsTest, CertificateFromUntrustedCaIsRejected) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(CertificateAuthority stranger,
                       MakeCertificateAuthority(nullptr, "stranger CA"));
  ASSERT_OK_AND_ASSIGN(
      X509Ptr certificate,
      IssueCertificate(stranger.certificate.get(), {.key = stranger.key.get()},
                       key.key.get(), {.common_name = "keyhold-client"}));
  EXPECT_THAT(Handshake(key.key.get(), certificate.get(), TLS1_3_VERSION),
              StatusIs(absl::StatusCode::kAborted,
                       HasSubstr("unable to get local issuer certificate")));
}

TEST_F(TlsTest, CertificateForAnotherKeyIsRefusedByTheClient) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr other,
                       GenerateTestKey(nullptr, KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(X509Ptr certificate, ClientCertificateFor(other.get()));
  EXPECT_THAT(Handshake(key.key.get(), certificate.get(), TLS1_3_VERSION),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("does not fit the client certificate")));
}

TEST_F(TlsTest, FailingSignerFailsTheHandshakeCleanly) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<FailingSigner> failing,
      FailingSigner::Create(KeyType::kEcP256,
                            absl::UnavailableError("token went away")));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr key,
                       MakeSignerPkey(libctx(), std::move(failing)));
  ASSERT_OK_AND_ASSIGN(X509Ptr certificate, ClientCertificateFor(key.get()));
  EXPECT_THAT(
      Handshake(key.get(), certificate.get(), TLS1_3_VERSION),
      StatusIs(absl::StatusCode::kAborted, HasSubstr("token went away")));
}

}  // namespace
}  // namespace keyhold::testing
