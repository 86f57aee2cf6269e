// SignCsr's rules (docs/ca.md, "Issuing: what is checked"): each test
// breaks one rule with a CSR made by `openssl req` (or the agent), and
// checks the refusal names the rule and the registry did not grow. One
// agent for the suite: refusals write nothing, so the tests cannot see
// each other.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/integration/ca/ca_fixture.h"
#include "tests/status_matchers.h"

namespace keyhold::testing {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uid_t kNobody = 65534;

// root-ca: no [[ca]] table, so the strict policy, profiles server, client,
// intermediate and 16 KiB CSRs. partner-ca: its own profiles and a small
// CSR limit. ops-ca: usable by nobody (the positive control of the
// non-admin test).
constexpr char kConfig[] = R"toml(
[[key]]
label = "ops-ca"
purpose = "ca"
users = [65534]

[[ca]]
label = "partner-ca"
profiles = ["partner", "client"]
max_csr_bytes = 1024

[profile.partner]
base = "server"
allowed_dns = ["*.partner.example"]
)toml";

struct PolicyWorld {
  CaAgent agent;
  TempDirectory dir;  // world-readable: the CLI run as nobody reads CSRs here
};

class CaPolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<PolicyWorld>> world = Build();
    if (world.ok()) {
      world_ = world->release();
    } else {
      setup_error_ = new std::string(world.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete world_;
    world_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(world_, nullptr) << "starting the agent failed: "
                               << (setup_error_ ? *setup_error_ : "");
  }

  static absl::StatusOr<std::unique_ptr<PolicyWorld>> Build() {
    AgentOptions options;
    options.extra_config = kConfig;
    options.world_traversable_dir = true;
    options.socket_group_line = absl::StrCat("socket_group = ", kNobody);
    absl::StatusOr<CaAgent> agent = CaAgent::Start(options);
    if (!agent.ok()) return agent.status();
    absl::StatusOr<TempDirectory> dir = TempDirectory::Create();
    if (!dir.ok()) return dir.status();
    chmod(dir->path().c_str(), 0755);
    auto world = std::make_unique<PolicyWorld>(PolicyWorld{*std::move(agent), *std::move(dir)});
    for (const char* label : {"root-ca", "partner-ca", "ops-ca"}) {
      absl::StatusOr<v1::CaCertificate> ca = world->agent.client->InitCa(
          InitCaRequest(label, v1::KEY_TYPE_EC_P256, absl::StrCat(kExampleSubject, "/CN=", label)));
      if (!ca.ok()) return ca.status();
    }
    return world;
  }

  static client::AgentClient& Client() { return *world_->agent.client; }
  static const TempDirectory& Dir() { return world_->dir; }

  // A P-256 CSR from `openssl req` with `subject` and extra arguments.
  static std::string Csr(const std::string& subject, const std::vector<std::string>& extra = {},
                         const std::string& key = "ec:P-256") {
    absl::StatusOr<std::string> csr = OpensslCsr(Dir(), key, subject, extra);
    EXPECT_THAT(csr, IsOk());
    return csr.ok() ? *csr : "";
  }
  static std::string Subject(const std::string& cn) {
    return absl::StrCat(kExampleSubject, "/CN=", cn);
  }

  // SignCsr must fail with `code` and a message containing `rule`, and
  // the CA's registry must hold as many certificates as before.
  static void ExpectRefused(const v1::SignCsrRequest& request, absl::StatusCode code,
                            const std::string& rule) {
    absl::StatusOr<size_t> before = CertificateCount(Client(), request.ca());
    ASSERT_THAT(before, IsOk());
    EXPECT_THAT(Client().SignCsr(request), StatusIs(code, HasSubstr(rule)));
    EXPECT_THAT(CertificateCount(Client(), request.ca()), IsOkAndHolds(*before));
  }

  static PolicyWorld* world_;
  static std::string* setup_error_;
};

PolicyWorld* CaPolicyTest::world_ = nullptr;
std::string* CaPolicyTest::setup_error_ = nullptr;

