// Revocation and CRLs, checked with `openssl crl` / `openssl verify
// -crl_check`; the CRL number's persistence across an agent restart. A
// fresh agent per test: CRL numbers are per registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/ca/ca_fixture.h"
#include "tests/status_matchers.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The cRLNumber extension of `crl`, or -1.
long CrlNumber(X509_CRL* crl) {
  Asn1IntegerPtr number(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr)));
  return number ? ASN1_INTEGER_get(number.get()) : -1;
}

class CaCrlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(agent_, CaAgent::Start());
    ASSERT_OK_AND_ASSIGN(dir_, TempDirectory::Create());
    ASSERT_OK_AND_ASSIGN(v1::CaCertificate root,
                         agent_->client->InitCa(
                             InitCaRequest("root-ca", v1::KEY_TYPE_EC_P256,
                                           absl::StrCat(kExampleSubject, "/CN=Example Root CA"))));
    ASSERT_THAT(WriteFile(dir_->File("root.pem"), root.certificate_pem()), IsOk());
    for (const char* label : {"client", "client2"}) {
      ASSERT_OK_AND_ASSIGN(std::string csr,
                           CsrForNewTokenKey(*agent_->client, label, v1::KEY_TYPE_EC_P256,
                                             v1::KEY_PURPOSE_TLS_CLIENT,
                                             absl::StrCat(kExampleSubject, "/CN=", label)));
      ASSERT_OK_AND_ASSIGN(v1::SignCsrResponse issued,
                           agent_->client->SignCsr(SignRequest("root-ca", "client", csr)));
      ASSERT_THAT(WriteFile(dir_->File(absl::StrCat(label, ".pem")), issued.certificate_pem()),
                  IsOk());
      serials_.push_back(issued.record().serial_hex());
    }
  }

  absl::StatusOr<v1::IssuedCertificate> RevokeClient() {
    v1::RevokeRequest request;
    request.set_ca("root-ca");
    request.set_serial_hex(serials_[0]);
    request.set_reason("keyCompromise");
    return agent_->client->Revoke(request);
  }

  // GenerateCrl, written to dir_/name.
  absl::StatusOr<v1::GenerateCrlResponse> Crl(const std::string& name = "crl.pem") {
    v1::GenerateCrlRequest request;
    request.set_ca("root-ca");
    absl::StatusOr<v1::GenerateCrlResponse> crl = agent_->client->GenerateCrl(request);
    if (crl.ok()) {
      if (absl::Status s = WriteFile(dir_->File(name), crl->crl_pem()); !s.ok()) return s;
    }
    return crl;
  }

  std::optional<CaAgent> agent_;
  std::optional<TempDirectory> dir_;
  std::vector<std::string> serials_;  // client.pem's, client2.pem's
};

TEST_F(CaCrlTest, RevokeReturnsTheRecordMarkedRevokedWithItsReason) {
  ASSERT_OK_AND_ASSIGN(v1::IssuedCertificate record, RevokeClient());
  EXPECT_EQ(record.serial_hex(), serials_[0]);
  EXPECT_TRUE(record.revoked());
  EXPECT_EQ(record.revocation_reason(), "keyCompromise");
  EXPECT_GT(record.revoked_at(), 0);
}

TEST_F(CaCrlTest, CrlSignatureVerifiesAgainstTheRoot) {
  ASSERT_THAT(RevokeClient(), IsOk());
  ASSERT_THAT(Crl(), IsOk());
  ASSERT_OK_AND_ASSIGN(CommandResult r, RunOpenssl({"crl", "-in", dir_->File("crl.pem"), "-CAfile",
                                                    dir_->File("root.pem"), "-noout"}));
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.output, HasSubstr("verify OK"));
}

TEST_F(CaCrlTest, CrlListsTheRevokedSerialWithKeyCompromiseAndNoOther) {
  ASSERT_THAT(RevokeClient(), IsOk());
  ASSERT_THAT(Crl(), IsOk());
  ASSERT_OK_AND_ASSIGN(CommandResult r,
                       RunOpenssl({"crl", "-in", dir_->File("crl.pem"), "-text", "-noout"}));
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("Serial Number: ", serials_[0])));
  EXPECT_THAT(r.output, HasSubstr("Key Compromise"));
  EXPECT_THAT(r.output, Not(HasSubstr(serials_[1])));
  EXPECT_THAT(r.output, HasSubstr("Version 2"));
  EXPECT_THAT(r.output, HasSubstr("X509v3 Authority Key Identifier"));
}

