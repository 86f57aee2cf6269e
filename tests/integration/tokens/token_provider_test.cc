// Token keys as OpenSSL EVP_PKEYs through the keyhold provider: signatures,
// CSRs, certificates and CRLs checked by the real `openssl` binary, and TLS
// client authentication in TLS 1.2 and 1.3.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include "tests/integration/softhsm_token.h"
#include "tests/status_matchers.h"
#include "tests/testing/openssl_cli.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/tls_harness.h"
#include "tokens/provider/provider.h"
#include "tokens/token.h"

namespace keyhold {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::RunOpenssl;
using ::keyhold::testing::SoftHsmToken;
using ::keyhold::testing::TempDirectory;
using ::testing::HasSubstr;

class TokenProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(hsm_, SoftHsmToken::Create());
    ASSERT_OK_AND_ASSIGN(token_, Token::Open(hsm_->config()));
    libctx_.reset(OSSL_LIB_CTX_new());
    ASSERT_OK_AND_ASSIGN(KeyholdProvider provider, LoadKeyholdProvider(libctx_.get()));
    provider_ = std::make_unique<KeyholdProvider>(std::move(provider));
    ASSERT_OK_AND_ASSIGN(TempDirectory dir, TempDirectory::Create());
    dir_ = std::make_unique<TempDirectory>(std::move(dir));
  }
  void TearDown() override {
    keys_.clear();  // keys before the provider, the provider before the context
    provider_.reset();
  }

  // A token key of `type` as an EVP_PKEY in libctx_.
  EVP_PKEY* TokenKey(KeyType type, const std::string& label) {
    auto key = token_->GenerateKey(label, type);
    EXPECT_THAT(key, IsOk());
    auto signer = token_->NewSigner(*key);
    EXPECT_THAT(signer, IsOk());
    auto pkey = MakeSignerPkey(libctx_.get(), std::shared_ptr<Signer>(std::move(*signer)));
    EXPECT_THAT(pkey, IsOk());
    keys_.push_back(std::move(*pkey));
    return keys_.back().get();
  }

  std::unique_ptr<SoftHsmToken> hsm_;
  std::unique_ptr<Token> token_;
  OsslLibCtxPtr libctx_;
  std::unique_ptr<KeyholdProvider> provider_;
  std::unique_ptr<TempDirectory> dir_;
  std::vector<EvpPkeyPtr> keys_;
};

TEST_F(TokenProviderTest, CsrSignedOnTheTokenPassesOpensslReqVerify) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kRsa2048, KeyType::kEd25519}) {
    EVP_PKEY* key = TokenKey(type, std::string(KeyTypeName(type)));
    testing::SigningKey signer{key, libctx_.get(),
                               type == KeyType::kEd25519 ? "" : "SHA256", false};
    ASSERT_OK_AND_ASSIGN(X509ReqPtr csr, testing::MakeCertificateRequest(signer, "client"));
    const std::string path = dir_->File(std::string(KeyTypeName(type)) + ".csr");
    ASSERT_THAT(testing::WriteCertificateRequestPem(path, csr.get()), IsOk());
    ASSERT_OK_AND_ASSIGN(auto result, RunOpenssl({"req", "-verify", "-noout", "-in", path}));
    EXPECT_EQ(result.exit_code, 0) << KeyTypeName(type) << ": " << result.output;
    EXPECT_THAT(result.output, HasSubstr("verify OK"));
  }
}