TEST_F(CaPolicyTest, ConformingCsrIsIssuedAndRecorded) {
  // The control: the same kind of CSR the refusals below start from.
  ASSERT_OK_AND_ASSIGN(size_t before, CertificateCount(Client(), "root-ca"));
  ASSERT_THAT(Client().SignCsr(SignRequest("root-ca", "client", Csr(Subject("ok")))), IsOk());
  EXPECT_THAT(CertificateCount(Client(), "root-ca"), IsOkAndHolds(before + 1));
}

TEST_F(CaPolicyTest, StrictPolicyRefusesAnotherOrganization) {
  ExpectRefused(SignRequest("root-ca", "client", Csr("/C=BR/ST=SP/O=Other/CN=mallory")),
                absl::StatusCode::kInvalidArgument,
                "policy strict: organizationName must match the CA's (Example)");
}

TEST_F(CaPolicyTest, StrictPolicyRefusesASecondOrganizationBesideTheCas) {
  // openssl ca's policy_strict compares every O of the request, not the
  // first: the certificate would otherwise name Evil Corp too.
  ExpectRefused(
      SignRequest("root-ca", "client", Csr("/C=BR/ST=SP/O=Example/O=Evil Corp/CN=mallory")),
      absl::StatusCode::kInvalidArgument, "policy strict: organizationName");
}

TEST_F(CaPolicyTest, StrictPolicyRefusesAttributeOutsideItsLists) {
  ExpectRefused(
      SignRequest("root-ca", "client", Csr(absl::StrCat(kExampleSubject, "/L=Campinas/CN=x"))),
      absl::StatusCode::kInvalidArgument, "policy strict: localityName is not allowed");
}

TEST_F(CaPolicyTest, RefusalIsAuditedWithTheRule) {
  ExpectRefused(SignRequest("root-ca", "client", Csr("/C=BR/ST=SP/O=Audited/CN=audit-me")),
                absl::StatusCode::kInvalidArgument, "organizationName must match");
  bool found = false;
  for (absl::string_view line : absl::StrSplit(world_->agent.process->ReadAuditLog(), '\n')) {
    found = found || (absl::StrContains(line, "CertificateAuthorityService.SignCsr") &&
                      absl::StrContains(line, "the request has \\\"Audited\\\""));
  }
  EXPECT_TRUE(found) << world_->agent.process->ReadAuditLog();
}

TEST_F(CaPolicyTest, StrictPolicyRequiresCommonName) {
  ExpectRefused(SignRequest("root-ca", "client", Csr(absl::StrCat(kExampleSubject, "/OU=Unit"))),
                absl::StatusCode::kInvalidArgument, "policy strict: commonName is required");
}

TEST_F(CaPolicyTest, ClientProfileRefusesCsrAskingForCaTrue) {
  ExpectRefused(
      SignRequest("root-ca", "client",
                  Csr(Subject("sub-ca"), {"-addext", "basicConstraints=critical,CA:TRUE"})),
      absl::StatusCode::kInvalidArgument, "asks for basicConstraints CA:TRUE");
}

TEST_F(CaPolicyTest, RefusesRsa1024Key) {
  ExpectRefused(SignRequest("root-ca", "client", Csr(Subject("weak"), {}, "rsa:1024")),
                absl::StatusCode::kInvalidArgument, "RSA key of 1024 bits; at least 2048");
}

TEST_F(CaPolicyTest, RefusesSecp256k1Key) {
  ExpectRefused(SignRequest("root-ca", "client", Csr(Subject("koblitz"), {}, "ec:secp256k1")),
                absl::StatusCode::kInvalidArgument, "unsupported curve secp256k1");
}