TEST_F(CaCrlTest, OpensslCrlCheckRefusesOnlyTheRevokedCertificate) {
  ASSERT_THAT(RevokeClient(), IsOk());
  ASSERT_THAT(Crl(), IsOk());
  const std::vector<std::string> args = {
      "verify",   "-x509_strict",       "-crl_check", "-CAfile", dir_->File("root.pem"),
      "-CRLfile", dir_->File("crl.pem")};
  std::vector<std::string> revoked = args;
  revoked.push_back(dir_->File("client.pem"));
  ASSERT_OK_AND_ASSIGN(CommandResult refused, RunOpenssl(revoked));
  EXPECT_NE(refused.exit_code, 0) << Describe(refused);
  EXPECT_THAT(refused.output, HasSubstr("certificate revoked"));
  std::vector<std::string> valid = args;
  valid.push_back(dir_->File("client2.pem"));
  ASSERT_OK_AND_ASSIGN(CommandResult accepted, RunOpenssl(valid));
  EXPECT_EQ(accepted.exit_code, 0) << Describe(accepted);
}

TEST_F(CaCrlTest, CrlNumberIncreasesByOneWithEachCrl) {
  ASSERT_OK_AND_ASSIGN(v1::GenerateCrlResponse first, Crl("crl1.pem"));
  ASSERT_OK_AND_ASSIGN(v1::GenerateCrlResponse second, Crl("crl2.pem"));
  EXPECT_EQ(first.crl_number(), 1u);
  EXPECT_EQ(second.crl_number(), 2u);
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl1, ParseCrl(first.crl_pem()));
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl2, ParseCrl(second.crl_pem()));
  EXPECT_EQ(CrlNumber(crl1.get()), 1);
  EXPECT_EQ(CrlNumber(crl2.get()), 2);
}

TEST_F(CaCrlTest, CrlNumberContinuesAfterAnAgentRestart) {
  ASSERT_OK_AND_ASSIGN(v1::GenerateCrlResponse before, Crl("crl1.pem"));
  ASSERT_THAT(agent_->Restart(), IsOk());
  ASSERT_OK_AND_ASSIGN(v1::GenerateCrlResponse after, Crl("crl2.pem"));
  EXPECT_EQ(before.crl_number(), 1u);
  EXPECT_EQ(after.crl_number(), 2u);
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl2, ParseCrl(after.crl_pem()));
  EXPECT_EQ(CrlNumber(crl2.get()), 2);
}

TEST_F(CaCrlTest, RevocationSurvivesAnAgentRestart) {
  ASSERT_THAT(RevokeClient(), IsOk());
  ASSERT_THAT(agent_->Restart(), IsOk());
  ASSERT_THAT(Crl(), IsOk());
  ASSERT_OK_AND_ASSIGN(CommandResult r,
                       RunOpenssl({"crl", "-in", dir_->File("crl.pem"), "-text", "-noout"}));
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("Serial Number: ", serials_[0])));
  EXPECT_THAT(r.output, HasSubstr("Key Compromise"));
}

// SIGKILL, then Restart() reaps the agent and starts it again.
TEST_F(CaCrlTest, RevocationSurvivesSigkill) {
  ASSERT_THAT(RevokeClient(), IsOk());
  ASSERT_EQ(kill(agent_->process->pid(), SIGKILL), 0);
  ASSERT_THAT(agent_->Restart(), IsOk());
  ASSERT_THAT(Crl(), IsOk());
  ASSERT_OK_AND_ASSIGN(CommandResult r,
                       RunOpenssl({"crl", "-in", dir_->File("crl.pem"), "-text", "-noout"}));
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("Serial Number: ", serials_[0])));
}

TEST_F(CaCrlTest, CrlNumberContinuesAfterSigkill) {
  ASSERT_OK_AND_ASSIGN(v1::GenerateCrlResponse before, Crl("crl1.pem"));
  ASSERT_EQ(kill(agent_->process->pid(), SIGKILL), 0);
  ASSERT_THAT(agent_->Restart(), IsOk());
  ASSERT_OK_AND_ASSIGN(v1::GenerateCrlResponse after, Crl("crl2.pem"));
  EXPECT_EQ(before.crl_number(), 1u);
  EXPECT_EQ(after.crl_number(), 2u);
}

TEST_F(CaCrlTest, RevokingTwiceIsRefused) {
  ASSERT_THAT(RevokeClient(), IsOk());
  EXPECT_THAT(RevokeClient(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already revoked")));
}

TEST_F(CaCrlTest, CrlIsValidForThirtyDaysByDefault) {
  ASSERT_OK_AND_ASSIGN(v1::GenerateCrlResponse response, Crl());
  ASSERT_OK_AND_ASSIGN(X509CrlPtr crl, ParseCrl(response.crl_pem()));
  EXPECT_EQ(X509_CRL_get_version(crl.get()), X509_CRL_VERSION_2);
  int days = -1;
  int seconds = -1;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_CRL_get0_lastUpdate(crl.get()),
                           X509_CRL_get0_nextUpdate(crl.get())),
            1);
  EXPECT_EQ(days, 30);
  EXPECT_EQ(seconds, 0);
}

}  // namespace
}  // namespace keyhold::testing