TEST_F(TokenProviderTest, TokenCaCertificatesAndCrlPassOpensslVerify) {
  EVP_PKEY* ca_key = TokenKey(KeyType::kEcP384, "ca");
  testing::SigningKey ca{ca_key, libctx_.get(), "SHA384", false};
  ASSERT_OK_AND_ASSIGN(X509Ptr ca_cert, testing::MakeCaCertificate(ca, "Token Root CA"));
  EVP_PKEY* leaf_key = TokenKey(KeyType::kRsa2048, "leaf");
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf, testing::IssueCertificate(ca_cert.get(), ca, leaf_key,
                                                                {"leaf", testing::CertificatePurpose::kClient, {}}));
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, testing::MakeCrl(ca_cert.get(), ca, {leaf.get()}));
  ASSERT_THAT(testing::WriteCertificatePem(dir_->File("ca.pem"), ca_cert.get()), IsOk());
  ASSERT_THAT(testing::WriteCertificatePem(dir_->File("leaf.pem"), leaf.get()), IsOk());
  ASSERT_THAT(testing::WriteCrlPem(dir_->File("crl.pem"), crl.get()), IsOk());

  ASSERT_OK_AND_ASSIGN(auto self, RunOpenssl({"verify", "-CAfile", dir_->File("ca.pem"),
                                              dir_->File("ca.pem")}));
  EXPECT_EQ(self.exit_code, 0) << self.output;
  ASSERT_OK_AND_ASSIGN(auto chain, RunOpenssl({"verify", "-CAfile", dir_->File("ca.pem"),
                                               dir_->File("leaf.pem")}));
  EXPECT_EQ(chain.exit_code, 0) << chain.output;
  ASSERT_OK_AND_ASSIGN(auto crl_check, RunOpenssl({"crl", "-noout", "-in", dir_->File("crl.pem"),
                                                   "-CAfile", dir_->File("ca.pem")}));
  EXPECT_EQ(crl_check.exit_code, 0) << crl_check.output;
  EXPECT_THAT(crl_check.output, HasSubstr("verify OK"));
  // With the CRL, the revoked leaf must fail: the check can fail.
  ASSERT_OK_AND_ASSIGN(auto revoked, RunOpenssl({"verify", "-crl_check", "-CAfile",
                                                 dir_->File("ca.pem"), "-CRLfile",
                                                 dir_->File("crl.pem"), dir_->File("leaf.pem")}));
  EXPECT_NE(revoked.exit_code, 0);
  EXPECT_THAT(revoked.output, HasSubstr("revoked"));
}

struct TlsCase {
  KeyType type;
  int version;
  int expected_signature_type;
};

class TokenTlsTest : public TokenProviderTest,
                     public ::testing::WithParamInterface<TlsCase> {};

TEST_P(TokenTlsTest, MutualTlsWithTheTokenKey) {
  ASSERT_OK_AND_ASSIGN(auto ca, testing::MakeCertificateAuthority(nullptr, "Test CA"));
  EVP_PKEY* key = TokenKey(GetParam().type, "client");
  testing::SigningKey ca_signer{ca.key.get(), nullptr, "SHA256", false};
  ASSERT_OK_AND_ASSIGN(X509Ptr cert, testing::IssueCertificate(
                                         ca.certificate.get(), ca_signer, key,
                                         {"token-client", testing::CertificatePurpose::kClient, {}}));
  testing::TlsClientIdentity client{libctx_.get(), key, cert.get()};
  testing::TlsServerSettings server;
  server.tls_version = GetParam().version;
  server.client_ca = ca.certificate.get();
  ASSERT_OK_AND_ASSIGN(testing::HandshakeResult result,
                       testing::HandshakeWithClientKey(client, server));
  EXPECT_EQ(result.version, GetParam().version);
  EXPECT_EQ(result.client_common_name, "token-client");
  EXPECT_EQ(result.client_signature_type, GetParam().expected_signature_type);
}

INSTANTIATE_TEST_SUITE_P(
    KeysAndVersions, TokenTlsTest,
    ::testing::Values(TlsCase{KeyType::kRsa2048, TLS1_2_VERSION, EVP_PKEY_RSA_PSS},
                      TlsCase{KeyType::kRsa2048, TLS1_3_VERSION, EVP_PKEY_RSA_PSS},
                      TlsCase{KeyType::kEcP256, TLS1_2_VERSION, EVP_PKEY_EC},
                      TlsCase{KeyType::kEcP256, TLS1_3_VERSION, EVP_PKEY_EC},
                      TlsCase{KeyType::kEcP384, TLS1_3_VERSION, EVP_PKEY_EC}));

TEST_F(TokenProviderTest, Tls12WithRsaPkcs1WhenTheServerAsksForIt) {
  ASSERT_OK_AND_ASSIGN(auto ca, testing::MakeCertificateAuthority(nullptr, "Test CA"));
  EVP_PKEY* key = TokenKey(KeyType::kRsa2048, "client");
  testing::SigningKey ca_signer{ca.key.get(), nullptr, "SHA256", false};
  ASSERT_OK_AND_ASSIGN(X509Ptr cert, testing::IssueCertificate(
                                         ca.certificate.get(), ca_signer, key,
                                         {"pkcs1-client", testing::CertificatePurpose::kClient, {}}));
  testing::TlsServerSettings server;
  server.tls_version = TLS1_2_VERSION;
  server.client_ca = ca.certificate.get();
  server.client_sigalgs = "RSA+SHA256";
  ASSERT_OK_AND_ASSIGN(auto result, testing::HandshakeWithClientKey(
                                        {libctx_.get(), key, cert.get()}, server));
  EXPECT_EQ(result.client_signature_type, EVP_PKEY_RSA);
  EXPECT_EQ(result.client_signature_digest, NID_sha256);
}

}  // namespace
}  // namespace keyhold
