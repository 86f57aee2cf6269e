// X509_REQ_sign_ctx, X509_sign_ctx and X509_CRL_sign_ctx with keyhold keys
// produce CSRs, certificates and CRLs that OpenSSL (library and command
// line) verifies, and libssl-style key/certificate matching works.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <optional>

#include <openssl/err.h>

#include "tests/status_matchers.h"
#include "tests/testing/openssl_cli.h"
#include "tests/testing/test_pki.h"
#include "tests/unit/tokens/provider/provider_fixture.h"
#include "tokens/openssl_error.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;

struct SignerCase {
  std::string name;
  KeyType type;
  bool rsa_pss = false;
  int expected_signature_nid = NID_undef;
  friend void PrintTo(const SignerCase& c, std::ostream* os) { *os << c.name; }
};

std::string CaseName(const ::testing::TestParamInfo<SignerCase>& param_info) {
  return param_info.param.name;
}

class KeyholdSignsX509Test : public ProviderFixture,
                             public ::testing::WithParamInterface<SignerCase> {
 protected:
  SigningKey Signing(EVP_PKEY* key) const {
    return {.key = key, .libctx = libctx(), .rsa_pss = GetParam().rsa_pss};
  }
};

TEST_P(KeyholdSignsX509Test, CsrVerifiesWithSignerPublicKey) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request,
                       MakeCertificateRequest(Signing(key.key.get()), "csr"));
  EXPECT_EQ(X509_REQ_verify(request.get(), key.signer->PublicKey()), 1)
      << DrainOpenSslErrors();
}

TEST_P(KeyholdSignsX509Test, CsrNamesTheSignatureAlgorithm) {
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request,
                       MakeCertificateRequest(Signing(key.key.get()), "csr"));
  EXPECT_EQ(X509_REQ_get_signature_nid(request.get()),
            GetParam().expected_signature_nid);
}

TEST_P(KeyholdSignsX509Test, CaCertificateAndLeafVerify) {
  ASSERT_OK_AND_ASSIGN(SignerKey ca_key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(
      X509Ptr ca, MakeCaCertificate(Signing(ca_key.key.get()), "keyhold CA"));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr leaf_key,
                       GenerateTestKey(nullptr, KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(
      X509Ptr leaf, IssueCertificate(ca.get(), Signing(ca_key.key.get()),
                                     leaf_key.get(), {.common_name = "leaf"}));
  EXPECT_THAT(VerifyCertificate(leaf.get(), ca.get()), IsOk());
}

TEST_P(KeyholdSignsX509Test, CrlVerifiesAndRevokes) {
  ASSERT_OK_AND_ASSIGN(SignerKey ca_key, MakeSignerKey(GetParam().type));
  ASSERT_OK_AND_ASSIGN(
      X509Ptr ca, MakeCaCertificate(Signing(ca_key.key.get()), "keyhold CA"));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr leaf_key,
                       GenerateTestKey(nullptr, KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(
      X509Ptr leaf, IssueCertificate(ca.get(), Signing(ca_key.key.get()),
                                     leaf_key.get(), {.common_name = "leaf"}));
  ASSERT_OK_AND_ASSIGN(
      X509CrlPtr crl,
      MakeCrl(ca.get(), Signing(ca_key.key.get()), {leaf.get()}));
  EXPECT_EQ(X509_CRL_verify(crl.get(), ca_key.signer->PublicKey()), 1);
  EXPECT_THAT(
      VerifyCertificate(leaf.get(), ca.get(), crl.get()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("revoked")));
}

INSTANTIATE_TEST_SUITE_P(
    Signers, KeyholdSignsX509Test,
    ::testing::Values(
        SignerCase{"RsaPkcs1", KeyType::kRsa2048, false,
                   NID_sha256WithRSAEncryption},
        SignerCase{"RsaPss", KeyType::kRsa2048, true, NID_rsassaPss},
        SignerCase{"EcdsaP256", KeyType::kEcP256, false, NID_ecdsa_with_SHA256},
        SignerCase{"EcdsaP384", KeyType::kEcP384, false, NID_ecdsa_with_SHA256},
        SignerCase{"Ed25519", KeyType::kEd25519, false, NID_ED25519}),
    CaseName);

// ---- Key and certificate matching ------------------------------------------

using CertificateMatchTest = ProviderFixture;

TEST_F(CertificateMatchTest, CertificateKeyEqualsKeyholdKey) {
  ASSERT_OK_AND_ASSIGN(CertificateAuthority ca,
                       MakeCertificateAuthority(nullptr, "software CA"));
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kRsa2048));
  ASSERT_OK_AND_ASSIGN(
      X509Ptr certificate,
      IssueCertificate(ca.certificate.get(), {.key = ca.key.get()},
                       key.key.get(), {.common_name = "client"}));
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(certificate.get()), key.key.get()), 1);
  EXPECT_EQ(EVP_PKEY_eq(key.key.get(), X509_get0_pubkey(certificate.get())), 1);
}

