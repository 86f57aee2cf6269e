// What the CA issues, judged by implementations nobody here wrote: the
// openssl CLI (verify -x509_strict), GnuTLS certtool (--verify-chain) and
// pyca/cryptography (each extension read back). One agent per suite: the
// PKI is built once in SetUpTestSuite and only read by the tests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/ca/ca_fixture.h"
#include "tests/integration/cli/cli_fixture.h"
#include "tests/status_matchers.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kServerAuthOid[] = "1.3.6.1.5.5.7.3.1";
constexpr char kClientAuthOid[] = "1.3.6.1.5.5.7.3.2";

// Files in dir: root.pem (EC P-256 root), server.pem, client.pem (EC
// P-256 token key), client2.pem (RSA-2048 token key), each also as
// NAME-chain.pem (leaf then root); rsa-root.pem, issuing.pem (its EC
// intermediate), leaf.pem and leaf-chain.pem (leaf, intermediate, root as
// SignCsr's include_chain returned them).
struct Pki {
  CaAgent agent;
  TempDirectory dir;
  std::string leaf_chain_pem;  // SignCsrResponse.chain_pem for leaf.pem
};

class CaInteropTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Pki>> pki = BuildPki();
    if (pki.ok()) {
      pki_ = pki->release();
    } else {
      setup_error_ = new std::string(pki.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(pki_, nullptr) << "building the PKI failed: " << (setup_error_ ? *setup_error_ : "");
  }

  static std::string File(const std::string& name) { return pki_->dir.File(name); }

  static absl::StatusOr<std::unique_ptr<Pki>> BuildPki();
  static absl::Status Issue(Pki& pki, const std::string& ca, const std::string& label,
                            v1::KeyType type, v1::KeyPurpose purpose, const std::string& profile,
                            const std::string& cn, const std::vector<std::string>& csr_sans,
                            const std::vector<std::string>& sign_sans);

  // Runs `openssl verify -x509_strict ...`; the result.
  static CommandResult OpensslVerify(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"verify", "-x509_strict"};
    all.insert(all.end(), args.begin(), args.end());
    absl::StatusOr<CommandResult> r = RunOpenssl(all);
    return r.ok() ? *r : CommandResult{-1, r.status().ToString()};
  }

  static CommandResult Certtool(const std::vector<std::string>& args) {
    std::vector<std::string> all = {kCerttoolBinary};
    all.insert(all.end(), args.begin(), args.end());
    absl::StatusOr<CommandResult> r = RunProgram(all);
    return r.ok() ? *r : CommandResult{-1, r.status().ToString()};
  }

  static Pki* pki_;
  static std::string* setup_error_;
};

Pki* CaInteropTest::pki_ = nullptr;
std::string* CaInteropTest::setup_error_ = nullptr;

absl::Status CaInteropTest::Issue(Pki& pki, const std::string& ca, const std::string& label,
                                  v1::KeyType type, v1::KeyPurpose purpose,
                                  const std::string& profile, const std::string& cn,
                                  const std::vector<std::string>& csr_sans,
                                  const std::vector<std::string>& sign_sans) {
  absl::StatusOr<std::string> csr = CsrForNewTokenKey(
      *pki.agent.client, label, type, purpose, absl::StrCat(kExampleSubject, "/CN=", cn), csr_sans);
  if (!csr.ok()) return csr.status();
  v1::SignCsrRequest request = SignRequest(ca, profile, *csr);
  for (const std::string& san : sign_sans) request.add_subject_alt_names(san);
  request.set_include_chain(true);
  absl::StatusOr<v1::SignCsrResponse> issued = pki.agent.client->SignCsr(request);
  if (!issued.ok()) return issued.status();
  if (absl::Status s = WriteFile(pki.dir.File(label + ".pem"), issued->certificate_pem());
      !s.ok()) {
    return s;
  }
  if (label == "leaf") pki.leaf_chain_pem = issued->chain_pem();
  return WriteFile(pki.dir.File(label + "-chain.pem"),
                   issued->certificate_pem() + issued->chain_pem());
}

