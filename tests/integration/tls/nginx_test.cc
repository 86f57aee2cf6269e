// Debian's nginx with `ssl_verify_client on` and the agent's root CA as
// `ssl_client_certificate`, answering "$ssl_client_s_dn": `keyhold
// request` with token keys gets in, curl without a certificate does not,
// and refused handshakes or policy denials never reach nginx as a request
// (its access log does not grow).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/integration/tls/peer_process.h"
#include "tests/integration/tls/tls_pki.h"
#include "tests/status_matchers.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;

class NginxPeerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TlsPki>> pki = TlsPki::Create();
    if (!pki.ok()) {
      setup_error_ = new std::string(pki.status().ToString());
      return;
    }
    pki_ = pki->release();
    absl::StatusOr<std::unique_ptr<PeerProcess>> nginx =
        StartNginx(pki_->File("nginx"), pki_->Server());
    if (!nginx.ok()) {
      setup_error_ = new std::string(nginx.status().ToString());
      return;
    }
    nginx_ = nginx->release();
  }
  static void TearDownTestSuite() {
    delete nginx_;
    nginx_ = nullptr;
    delete pki_;
    pki_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(nginx_, nullptr) << "setting up: " << (setup_error_ ? *setup_error_ : "");
  }

  static std::string Url(const std::string& host = "localhost") {
    return absl::StrCat("https://", host, ":", nginx_->port(), "/whoami");
  }
  static std::string AccessLog() { return pki_->File("nginx/access.log"); }

  // `keyhold request URL --key KEY --cacert root.pem extra...`
  static CliResult Request(const std::string& key, std::vector<std::string> extra = {},
                           const std::string& cacert = "root.pem") {
    std::vector<std::string> args = {"request", Url(),      "--key",
                                     key,       "--cacert", pki_->File(cacert)};
    args.insert(args.end(), extra.begin(), extra.end());
    return pki_->Keyhold(args);
  }

  static TlsPki* pki_;
  static PeerProcess* nginx_;
  static std::string* setup_error_;
};

TlsPki* NginxPeerTest::pki_ = nullptr;
PeerProcess* NginxPeerTest::nginx_ = nullptr;
std::string* NginxPeerTest::setup_error_ = nullptr;

TEST_F(NginxPeerTest, EcTokenKeyGets200AndNginxSeesItsCertificateSubject) {
  CliResult r = Request("client", {"-i"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("HTTP/1.1 200 OK"));
  // nginx's $ssl_client_s_dn, RFC 2253: the token key's certificate.
  EXPECT_THAT(r.out, HasSubstr("CN=client,O=Example,ST=SP,C=BR\n"));
}

TEST_F(NginxPeerTest, RsaTokenKeyGets200) {
  CliResult r = Request("client2");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "CN=client2,O=Example,ST=SP,C=BR\n");
}

TEST_F(NginxPeerTest, CertificateGivenWithCertFlagIsUsed) {
  CliResult r = Request("client2", {"--cert", pki_->File("client2.pem")});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "CN=client2,O=Example,ST=SP,C=BR\n");
}

TEST_F(NginxPeerTest, CertificateOfAnotherKeyIsRefusedBeforeDialing) {
  const size_t errors_before = SettledLineCount(pki_->File("nginx/error.log"));
  CliResult r = Request("client", {"--cert", pki_->File("client2.pem")});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("the client key does not fit the client certificate"));
  EXPECT_EQ(SettledLineCount(pki_->File("nginx/error.log")), errors_before);
}

TEST_F(NginxPeerTest, HandshakeIsAnAuditLineWithKeyTargetProtocolAndPeer) {
  CliResult r = Request("client");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string audit = pki_->agent.process->ReadAuditLog();
  EXPECT_THAT(audit, HasSubstr("\"op\":\"TlsService.Request\""));
  EXPECT_THAT(audit, HasSubstr(absl::StrCat("target=localhost:", nginx_->port())));
  EXPECT_THAT(audit, HasSubstr("protocol=TLSv1.3"));
  EXPECT_THAT(audit, HasSubstr("CN=localhost"));
  EXPECT_THAT(audit, HasSubstr("status=200"));
  EXPECT_THAT(audit, HasSubstr("\"label\":\"client\""));
}

TEST_F(NginxPeerTest, CurlWithoutClientCertificateGets400NoRequiredCertificate) {
  absl::StatusOr<CommandResult> r =
      RunProgram({kCurlBinary, "-sS", "--cacert", pki_->File("root.pem"), "-w",
                  "\nhttp_code=%{http_code}\n", Url()});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 0) << Describe(*r);
  EXPECT_THAT(r->output, HasSubstr("http_code=400"));
  EXPECT_THAT(r->output, HasSubstr("No required SSL certificate was sent"));
}

TEST_F(NginxPeerTest, WrongTrustBundleNamesVerificationFailureAndSendsNothing) {
  const size_t before = SettledLineCount(AccessLog());
  CliResult r = Request("client", {}, "other-root.pem");
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("server certificate verification failed"));
  EXPECT_THAT(r.err, HasSubstr("unable to get local issuer certificate"));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(SettledLineCount(AccessLog()), before) << "nginx saw a request";
}

TEST_F(NginxPeerTest, WrongServerNameIsRefusedAsHostnameMismatch) {
  const size_t before = SettledLineCount(AccessLog());
  CliResult r = Request("client", {"--sni", "wrong.example"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("hostname mismatch"));
  EXPECT_THAT(r.err, HasSubstr("wrong.example"));
  EXPECT_EQ(SettledLineCount(AccessLog()), before) << "nginx saw a request";
}

TEST_F(NginxPeerTest, ServerNameOutsideKeyPolicyIsDeniedAndNeverDialed) {
  // client2 may dial localhost, but not ask it for another virtual host.
  const size_t before = SettledLineCount(AccessLog());
  const size_t errors_before = SettledLineCount(pki_->File("nginx/error.log"));
  CliResult r = Request("client2", {"--sni", "wrong.example"});
  EXPECT_EQ(r.exit_code, 4) << Describe(r);  // PERMISSION_DENIED
  EXPECT_THAT(r.err, HasSubstr("may not dial"));
  EXPECT_THAT(r.err, HasSubstr("with SNI wrong.example"));
  EXPECT_EQ(SettledLineCount(AccessLog()), before);
  EXPECT_EQ(SettledLineCount(pki_->File("nginx/error.log")), errors_before);
}

TEST_F(NginxPeerTest, TargetOutsideKeyPolicyIsDeniedAuditedAndNeverDialed) {
  const size_t requests_before = SettledLineCount(AccessLog());
  // nginx logs every connection it had trouble with here (level info).
  const size_t errors_before = SettledLineCount(pki_->File("nginx/error.log"));
  CliResult r = Request("fenced");
  EXPECT_EQ(r.exit_code, 4) << Describe(r);  // PERMISSION_DENIED
  EXPECT_THAT(r.err, HasSubstr("may not dial"));
  EXPECT_THAT(r.err, HasSubstr("api.partner.example:443"));
  const std::string audit = pki_->agent.process->ReadAuditLog();
  EXPECT_THAT(audit, HasSubstr("\"label\":\"fenced\""));
  EXPECT_THAT(audit, HasSubstr("\"result\":\"denied\""));
  EXPECT_THAT(audit, HasSubstr("may not dial localhost:"));
  EXPECT_EQ(SettledLineCount(AccessLog()), requests_before);
  EXPECT_EQ(SettledLineCount(pki_->File("nginx/error.log")), errors_before);
}

}  // namespace
}  // namespace keyhold::testing