TEST_F(CertificateMatchTest, CheckPrivateKeyAcceptsMatchingKeyholdKey) {
  ASSERT_OK_AND_ASSIGN(CertificateAuthority ca,
                       MakeCertificateAuthority(nullptr, "software CA"));
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(
      X509Ptr certificate,
      IssueCertificate(ca.certificate.get(), {.key = ca.key.get()},
                       key.key.get(), {.common_name = "client"}));
  EXPECT_EQ(X509_check_private_key(certificate.get(), key.key.get()), 1)
      << DrainOpenSslErrors();
}

TEST_F(CertificateMatchTest, CheckPrivateKeyRejectsOtherKey) {
  ASSERT_OK_AND_ASSIGN(CertificateAuthority ca,
                       MakeCertificateAuthority(nullptr, "software CA"));
  ASSERT_OK_AND_ASSIGN(SignerKey key, MakeSignerKey(KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr other,
                       GenerateTestKey(nullptr, KeyType::kEcP256));
  ASSERT_OK_AND_ASSIGN(
      X509Ptr certificate,
      IssueCertificate(ca.certificate.get(), {.key = ca.key.get()}, other.get(),
                       {.common_name = "someone else"}));
  EXPECT_EQ(X509_check_private_key(certificate.get(), key.key.get()), 0);
  ERR_clear_error();
}

// ---- The openssl command agrees ---------------------------------------------

class OpensslCliTest : public ProviderFixture {
 protected:
  void SetUp() override {
    ProviderFixture::SetUp();
    ASSERT_OK_AND_ASSIGN(TempDirectory dir, TempDirectory::Create());
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(key_, MakeSignerKey(KeyType::kEcP256));
    ASSERT_OK_AND_ASSIGN(ca_, MakeCaCertificate(signing(), "keyhold CLI CA"));
    ASSERT_THAT(WriteCertificatePem(dir_->File("ca.pem"), ca_.get()), IsOk());
  }
  SigningKey signing() const {
    return {.key = key_.key.get(), .libctx = libctx()};
  }

  std::optional<TempDirectory> dir_;
  SignerKey key_;
  X509Ptr ca_;
};

TEST_F(OpensslCliTest, VerifiesCertificateChain) {
  ASSERT_OK_AND_ASSIGN(EvpPkeyPtr leaf_key,
                       GenerateTestKey(nullptr, KeyType::kRsa2048));
  ASSERT_OK_AND_ASSIGN(X509Ptr leaf,
                       IssueCertificate(ca_.get(), signing(), leaf_key.get(),
                                        {.common_name = "cli leaf"}));
  ASSERT_THAT(WriteCertificatePem(dir_->File("leaf.pem"), leaf.get()), IsOk());
  ASSERT_OK_AND_ASSIGN(CommandResult result,
                       RunOpenssl({"verify", "-CAfile", dir_->File("ca.pem"),
                                   dir_->File("leaf.pem")}));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr(": OK"));
}

TEST_F(OpensslCliTest, VerifiesCsrSelfSignature) {
  ASSERT_OK_AND_ASSIGN(X509ReqPtr request,
                       MakeCertificateRequest(signing(), "cli csr"));
  ASSERT_THAT(WriteCertificateRequestPem(dir_->File("csr.pem"), request.get()),
              IsOk());
  ASSERT_OK_AND_ASSIGN(
      CommandResult result,
      RunOpenssl({"req", "-in", dir_->File("csr.pem"), "-verify", "-noout"}));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("verify OK"));
}

TEST_F(OpensslCliTest, VerifiesCrlSignature) {
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, MakeCrl(ca_.get(), signing(), {}));
  ASSERT_THAT(WriteCrlPem(dir_->File("crl.pem"), crl.get()), IsOk());
  ASSERT_OK_AND_ASSIGN(CommandResult result,
                       RunOpenssl({"crl", "-in", dir_->File("crl.pem"),
                                   "-CAfile", dir_->File("ca.pem"), "-noout"}));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("verify OK"));
}

// The public key PEM written from the keyhold key is the one openssl reads
// out of the certificate that key signed for itself.
TEST_F(OpensslCliTest, PublicKeyPemMatchesCertificate) {
  ASSERT_THAT(WritePublicKeyPem(dir_->File("key.pem"), key_.key.get()), IsOk());
  ASSERT_OK_AND_ASSIGN(
      CommandResult from_cert,
      RunOpenssl({"x509", "-in", dir_->File("ca.pem"), "-noout", "-pubkey"}));
  ASSERT_EQ(from_cert.exit_code, 0) << from_cert.output;
  std::ifstream file(dir_->File("key.pem"));
  const std::string written((std::istreambuf_iterator<char>(file)), {});
  EXPECT_THAT(written, HasSubstr("BEGIN PUBLIC KEY"));
  EXPECT_EQ(written, from_cert.output);
}

}  // namespace
}  // namespace keyhold::testing
