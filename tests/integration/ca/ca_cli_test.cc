// The CA through the keyhold CLI (docs/ca.md's openssl-to-keyhold table):
// ca init, csr create, ca sign --chain --out, ca list --json, ca revoke and
// ca crl --out, each result checked with the openssl CLI. A fresh agent
// per test (CliTest).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/ca/ca_fixture.h"
#include "tests/integration/cli/cli_fixture.h"
#include "tests/status_matchers.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;

class CaCliTest : public CliTest {
 protected:
  // `keyhold ca init root-ca --generate ec-p256 ... --out root.pem`.
  void InitRoot() {
    CliResult r = Run({"ca", "init", "root-ca", "--generate", "ec-p256", "--subject",
                       absl::StrCat(kExampleSubject, "/CN=Example Root CA"), "--out",
                       dir_->File("root.pem")});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }

  // A token key `label`, its CSR (label.csr) and certificate with the
  // chain (label-chain.pem), all through the CLI.
  void IssueClient(const std::string& label) {
    Generate(label, "ec-p256", "tls-client");
    CliResult csr =
        Run({"csr", "create", label, "--subject", absl::StrCat(kExampleSubject, "/CN=", label),
             "--out", dir_->File(label + ".csr")});
    ASSERT_EQ(csr.exit_code, 0) << Describe(csr);
    CliResult sign =
        Run({"ca", "sign", "root-ca", "--profile", "client", "--csr", dir_->File(label + ".csr"),
             "--chain", "--out", dir_->File(label + "-chain.pem")});
    ASSERT_EQ(sign.exit_code, 0) << Describe(sign);
  }

  // The serial of the first certificate in `file`, as keyhold prints it.
  std::string SerialOf(const std::string& file) {
    absl::StatusOr<std::vector<X509Ptr>> certs = ParseCertificates(ReadWholeFile(file));
    EXPECT_THAT(certs, IsOk());
    return certs.ok() ? SerialHex((*certs)[0].get()) : "";
  }

  CommandResult Openssl(const std::vector<std::string>& args) {
    absl::StatusOr<CommandResult> r = RunOpenssl(args);
    return r.ok() ? *r : CommandResult{-1, r.status().ToString()};
  }
};

TEST_F(CaCliTest, InitWritesASelfSignedCaCertificate) {
  ASSERT_NO_FATAL_FAILURE(InitRoot());
  CommandResult verify = Openssl(
      {"verify", "-x509_strict", "-CAfile", dir_->File("root.pem"), dir_->File("root.pem")});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
  CommandResult text = Openssl({"x509", "-in", dir_->File("root.pem"), "-noout", "-text"});
  EXPECT_THAT(text.output, HasSubstr("CA:TRUE"));
  EXPECT_THAT(text.output,
              HasSubstr("Subject: C = BR, ST = SP, O = Example, CN = Example Root CA"));
}

TEST_F(CaCliTest, CsrCreateWritesARequestSignedByTheTokenKey) {
  Generate("client", "ec-p256", "tls-client");
  CliResult csr =
      Run({"csr", "create", "client", "--subject", absl::StrCat(kExampleSubject, "/CN=client"),
           "--out", dir_->File("client.csr")});
  ASSERT_EQ(csr.exit_code, 0) << Describe(csr);
  CommandResult verify = Openssl({"req", "-in", dir_->File("client.csr"), "-verify", "-noout"});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
  EXPECT_THAT(verify.output, HasSubstr("verify OK"));
  // The request's key is the token key's public half.
  CommandResult pub = Openssl({"req", "-in", dir_->File("client.csr"), "-pubkey", "-noout"});
  EXPECT_EQ(pub.output, ReadWholeFile(WritePublicKey("client")));
}

TEST_F(CaCliTest, SignWithChainWritesLeafThenRootAndTheLeafVerifies) {
  ASSERT_NO_FATAL_FAILURE(InitRoot());
  ASSERT_NO_FATAL_FAILURE(IssueClient("client"));
  ASSERT_OK_AND_ASSIGN(std::vector<X509Ptr> chain,
                       ParseCertificates(ReadWholeFile(dir_->File("client-chain.pem"))));
  ASSERT_OK_AND_ASSIGN(std::vector<X509Ptr> root,
                       ParseCertificates(ReadWholeFile(dir_->File("root.pem"))));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(X509_cmp(chain[1].get(), root[0].get()), 0);
  CommandResult verify = Openssl({"verify", "-x509_strict", "-purpose", "sslclient", "-CAfile",
                                  dir_->File("root.pem"), dir_->File("client-chain.pem")});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
}

