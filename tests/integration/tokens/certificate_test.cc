// Certificates stored next to token keys.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tests/integration/softhsm_token.h"
#include "tests/status_matchers.h"
#include "tokens/token.h"

namespace keyhold {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::SoftHsmToken;
using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;

// A certificate for `subject_key`, issued by a throwaway software key; the
// token only stores certificates, it does not check who issued them.
X509Ptr IssueFor(EVP_PKEY* subject_key, const char* cn) {
  EvpPkeyPtr issuer(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), subject_key);
  X509_sign(cert.get(), issuer.get(), EVP_sha256());
  return cert;
}

class CertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(hsm_, SoftHsmToken::Create());
    ASSERT_OK_AND_ASSIGN(token_, Token::Open(hsm_->config()));
    ASSERT_OK_AND_ASSIGN(key_, token_->GenerateKey("client", KeyType::kEcP256));
    ASSERT_OK_AND_ASSIGN(public_key_, token_->PublicKey(key_));
  }

  std::unique_ptr<SoftHsmToken> hsm_;
  std::unique_ptr<Token> token_;
  KeyInfo key_;
  EvpPkeyPtr public_key_;
};

TEST_F(CertificateTest, StoredCertificateComesBack) {
  X509Ptr cert = IssueFor(public_key_.get(), "client");
  ASSERT_THAT(token_->StoreCertificate(key_, cert.get()), IsOk());
  ASSERT_OK_AND_ASSIGN(X509Ptr found, token_->FindCertificate(key_));
  EXPECT_EQ(X509_cmp(found.get(), cert.get()), 0);
}

TEST_F(CertificateTest, StoringAgainReplacesTheOldCertificate) {
  X509Ptr first = IssueFor(public_key_.get(), "first");
  X509Ptr second = IssueFor(public_key_.get(), "second");
  ASSERT_THAT(token_->StoreCertificate(key_, first.get()), IsOk());
  ASSERT_THAT(token_->StoreCertificate(key_, second.get()), IsOk());
  ASSERT_OK_AND_ASSIGN(X509Ptr found, token_->FindCertificate(key_));
  EXPECT_EQ(X509_cmp(found.get(), second.get()), 0);
}

TEST_F(CertificateTest, CertificateForAnotherKeyIsRefused) {
  EvpPkeyPtr other(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert = IssueFor(other.get(), "impostor");
  EXPECT_THAT(token_->StoreCertificate(key_, cert.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not the public key")));
  EXPECT_THAT(token_->FindCertificate(key_),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no certificate")));
}

TEST_F(CertificateTest, DeleteCertificateKeepsTheKey) {
  X509Ptr cert = IssueFor(public_key_.get(), "client");
  ASSERT_THAT(token_->StoreCertificate(key_, cert.get()), IsOk());
  ASSERT_THAT(token_->DeleteCertificate(key_), IsOk());
  EXPECT_THAT(token_->FindCertificate(key_),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no certificate")));
  EXPECT_THAT(token_->FindKeyByLabel("client"), IsOk());
}

TEST_F(CertificateTest, DeletingTheKeyDeletesItsCertificate) {
  X509Ptr cert = IssueFor(public_key_.get(), "client");
  ASSERT_THAT(token_->StoreCertificate(key_, cert.get()), IsOk());
  ASSERT_THAT(token_->DeleteKey(key_), IsOk());
  EXPECT_THAT(token_->FindCertificate(key_),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no certificate")));
}

TEST_F(CertificateTest, EveryChangeToKeysOrCertificatesIsCounted) {
  // Caches in the agent drop what they hold when this count moves.
  const uint64_t start = token_->changes();
  X509Ptr cert = IssueFor(public_key_.get(), "client");
  ASSERT_THAT(token_->StoreCertificate(key_, cert.get()), IsOk());
  EXPECT_EQ(token_->changes(), start + 1);
  ASSERT_THAT(token_->DeleteCertificate(key_), IsOk());
  EXPECT_EQ(token_->changes(), start + 2);
  ASSERT_OK_AND_ASSIGN(KeyInfo other, token_->GenerateKey("other", KeyType::kEcP256));
  EXPECT_EQ(token_->changes(), start + 3);
  ASSERT_THAT(token_->DeleteKey(other), IsOk());
  EXPECT_EQ(token_->changes(), start + 4);
  // A refused change may have changed nothing, but is counted all the same.
  EXPECT_THAT(token_->DeleteKey(other),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not on the token")));
  EXPECT_EQ(token_->changes(), start + 5);
  // Reading changes nothing.
  ASSERT_OK_AND_ASSIGN(KeyInfo found, token_->FindKeyByLabel("client"));
  ASSERT_THAT(token_->NewSigner(found).status(), IsOk());
  EXPECT_EQ(token_->changes(), start + 5);
  // Nor does a request refused before the token is touched (so the agent
  // keeps its caches and TLS sessions): a bad label, a certificate for
  // another key.
  EXPECT_THAT(token_->GenerateKey("", KeyType::kEcP256).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EvpPkeyPtr stranger(EVP_EC_gen("P-256"));
  X509Ptr foreign = IssueFor(stranger.get(), "stranger");
  EXPECT_THAT(token_->StoreCertificate(key_, foreign.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_EQ(token_->changes(), start + 5);
}

}  // namespace
}  // namespace keyhold