absl::StatusOr<std::unique_ptr<Pki>> CaInteropTest::BuildPki() {
  absl::StatusOr<CaAgent> agent = CaAgent::Start();
  if (!agent.ok()) return agent.status();
  absl::StatusOr<TempDirectory> dir = TempDirectory::Create();
  if (!dir.ok()) return dir.status();
  auto pki = std::make_unique<Pki>(Pki{*std::move(agent), *std::move(dir), ""});
  client::AgentClient& client = *pki->agent.client;

  struct Ca {
    const char* label;
    v1::KeyType type;
    const char* cn;
    const char* parent;
    const char* file;
  };
  for (const Ca& ca :
       {Ca{"root-ca", v1::KEY_TYPE_EC_P256, "Example Root CA", "", "root.pem"},
        Ca{"rsa-root", v1::KEY_TYPE_RSA_2048, "Example RSA Root CA", "", "rsa-root.pem"},
        Ca{"issuing-ca", v1::KEY_TYPE_EC_P256, "Example Issuing CA", "rsa-root", "issuing.pem"}}) {
    absl::StatusOr<v1::CaCertificate> made = client.InitCa(
        InitCaRequest(ca.label, ca.type, absl::StrCat(kExampleSubject, "/CN=", ca.cn), ca.parent));
    if (!made.ok()) return made.status();
    if (absl::Status s = WriteFile(pki->dir.File(ca.file), made->certificate_pem()); !s.ok()) {
      return s;
    }
  }
  // The server's SANs come half from its CSR, half from the signing request.
  if (absl::Status s = Issue(*pki, "root-ca", "server", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN,
                             "server", "localhost", {"DNS:localhost"}, {"IP:127.0.0.1"});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Issue(*pki, "root-ca", "client", v1::KEY_TYPE_EC_P256,
                             v1::KEY_PURPOSE_TLS_CLIENT, "client", "client", {}, {});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Issue(*pki, "root-ca", "client2", v1::KEY_TYPE_RSA_2048,
                             v1::KEY_PURPOSE_TLS_CLIENT, "client", "client2", {}, {});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Issue(*pki, "issuing-ca", "leaf", v1::KEY_TYPE_EC_P256,
                             v1::KEY_PURPOSE_TLS_CLIENT, "client", "leaf", {}, {});
      !s.ok()) {
    return s;
  }
  return pki;
}

// --- openssl verify -x509_strict ---------------------------------------------

TEST_F(CaInteropTest, OpensslVerifiesServerCertificateForSslServer) {
  CommandResult r =
      OpensslVerify({"-purpose", "sslserver", "-CAfile", File("root.pem"), File("server.pem")});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.output, HasSubstr("server.pem: OK"));
}

TEST_F(CaInteropTest, OpensslMatchesServerCertificateToLocalhostAndLoopback) {
  CommandResult r =
      OpensslVerify({"-purpose", "sslserver", "-verify_hostname", "localhost", "-verify_ip",
                     "127.0.0.1", "-CAfile", File("root.pem"), File("server.pem")});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
}

TEST_F(CaInteropTest, OpensslVerifiesClientCertificatesForSslClient) {
  CommandResult r = OpensslVerify({"-purpose", "sslclient", "-CAfile", File("root.pem"),
                                   File("client.pem"), File("client2.pem")});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.output, HasSubstr("client.pem: OK"));
  EXPECT_THAT(r.output, HasSubstr("client2.pem: OK"));
}

TEST_F(CaInteropTest, OpensslRefusesClientCertificateForSslServer) {
  CommandResult r =
      OpensslVerify({"-purpose", "sslserver", "-CAfile", File("root.pem"), File("client.pem")});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.output, HasSubstr("unsuitable certificate purpose"));
}