TEST_F(CaPolicyTest, RefusesCsrWhoseSubjectWasChangedAfterSigning) {
  const std::string pem = Csr(Subject("alice"));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509ReqPtr request(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(request, nullptr);
  unsigned char* raw = nullptr;
  const int length = i2d_X509_REQ(request.get(), &raw);
  ASSERT_GT(length, 0);
  std::string der(reinterpret_cast<char*>(raw), static_cast<size_t>(length));
  OPENSSL_free(raw);
  // alice -> alicf: still a valid request under the policy; only the
  // signature no longer covers it.
  const size_t at = der.find("alice");
  ASSERT_NE(at, std::string::npos);
  der[at + 4] = 'f';
  ExpectRefused(SignRequest("root-ca", "client", der), absl::StatusCode::kInvalidArgument,
                "CSR: signature does not verify");
}

TEST_F(CaPolicyTest, RefusesCsrWithTrailingData) {
  const std::string csr = Csr(Subject("one"));
  ExpectRefused(SignRequest("root-ca", "client", csr + csr), absl::StatusCode::kInvalidArgument,
                "CSR: trailing data after the PEM block");
}

TEST_F(CaPolicyTest, RefusesSanOfAKindOtherThanDnsIpEmailUri) {
  ExpectRefused(SignRequest("root-ca", "client",
                            Csr(Subject("rid"), {"-addext", "subjectAltName=RID:1.2.3.4"})),
                absl::StatusCode::kInvalidArgument, "only DNS, IP, email and URI are");
}

TEST_F(CaPolicyTest, RefusesCsrLargerThanTheCasLimit) {
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back(absl::StrCat("DNS:host", i, ".partner.example"));
  const std::string csr =
      Csr(Subject("big"), {"-addext", absl::StrCat("subjectAltName=", absl::StrJoin(names, ","))});
  ASSERT_GT(csr.size(), 1024u);
  ExpectRefused(SignRequest("partner-ca", "partner", csr), absl::StatusCode::kInvalidArgument,
                absl::StrCat("CSR: ", csr.size(), " bytes; at most 1024 allowed"));
}

TEST_F(CaPolicyTest, PartnerProfileIssuesNameInsideAllowedDns) {
  ASSERT_OK_AND_ASSIGN(size_t before, CertificateCount(Client(), "partner-ca"));
  v1::SignCsrRequest request = SignRequest("partner-ca", "partner", Csr(Subject("www")));
  request.add_subject_alt_names("DNS:www.partner.example");
  EXPECT_THAT(Client().SignCsr(request), IsOk());
  EXPECT_THAT(CertificateCount(Client(), "partner-ca"), IsOkAndHolds(before + 1));
}

TEST_F(CaPolicyTest, PartnerProfileRefusesSanOutsideAllowedDns) {
  ExpectRefused(
      SignRequest("partner-ca", "partner",
                  Csr(Subject("evil"), {"-addext", "subjectAltName=DNS:www.evil.example"})),
      absl::StatusCode::kInvalidArgument,
      "profile partner does not allow DNS:www.evil.example (allowed: *.partner.example)");
}

TEST_F(CaPolicyTest, PartnerWildcardCoversExactlyOneLabel) {
  v1::SignCsrRequest request = SignRequest("partner-ca", "partner", Csr(Subject("deep")));
  request.add_subject_alt_names("DNS:a.b.partner.example");
  ExpectRefused(request, absl::StatusCode::kInvalidArgument,
                "profile partner does not allow DNS:a.b.partner.example");
}

TEST_F(CaPolicyTest, RefusesValidityAboveTheProfilesMaximum) {
  v1::SignCsrRequest request = SignRequest("root-ca", "client", Csr(Subject("long")));
  request.set_days(826);
  ExpectRefused(request, absl::StatusCode::kInvalidArgument,
                "profile client allows at most 825 days of validity; 826 asked for");
}

TEST_F(CaPolicyTest, ServerProfileRefusesCsrWithoutSan) {
  ExpectRefused(SignRequest("root-ca", "server", Csr(Subject("nameless"))),
                absl::StatusCode::kInvalidArgument, "profile server requires a subjectAltName");
}

TEST_F(CaPolicyTest, RefusesProfileTheCaDoesNotIssue) {
  v1::SignCsrRequest request = SignRequest("partner-ca", "server", Csr(Subject("srv")));
  request.add_subject_alt_names("DNS:srv.partner.example");
  ExpectRefused(request, absl::StatusCode::kFailedPrecondition,
                "CA partner-ca does not issue profile server");
}

TEST_F(CaPolicyTest, RefusesUnknownProfile) {
  ExpectRefused(SignRequest("root-ca", "nonesuch", Csr(Subject("x"))),
                absl::StatusCode::kInvalidArgument, "unknown profile \"nonesuch\"");
}

TEST_F(CaPolicyTest, RefusesValidityBeyondTheCasOwnCertificate) {
  v1::InitCaRequest init = InitCaRequest("short-ca", v1::KEY_TYPE_EC_P256, Subject("short-ca"));
  init.set_days(30);
  ASSERT_THAT(Client().InitCa(init), IsOk());
  // The client profile's default, 365 days, would outlive the CA.
  ExpectRefused(SignRequest("short-ca", "client", Csr(Subject("x"))),
                absl::StatusCode::kFailedPrecondition, "would outlive its CA");
}

TEST_F(CaPolicyTest, RefusesToIssueWithAKeyThatIsNotACaKey) {
  ASSERT_THAT(Client().GenerateKey("not-a-ca", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN), IsOk());
  EXPECT_THAT(Client().SignCsr(SignRequest("not-a-ca", "client", Csr(Subject("x")))),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not a CA key")));
}

TEST_F(CaPolicyTest, ExtensionsTheCsrAsksForAreNotCopied) {
  // Asks for a CA's key usage, code signing and a name constraint; the
  // client profile decides instead.
  ASSERT_OK_AND_ASSIGN(
      v1::SignCsrResponse issued,
      Client().SignCsr(
          SignRequest("root-ca", "client",
                      Csr(Subject("greedy"), {"-addext", "keyUsage=critical,keyCertSign,cRLSign",
                                              "-addext", "extendedKeyUsage=codeSigning", "-addext",
                                              "nameConstraints=permitted;DNS:example.com"}))));
  const std::string path = Dir().File("greedy.pem");
  ASSERT_THAT(WriteFile(path, issued.certificate_pem()), IsOk());
  ASSERT_OK_AND_ASSIGN(CommandResult text, RunOpenssl({"x509", "-in", path, "-noout", "-text"}));
  EXPECT_THAT(text.output, HasSubstr("TLS Web Client Authentication"));
  EXPECT_THAT(text.output, Not(HasSubstr("Code Signing")));
  EXPECT_THAT(text.output, Not(HasSubstr("Certificate Sign")));
  EXPECT_THAT(text.output, Not(HasSubstr("Name Constraints")));
}

// --- InitCa for intermediates: refused before anything is made -------------------

TEST_F(CaPolicyTest, NoIntermediateUnderAPathlenZeroCa) {
  ASSERT_THAT(Client().InitCa(
                  InitCaRequest("mid-ca-1", v1::KEY_TYPE_EC_P256, Subject("mid-ca-1"), "root-ca")),
              IsOk());
  ASSERT_OK_AND_ASSIGN(size_t before, CertificateCount(Client(), "mid-ca-1"));
  EXPECT_THAT(Client().InitCa(
                  InitCaRequest("sub-ca-1", v1::KEY_TYPE_EC_P256, Subject("sub-ca-1"), "mid-ca-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has pathlen 0")));
  EXPECT_THAT(CertificateCount(Client(), "mid-ca-1"), IsOkAndHolds(before));
}

// ca_service.cc: "The parent first: nothing is generated for a request that
// would fail". A refused `ca init --generate --parent` must not leave a CA
// key without a certificate on the token (the retry would find the label
// taken).
TEST_F(CaPolicyTest, RefusedIntermediateUnderPathlenZeroLeavesNoKeyBehind) {
  ASSERT_THAT(Client().InitCa(
                  InitCaRequest("mid-ca-2", v1::KEY_TYPE_EC_P256, Subject("mid-ca-2"), "root-ca")),
              IsOk());
  ASSERT_THAT(Client().InitCa(
                  InitCaRequest("sub-ca-2", v1::KEY_TYPE_EC_P256, Subject("sub-ca-2"), "mid-ca-2")),
              Not(IsOk()));
  EXPECT_THAT(Client().GetKey("sub-ca-2").status(), StatusIs(absl::StatusCode::kNotFound, _));
}

TEST_F(CaPolicyTest, RefusedIntermediateOutlivingItsParentLeavesNoKeyBehind) {
  v1::InitCaRequest parent = InitCaRequest("month-ca", v1::KEY_TYPE_EC_P256, Subject("month-ca"));
  parent.set_days(30);
  ASSERT_THAT(Client().InitCa(parent), IsOk());
  v1::InitCaRequest request =
      InitCaRequest("long-mid-ca", v1::KEY_TYPE_EC_P256, Subject("long-mid-ca"), "month-ca");
  request.set_days(60);
  ASSERT_THAT(Client().InitCa(request),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("outlive")));
  EXPECT_THAT(Client().GetKey("long-mid-ca").status(), StatusIs(absl::StatusCode::kNotFound, _));
}

TEST_F(CaPolicyTest, RefusedRootLeavesNoKeyBehind) {
  v1::InitCaRequest request = InitCaRequest("eon-ca", v1::KEY_TYPE_EC_P256, Subject("eon-ca"));
  request.set_days(8000);  // the root profile allows at most 7300
  ASSERT_THAT(Client().InitCa(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 7300 days")));
  EXPECT_THAT(Client().GetKey("eon-ca").status(), StatusIs(absl::StatusCode::kNotFound, _));
}

// --- callers other than admins (the CLI run as nobody) ----------------------------

class CaPolicyCallerTest : public CaPolicyTest {
 protected:
  void SetUp() override {
    CaPolicyTest::SetUp();
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run the CLI as nobody";
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv missing";
  }

  // `keyhold ca sign CA --profile client --csr FILE` as uid/gid nobody.
  static CommandResult SignAsNobody(const std::string& ca, const std::string& csr) {
    static int n = 0;
    const std::string path = Dir().File(absl::StrCat("nobody-", ++n, ".csr"));
    EXPECT_THAT(WriteFile(path, csr), IsOk());
    chmod(path.c_str(), 0644);
    absl::StatusOr<CommandResult> r = RunProgram(
        {"/usr/bin/setpriv", absl::StrCat("--reuid=", kNobody), absl::StrCat("--regid=", kNobody),
         "--clear-groups", KeyholdCliPath(), "--socket", world_->agent.process->socket_path(), "ca",
         "sign", ca, "--profile", "client", "--csr", path});
    return r.ok() ? *r : CommandResult{-1, r.status().ToString()};
  }
};

TEST_F(CaPolicyCallerTest, NobodyIsDeniedAnAdminOnlyCaAndNothingIsRecorded) {
  ASSERT_OK_AND_ASSIGN(size_t before, CertificateCount(Client(), "root-ca"));
  CommandResult r = SignAsNobody("root-ca", Csr(Subject("nobody")));
  EXPECT_EQ(r.exit_code, 4) << Describe(r);  // PERMISSION_DENIED
  EXPECT_THAT(r.output, HasSubstr("uid 65534 may not use key \"root-ca\""));
  EXPECT_THAT(CertificateCount(Client(), "root-ca"), IsOkAndHolds(before));
}

TEST_F(CaPolicyCallerTest, NobodyIssuesWithACaKeyConfiguredForThem) {
  ASSERT_OK_AND_ASSIGN(size_t before, CertificateCount(Client(), "ops-ca"));
  CommandResult r = SignAsNobody("ops-ca", Csr(Subject("nobody")));
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.output, HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(CertificateCount(Client(), "ops-ca"), IsOkAndHolds(before + 1));
}

TEST_F(CaPolicyCallerTest, NobodyCannotRevokeEvenWithTheirCa) {
  ASSERT_OK_AND_ASSIGN(v1::SignCsrResponse issued,
                       Client().SignCsr(SignRequest("ops-ca", "client", Csr(Subject("victim")))));
  absl::StatusOr<CommandResult> r = RunProgram(
      {"/usr/bin/setpriv", absl::StrCat("--reuid=", kNobody), absl::StrCat("--regid=", kNobody),
       "--clear-groups", KeyholdCliPath(), "--socket", world_->agent.process->socket_path(), "ca",
       "revoke", "ops-ca", "--serial", issued.record().serial_hex()});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 4) << Describe(*r);
  v1::ListCertificatesRequest list;
  list.set_ca("ops-ca");
  ASSERT_OK_AND_ASSIGN(v1::ListCertificatesResponse listed, Client().ListCertificates(list));
  for (const v1::IssuedCertificate& record : listed.certificates()) {
    if (record.serial_hex() == issued.record().serial_hex()) {
      EXPECT_FALSE(record.revoked());
    }
  }
}

}  // namespace
}  // namespace keyhold::testing