TEST_F(CaCliTest, ListJsonShowsTheIssuedCertificate) {
  ASSERT_NO_FATAL_FAILURE(InitRoot());
  ASSERT_NO_FATAL_FAILURE(IssueClient("client"));
  const std::string serial = SerialOf(dir_->File("client-chain.pem"));
  // --json after the subcommand, as docs/cli.md allows.
  CliResult r = Run({"ca", "list", "root-ca", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  nlohmann::json list = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(list.is_object()) << r.out;
  EXPECT_EQ(list.value("ca", ""), "root-ca");
  ASSERT_TRUE(list["certificates"].is_array()) << r.out;
  nlohmann::json found;
  for (const nlohmann::json& c : list["certificates"]) {
    if (c.value("serial", "") == serial) found = c;
  }
  ASSERT_TRUE(found.is_object()) << "serial " << serial << " not in " << r.out;
  EXPECT_EQ(found.value("profile", ""), "client");
  EXPECT_EQ(found.value("status", ""), "valid");
  EXPECT_THAT(found.value("subject", ""), HasSubstr("CN=client"));
}

TEST_F(CaCliTest, RevokeThenCrlOutListsTheSerialAndVerifies) {
  ASSERT_NO_FATAL_FAILURE(InitRoot());
  ASSERT_NO_FATAL_FAILURE(IssueClient("client"));
  const std::string serial = SerialOf(dir_->File("client-chain.pem"));
  CliResult revoke =
      Run({"ca", "revoke", "root-ca", "--serial", serial, "--reason", "keyCompromise"});
  ASSERT_EQ(revoke.exit_code, 0) << Describe(revoke);
  EXPECT_THAT(revoke.out, HasSubstr(absl::StrCat("revoked ", serial)));
  CliResult crl = Run({"ca", "crl", "root-ca", "--out", dir_->File("root.crl")});
  ASSERT_EQ(crl.exit_code, 0) << Describe(crl);

  CommandResult verify =
      Openssl({"crl", "-in", dir_->File("root.crl"), "-CAfile", dir_->File("root.pem"), "-noout"});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
  EXPECT_THAT(verify.output, HasSubstr("verify OK"));
  CommandResult text = Openssl({"crl", "-in", dir_->File("root.crl"), "-noout", "-text"});
  EXPECT_THAT(text.output, HasSubstr(absl::StrCat("Serial Number: ", serial)));
  EXPECT_THAT(text.output, HasSubstr("Key Compromise"));
  nlohmann::json list = RunJson({"ca", "list", "root-ca"});
  ASSERT_TRUE(list["certificates"].is_array());
  for (const nlohmann::json& c : list["certificates"]) {
    if (c.value("serial", "") == serial) {
      EXPECT_EQ(c.value("status", ""), "revoked");
      EXPECT_EQ(c.value("revocation_reason", ""), "keyCompromise");
    }
  }
}

TEST_F(CaCliTest, SignRefusalExitsNonZeroAndWritesNoFile) {
  ASSERT_NO_FATAL_FAILURE(InitRoot());
  Generate("server", "ec-p256", "sign");
  CliResult csr =
      Run({"csr", "create", "server", "--subject", absl::StrCat(kExampleSubject, "/CN=server"),
           "--out", dir_->File("server.csr")});
  ASSERT_EQ(csr.exit_code, 0) << Describe(csr);
  // The server profile needs a subjectAltName; none given.
  CliResult sign = Run({"ca", "sign", "root-ca", "--profile", "server", "--csr",
                        dir_->File("server.csr"), "--out", dir_->File("server.pem")});
  EXPECT_EQ(sign.exit_code, 1) << Describe(sign);
  EXPECT_THAT(sign.err, HasSubstr("requires a subjectAltName"));
  EXPECT_EQ(access(dir_->File("server.pem").c_str(), F_OK), -1);
}

}  // namespace
}  // namespace keyhold::testing