TEST_F(CaInteropTest, OpensslVerifiesRsaRootIntermediateLeafChain) {
  CommandResult r = OpensslVerify({"-purpose", "sslclient", "-CAfile", File("rsa-root.pem"),
                                   "-untrusted", File("issuing.pem"), File("leaf.pem")});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.output, HasSubstr("leaf.pem: OK"));
}

TEST_F(CaInteropTest, OpensslRefusesLeafWithoutItsIntermediate) {
  CommandResult r = OpensslVerify({"-CAfile", File("rsa-root.pem"), File("leaf.pem")});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
}

// --- validity, read with OpenSSL ------------------------------------------------

// notAfter - notBefore of the first certificate in `file`, as (days, seconds).
std::pair<int, int> ValiditySpan(const std::string& file) {
  absl::StatusOr<std::vector<X509Ptr>> certs = ParseCertificates(ReadWholeFile(file));
  EXPECT_THAT(certs, IsOk());
  if (!certs.ok()) return {-1, -1};
  int days = -1;
  int seconds = -1;
  X509* cert = (*certs)[0].get();
  EXPECT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert), X509_get0_notAfter(cert)),
            1);
  return {days, seconds};
}

TEST_F(CaInteropTest, ClientCertificateRunsTheProfileDefaultFromOneMinuteAgo) {
  // docs/ca.md: notBefore one minute in the past, notAfter 365 days from now.
  EXPECT_EQ(ValiditySpan(File("client.pem")), std::make_pair(365, 60));
}

TEST_F(CaInteropTest, RootRunsTenYearsByDefault) {
  EXPECT_EQ(ValiditySpan(File("root.pem")), std::make_pair(3650, 60));
}

// --- GnuTLS certtool ---------------------------------------------------------

TEST_F(CaInteropTest, CerttoolVerifiesServerChainForLocalhost) {
  CommandResult r = Certtool({"--verify-chain", "--verify-hostname=localhost",
                              absl::StrCat("--verify-purpose=", kServerAuthOid), "--infile",
                              File("server-chain.pem")});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.output, HasSubstr("Chain verification output: Verified."));
  EXPECT_THAT(r.output, Not(HasSubstr("Not verified")));
}

TEST_F(CaInteropTest, CerttoolVerifiesClientChains) {
  for (const char* chain : {"client-chain.pem", "client2-chain.pem"}) {
    CommandResult r = Certtool({"--verify-chain", absl::StrCat("--verify-purpose=", kClientAuthOid),
                                "--infile", File(chain)});
    EXPECT_EQ(r.exit_code, 0) << chain << ": " << Describe(r);
    EXPECT_THAT(r.output, HasSubstr("Chain verification output: Verified.")) << chain;
    EXPECT_THAT(r.output, Not(HasSubstr("Not verified"))) << chain;
  }
}

TEST_F(CaInteropTest, CerttoolVerifiesRsaRootIntermediateLeafChain) {
  CommandResult r = Certtool({"--verify-chain", absl::StrCat("--verify-purpose=", kClientAuthOid),
                              "--infile", File("leaf-chain.pem")});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.output, HasSubstr("Chain verification output: Verified."));
  EXPECT_THAT(r.output, Not(HasSubstr("Not verified")));
}

// --- the chain SignCsr returns -------------------------------------------------

TEST_F(CaInteropTest, IncludeChainReturnsIntermediateThenRoot) {
  ASSERT_OK_AND_ASSIGN(std::vector<X509Ptr> chain, ParseCertificates(pki_->leaf_chain_pem));
  ASSERT_OK_AND_ASSIGN(std::vector<X509Ptr> intermediate,
                       ParseCertificates(ReadWholeFile(File("issuing.pem"))));
  ASSERT_OK_AND_ASSIGN(std::vector<X509Ptr> root,
                       ParseCertificates(ReadWholeFile(File("rsa-root.pem"))));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(X509_cmp(chain[0].get(), intermediate[0].get()), 0);
  EXPECT_EQ(X509_cmp(chain[1].get(), root[0].get()), 0);
}

