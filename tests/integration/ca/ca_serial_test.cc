// 1,000 issuances through the agent from 4 threads at once (one
// AgentClient, as its header allows): serials are distinct, positive and
// at most 20 octets as encoded (RFC 5280 4.1.2.2), and the registry lists
// every certificate handed out. The issuances run once, in
// SetUpTestSuite; each test checks one property of the result.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/integration/ca/ca_fixture.h"
#include "tests/status_matchers.h"

namespace keyhold::testing {
namespace {

constexpr int kThreads = 4;
constexpr int kIssuancesPerThread = 250;
constexpr int kIssuances = kThreads * kIssuancesPerThread;

struct Issued {
  std::string pem;
  std::string record_serial_hex;
};

struct Issuances {
  CaAgent agent;
  std::string root_pem;
  std::vector<Issued> issued;
  std::vector<std::string> errors;
  double seconds = 0;  // how long the issuances took
};

// One DER tag-length header at `der[at]`: the content's offset and length.
// Only what certificates use: one-byte tags, lengths up to 4 octets.
absl::StatusOr<std::pair<size_t, size_t>> DerContent(const std::string& der, size_t at,
                                                     unsigned char tag) {
  if (at + 2 > der.size() || static_cast<unsigned char>(der[at]) != tag) {
    return absl::InvalidArgumentError(absl::StrCat("expected DER tag ", tag, " at ", at));
  }
  size_t length = static_cast<unsigned char>(der[at + 1]);
  size_t header = 2;
  if (length & 0x80) {
    const size_t octets = length & 0x7f;
    if (octets == 0 || octets > 4 || at + 2 + octets > der.size()) {
      return absl::InvalidArgumentError("bad DER length");
    }
    length = 0;
    for (size_t i = 0; i < octets; ++i) {
      length = (length << 8) | static_cast<unsigned char>(der[at + 2 + i]);
    }
    header += octets;
  }
  if (at + header + length > der.size()) return absl::InvalidArgumentError("DER overruns");
  return std::make_pair(at + header, length);
}

// The content octets of the serialNumber INTEGER, read from the
// certificate's PEM as the agent sent it (nothing parsed or re-encoded).
absl::StatusOr<std::string> SerialContentOctets(const std::string& pem) {
  std::string base64;
  for (absl::string_view line : absl::StrSplit(pem, '\n')) {
    if (!absl::StartsWith(line, "-----")) absl::StrAppend(&base64, line);
  }
  std::string der;
  if (!absl::Base64Unescape(base64, &der)) return absl::InvalidArgumentError("bad base64");
  auto cert = DerContent(der, 0, 0x30);
  if (!cert.ok()) return cert.status();
  auto tbs = DerContent(der, cert->first, 0x30);
  if (!tbs.ok()) return tbs.status();
  size_t at = tbs->first;
  if (at < der.size() && static_cast<unsigned char>(der[at]) == 0xa0) {  // [0] version
    auto version = DerContent(der, at, 0xa0);
    if (!version.ok()) return version.status();
    at = version->first + version->second;
  }
  auto serial = DerContent(der, at, 0x02);
  if (!serial.ok()) return serial.status();
  return der.substr(serial->first, serial->second);
}

class CaSerialTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Issuances>> run = IssueMany();
    if (run.ok()) {
      run_ = run->release();
    } else {
      setup_error_ = new std::string(run.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete run_;
    run_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(run_, nullptr) << (setup_error_ ? *setup_error_ : "");
    ASSERT_THAT(run_->errors, ::testing::IsEmpty());
    ASSERT_EQ(run_->issued.size(), static_cast<size_t>(kIssuances));
  }

  static absl::StatusOr<std::unique_ptr<Issuances>> IssueMany() {
    absl::StatusOr<CaAgent> agent = CaAgent::Start();
    if (!agent.ok()) return agent.status();
    auto run = std::make_unique<Issuances>();
    run->agent = *std::move(agent);
    client::AgentClient& client = *run->agent.client;
    absl::StatusOr<v1::CaCertificate> root = client.InitCa(InitCaRequest(
        "root-ca", v1::KEY_TYPE_EC_P256, absl::StrCat(kExampleSubject, "/CN=Example Root CA")));
    if (!root.ok()) return root.status();
    run->root_pem = root->certificate_pem();
    absl::StatusOr<std::string> csr =
        CsrForNewTokenKey(client, "client", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_TLS_CLIENT,
                          absl::StrCat(kExampleSubject, "/CN=client"));
    if (!csr.ok()) return csr.status();

    absl::Mutex mu;
    const absl::Time start = absl::Now();
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kIssuancesPerThread; ++i) {
          absl::StatusOr<v1::SignCsrResponse> issued =
              client.SignCsr(SignRequest("root-ca", "client", *csr));
          absl::MutexLock lock(&mu);
          if (issued.ok()) {
            run->issued.push_back({issued->certificate_pem(), issued->record().serial_hex()});
          } else {
            run->errors.push_back(issued.status().ToString());
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    run->seconds = absl::ToDoubleSeconds(absl::Now() - start);
    return run;
  }

  static X509Ptr Certificate(const Issued& issued) {
    absl::StatusOr<std::vector<X509Ptr>> certs = ParseCertificates(issued.pem);
    EXPECT_THAT(certs, IsOk());
    return certs.ok() ? std::move((*certs)[0]) : nullptr;
  }

  static Issuances* run_;
  static std::string* setup_error_;
};

Issuances* CaSerialTest::run_ = nullptr;
std::string* CaSerialTest::setup_error_ = nullptr;

TEST_F(CaSerialTest, EveryIssuanceGetsADistinctSerial) {
  RecordProperty("issuance_seconds", absl::StrCat(run_->seconds));
  std::set<std::string> serials;
  for (const Issued& issued : run_->issued) {
    X509Ptr cert = Certificate(issued);
    ASSERT_NE(cert, nullptr);
    serials.insert(SerialHex(cert.get()));
  }
  EXPECT_EQ(serials.size(), static_cast<size_t>(kIssuances));
}

TEST_F(CaSerialTest, EverySerialIsPositiveAndAtMost20Octets) {
  for (const Issued& issued : run_->issued) {
    X509Ptr cert = Certificate(issued);
    ASSERT_NE(cert, nullptr);
    EXPECT_EQ(ASN1_STRING_type(X509_get0_serialNumber(cert.get())), V_ASN1_INTEGER);
    ASSERT_OK_AND_ASSIGN(std::string octets, SerialContentOctets(issued.pem));
    SCOPED_TRACE(SerialHex(cert.get()));
    ASSERT_FALSE(octets.empty());
    EXPECT_LE(octets.size(), 20u);
    EXPECT_EQ(static_cast<unsigned char>(octets[0]) & 0x80, 0) << "negative";
    EXPECT_NE(octets, std::string(1, '\0')) << "zero";
  }
}

TEST_F(CaSerialTest, RecordSerialIsTheCertificatesSerial) {
  for (const Issued& issued : run_->issued) {
    X509Ptr cert = Certificate(issued);
    ASSERT_NE(cert, nullptr);
    EXPECT_EQ(issued.record_serial_hex, SerialHex(cert.get()));
  }
}

TEST_F(CaSerialTest, EveryCertificateVerifiesUnderTheRoot) {
  ASSERT_OK_AND_ASSIGN(std::vector<X509Ptr> root, ParseCertificates(run_->root_pem));
  EVP_PKEY* root_key = X509_get0_pubkey(root[0].get());
  int failures = 0;
  for (const Issued& issued : run_->issued) {
    X509Ptr cert = Certificate(issued);
    ASSERT_NE(cert, nullptr);
    if (X509_verify(cert.get(), root_key) != 1) ++failures;
  }
  EXPECT_EQ(failures, 0);
}

TEST_F(CaSerialTest, RegistryListsEveryIssuedCertificateAsIssued) {
  v1::ListCertificatesRequest request;
  request.set_ca("root-ca");
  request.set_include_pem(true);
  ASSERT_OK_AND_ASSIGN(v1::ListCertificatesResponse list,
                       run_->agent.client->ListCertificates(request));
  std::map<std::string, std::string> listed;  // serial -> PEM
  for (const v1::IssuedCertificate& record : list.certificates()) {
    if (record.profile() == "client") listed[record.serial_hex()] = record.certificate_pem();
  }
  EXPECT_EQ(listed.size(), static_cast<size_t>(kIssuances));
  int missing = 0;
  int different = 0;
  for (const Issued& issued : run_->issued) {
    auto it = listed.find(issued.record_serial_hex);
    if (it == listed.end()) {
      ++missing;
    } else if (it->second != issued.pem) {
      ++different;
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(different, 0);
}

// --- the registry file these issuances went to ----------------------------------

TEST_F(CaSerialTest, RegistryFilesAreReadableByTheAgentOnly) {
  const std::string db = run_->agent.process->state_dir() + "/ca.db";
  for (const std::string& path : {db, db + "-wal"}) {
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
  }
}

TEST_F(CaSerialTest, RegistryIsInWalMode) {
  ASSERT_OK_AND_ASSIGN(CommandResult r, RunSqlite(run_->agent.process->state_dir() + "/ca.db",
                                                  "PRAGMA journal_mode;"));
  EXPECT_EQ(r.output, "wal\n");
}

}  // namespace
}  // namespace keyhold::testing
