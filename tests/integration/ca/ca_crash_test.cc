// Crash safety of the issuance registry (docs/ca.md, "The registry"): four
// clients issue in a loop, the agent is killed with SIGKILL mid-stream and
// restarted on the same token and state directory. A certificate any
// client received must be in the registry; the database must be intact.
// The crash happens once, in SetUpTestSuite; each test checks one
// property of what it left.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/integration/ca/ca_fixture.h"
#include "tests/status_matchers.h"

namespace keyhold::testing {
namespace {

constexpr int kClients = 4;
constexpr absl::Duration kIssueFor = absl::Milliseconds(1500);
constexpr size_t kAtLeastIssued = 20;
constexpr absl::Duration kGiveUpAfter = absl::Seconds(30);

struct Crash {
  CaAgent agent;
  std::string csr;
  std::map<std::string, std::string> received;  // serial hex -> PEM, as clients got them
  size_t received_count = 0;                    // duplicates would make it exceed received.size()
  std::vector<absl::Status> endings;            // why each client stopped
  std::vector<v1::IssuedCertificate> listed;    // ListCertificates after the restart
};

class CaCrashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Crash>> crash = CrashWhileIssuing();
    if (crash.ok()) {
      crash_ = crash->release();
    } else {
      setup_error_ = new std::string(crash.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete crash_;
    crash_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(crash_, nullptr) << (setup_error_ ? *setup_error_ : ""); }

  static absl::StatusOr<std::unique_ptr<Crash>> CrashWhileIssuing();

  static Crash* crash_;
  static std::string* setup_error_;
};

Crash* CaCrashTest::crash_ = nullptr;
std::string* CaCrashTest::setup_error_ = nullptr;

absl::StatusOr<std::unique_ptr<Crash>> CaCrashTest::CrashWhileIssuing() {
  absl::StatusOr<CaAgent> agent = CaAgent::Start();
  if (!agent.ok()) return agent.status();
  auto crash = std::make_unique<Crash>();
  crash->agent = *std::move(agent);
  client::AgentClient& client = *crash->agent.client;
  absl::StatusOr<v1::CaCertificate> root = client.InitCa(InitCaRequest(
      "root-ca", v1::KEY_TYPE_EC_P256, absl::StrCat(kExampleSubject, "/CN=Example Root CA")));
  if (!root.ok()) return root.status();
  absl::StatusOr<std::string> csr =
      CsrForNewTokenKey(client, "client", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_TLS_CLIENT,
                        absl::StrCat(kExampleSubject, "/CN=client"));
  if (!csr.ok()) return csr.status();
  crash->csr = *csr;

  absl::Mutex mu;
  std::atomic<bool> give_up{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      // One connection per client, as separate processes would have.
      absl::StatusOr<std::unique_ptr<client::AgentClient>> own =
          client::AgentClient::Connect(crash->agent.process->socket_path());
      absl::Status ending = own.status();
      while (ending.ok() && !give_up) {
        absl::StatusOr<v1::SignCsrResponse> issued =
            (*own)->SignCsr(SignRequest("root-ca", "client", crash->csr));
        if (!issued.ok()) {
          ending = issued.status();
          break;
        }
        // The serial as the certificate itself carries it.
        absl::StatusOr<std::vector<X509Ptr>> cert = ParseCertificates(issued->certificate_pem());
        absl::MutexLock lock(&mu);
        ++crash->received_count;
        crash->received[cert.ok() ? SerialHex((*cert)[0].get()) : "(unparseable)"] =
            issued->certificate_pem();
      }
      absl::MutexLock lock(&mu);
      crash->endings.push_back(ending);
    });
  }

  const absl::Time start = absl::Now();
  for (;;) {
    absl::SleepFor(absl::Milliseconds(20));
    absl::MutexLock lock(&mu);
    const bool enough = crash->received_count >= kAtLeastIssued && absl::Now() - start >= kIssueFor;
    if (enough || absl::Now() - start > kGiveUpAfter ||
        crash->endings.size() == static_cast<size_t>(kClients))
      break;
  }
  // Leaves a zombie that Restart() reaps: AgentProcess keeps its pid. The
  // clients stop on the error the kill causes; `give_up` only keeps a
  // failed kill from hanging the test.
  if (kill(crash->agent.process->pid(), SIGKILL) != 0) give_up = true;
  for (std::thread& thread : clients) thread.join();

  if (absl::Status s = crash->agent.Restart(); !s.ok()) return s;
  v1::ListCertificatesRequest request;
  request.set_ca("root-ca");
  request.set_include_pem(true);
  absl::StatusOr<v1::ListCertificatesResponse> list =
      crash->agent.client->ListCertificates(request);
  if (!list.ok()) return list.status();
  crash->listed.assign(list->certificates().begin(), list->certificates().end());
  return crash;
}

TEST_F(CaCrashTest, ClientsWereIssuingWhenTheAgentWasKilled) {
  RecordProperty("certificates_received", static_cast<int>(crash_->received_count));
  RecordProperty("certificates_listed", static_cast<int>(crash_->listed.size()));
  EXPECT_GE(crash_->received_count, kAtLeastIssued);
  ASSERT_EQ(crash_->endings.size(), static_cast<size_t>(kClients));
  for (const absl::Status& ending : crash_->endings) {
    EXPECT_TRUE(absl::IsUnavailable(ending)) << ending;
  }
}

TEST_F(CaCrashTest, EveryCertificateAClientReceivedIsInTheRegistry) {
  std::map<std::string, std::string> listed;
  for (const v1::IssuedCertificate& record : crash_->listed) {
    listed[record.serial_hex()] = record.certificate_pem();
  }
  std::vector<std::string> missing;
  std::vector<std::string> different;
  for (const auto& [serial, pem] : crash_->received) {
    auto it = listed.find(serial);
    if (it == listed.end()) {
      missing.push_back(serial);
    } else if (it->second != pem) {
      different.push_back(serial);
    }
  }
  EXPECT_THAT(missing, ::testing::IsEmpty()) << "of " << crash_->received.size() << " received";
  EXPECT_THAT(different, ::testing::IsEmpty());
}

TEST_F(CaCrashTest, RegistryPassesSqliteIntegrityCheck) {
  ASSERT_OK_AND_ASSIGN(CommandResult r, RunSqlite(crash_->agent.process->state_dir() + "/ca.db",
                                                  "PRAGMA integrity_check;"));
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.output, "ok\n");
}

TEST_F(CaCrashTest, NoSerialAppearsTwice) {
  EXPECT_EQ(crash_->received.size(), crash_->received_count) << "a client got a serial twice";
  std::set<std::string> listed;
  for (const v1::IssuedCertificate& record : crash_->listed) {
    EXPECT_TRUE(listed.insert(record.serial_hex()).second) << record.serial_hex();
  }
  ASSERT_OK_AND_ASSIGN(CommandResult r,
                       RunSqlite(crash_->agent.process->state_dir() + "/ca.db",
                                 "SELECT hex(serial) FROM certificates GROUP BY ca_label, serial "
                                 "HAVING count(*) > 1;"));
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.output, "");
}

TEST_F(CaCrashTest, RestartedAgentIssuesAgainWithAFreshSerial) {
  ASSERT_OK_AND_ASSIGN(v1::SignCsrResponse issued, crash_->agent.client->SignCsr(SignRequest(
                                                       "root-ca", "client", crash_->csr)));
  std::set<std::string> before;
  for (const v1::IssuedCertificate& record : crash_->listed) before.insert(record.serial_hex());
  EXPECT_FALSE(before.contains(issued.record().serial_hex()));
}

}  // namespace
}  // namespace keyhold::testing