// --- pyca/cryptography reads every extension back --------------------------------

// The value at a JSON pointer ("/key_usage/critical"), null when absent.
nlohmann::json At(const nlohmann::json& d, const std::string& path) {
  const nlohmann::json::json_pointer pointer(path);
  return d.contains(pointer) ? d.at(pointer) : nlohmann::json();
}

class CaInteropPythonTest : public CaInteropTest {
 protected:
  static nlohmann::json Read(const std::string& cert, const std::string& issuer) {
    absl::StatusOr<nlohmann::json> described = DescribeWithPython(File(cert), File(issuer));
    EXPECT_THAT(described, IsOk());
    return described.ok() ? *described : nlohmann::json::object();
  }
  static nlohmann::json SkiOf(const std::string& cert) {
    return At(Read(cert, cert), "/subject_key_identifier/hex");
  }
  // What every end-entity certificate must carry, issued by `issuer`
  // (whose subjectKeyIdentifier the authorityKeyIdentifier repeats).
  static void ExpectLeafBasics(const nlohmann::json& d, const std::string& issuer) {
    SCOPED_TRACE(d.dump());
    EXPECT_EQ(At(d, "/version"), "v3");
    EXPECT_EQ(At(d, "/signature_verifies"), true);
    EXPECT_EQ(At(d, "/basic_constraints"),
              nlohmann::json({{"critical", true}, {"ca", false}, {"path_length", nullptr}}));
    EXPECT_EQ(At(d, "/key_usage/critical"), true);
    EXPECT_EQ(At(d, "/key_usage/digital_signature"), true);
    EXPECT_EQ(At(d, "/key_usage/key_cert_sign"), false);
    EXPECT_EQ(At(d, "/key_usage/crl_sign"), false);
    EXPECT_EQ(At(d, "/extended_key_usage/critical"), false);
    EXPECT_EQ(At(d, "/subject_key_identifier/is_sha1_of_key"), true);
    EXPECT_EQ(At(d, "/subject_key_identifier/critical"), false);
    const nlohmann::json issuer_ski = SkiOf(issuer);
    EXPECT_TRUE(issuer_ski.is_string());
    EXPECT_EQ(At(d, "/authority_key_identifier/hex"), issuer_ski);
    EXPECT_EQ(At(d, "/authority_key_identifier/critical"), false);
  }
};

TEST_F(CaInteropPythonTest, ServerCertificateHasServerProfileExtensions) {
  nlohmann::json d = Read("server.pem", "root.pem");
  ExpectLeafBasics(d, "root.pem");
  SCOPED_TRACE(d.dump());
  EXPECT_EQ(At(d, "/extended_key_usage/usages"), nlohmann::json({"serverAuth"}));
  EXPECT_EQ(At(d, "/subject_alt_name/dns"), nlohmann::json({"localhost"}));
  EXPECT_EQ(At(d, "/subject_alt_name/ip"), nlohmann::json({"127.0.0.1"}));
  EXPECT_EQ(At(d, "/subject_alt_name/critical"), false);
  EXPECT_EQ(At(d, "/subject"), "CN=localhost,O=Example,ST=SP,C=BR");
  EXPECT_EQ(At(d, "/issuer"), "CN=Example Root CA,O=Example,ST=SP,C=BR");
  EXPECT_EQ(At(d, "/signature_hash"), "sha256");
}

TEST_F(CaInteropPythonTest, EcClientCertificateHasClientProfileExtensions) {
  nlohmann::json d = Read("client.pem", "root.pem");
  ExpectLeafBasics(d, "root.pem");
  SCOPED_TRACE(d.dump());
  EXPECT_EQ(At(d, "/extended_key_usage/usages"), nlohmann::json({"clientAuth"}));
  EXPECT_EQ(At(d, "/key_usage/key_encipherment"), false);
  EXPECT_EQ(At(d, "/subject_alt_name"), nullptr);
  EXPECT_EQ(At(d, "/subject"), "CN=client,O=Example,ST=SP,C=BR");
}

TEST_F(CaInteropPythonTest, RsaClientCertificateAlsoHasKeyEncipherment) {
  nlohmann::json d = Read("client2.pem", "root.pem");
  ExpectLeafBasics(d, "root.pem");
  SCOPED_TRACE(d.dump());
  EXPECT_EQ(At(d, "/extended_key_usage/usages"), nlohmann::json({"clientAuth"}));
  EXPECT_EQ(At(d, "/key_usage/key_encipherment"), true);
}

TEST_F(CaInteropPythonTest, SerialMatchesOpensslsReading) {
  ASSERT_OK_AND_ASSIGN(std::vector<X509Ptr> client,
                       ParseCertificates(ReadWholeFile(File("client.pem"))));
  std::string serial = SerialHex(client[0].get());
  while (serial.size() > 1 && serial[0] == '0') serial.erase(0, 1);
  EXPECT_EQ(At(Read("client.pem", "root.pem"), "/serial_hex"), serial);
}

TEST_F(CaInteropPythonTest, RootIsSelfSignedCaWithCertSignAndCrlSign) {
  nlohmann::json d = Read("root.pem", "root.pem");
  SCOPED_TRACE(d.dump());
  EXPECT_EQ(At(d, "/signature_verifies"), true);
  EXPECT_EQ(At(d, "/basic_constraints/critical"), true);
  EXPECT_EQ(At(d, "/basic_constraints/ca"), true);
  EXPECT_EQ(At(d, "/key_usage/critical"), true);
  EXPECT_EQ(At(d, "/key_usage/key_cert_sign"), true);
  EXPECT_EQ(At(d, "/key_usage/crl_sign"), true);
  EXPECT_EQ(At(d, "/subject_key_identifier/is_sha1_of_key"), true);
  EXPECT_TRUE(At(d, "/subject_key_identifier/hex").is_string());
  EXPECT_EQ(At(d, "/authority_key_identifier/hex"), At(d, "/subject_key_identifier/hex"));
  EXPECT_EQ(At(d, "/subject"), "CN=Example Root CA,O=Example,ST=SP,C=BR");
  EXPECT_EQ(At(d, "/issuer"), At(d, "/subject"));
}

TEST_F(CaInteropPythonTest, IntermediateHasPathLengthZeroAndRootsKeyId) {
  nlohmann::json d = Read("issuing.pem", "rsa-root.pem");
  SCOPED_TRACE(d.dump());
  EXPECT_EQ(At(d, "/signature_verifies"), true);
  EXPECT_EQ(At(d, "/basic_constraints"),
            nlohmann::json({{"critical", true}, {"ca", true}, {"path_length", 0}}));
  EXPECT_EQ(At(d, "/key_usage/key_cert_sign"), true);
  EXPECT_EQ(At(d, "/authority_key_identifier/hex"), SkiOf("rsa-root.pem"));
  EXPECT_EQ(At(d, "/issuer"), "CN=Example RSA Root CA,O=Example,ST=SP,C=BR");
  EXPECT_EQ(At(d, "/signature_hash"), "sha256");
}

TEST_F(CaInteropPythonTest, LeafUnderIntermediateCarriesIntermediatesKeyId) {
  nlohmann::json d = Read("leaf.pem", "issuing.pem");
  ExpectLeafBasics(d, "issuing.pem");
  EXPECT_EQ(At(d, "/issuer"), "CN=Example Issuing CA,O=Example,ST=SP,C=BR") << d.dump();
}

}  // namespace
}  // namespace keyhold::testing
