#include "agent/ca/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/status_matchers.h"

namespace keyhold::agent::ca {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Big-endian, no leading zero byte, as the registry stores serials.
std::string Serial(uint64_t n) {
  std::string s;
  for (; n != 0; n >>= 8) s.insert(s.begin(), static_cast<char>(n & 0xff));
  return s;
}

IssuedCertificate Cert(const std::string& ca_label, uint64_t serial) {
  IssuedCertificate c;
  c.ca_label = ca_label;
  c.serial = Serial(serial);
  c.subject = "CN=host.example,O=Example";
  c.subject_alt_names = "DNS:host.example, IP:192.0.2.1";
  c.profile = "tls-server";
  c.not_before = absl::FromUnixSeconds(1'700'000'000);
  c.not_after = absl::FromUnixSeconds(1'700'000'000 + 90 * 86'400);
  c.issued_at = absl::FromUnixSeconds(1'700'000'100);
  c.caller_uid = 4'000'000'000u;  // above INT32_MAX: must not come back negative
  c.der = std::string("\x30\x82\x00\x00\x01", 5) + std::string(1, '\0') + "certificate";
  return c;
}

auto Fields(const IssuedCertificate& c) {
  return std::tie(c.ca_label, c.serial, c.subject, c.subject_alt_names, c.profile, c.not_before,
                  c.not_after, c.issued_at, c.caller_uid, c.der, c.revoked, c.revoked_at, c.reason);
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "registry-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    path_ = dir_ + "/registry.db";
    ASSERT_OK_AND_ASSIGN(registry_, Registry::Open(path_));
  }
  void TearDown() override {
    registry_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Reopen() {
    registry_.reset();
    ASSERT_OK_AND_ASSIGN(registry_, Registry::Open(path_));
  }

  // `threads` threads each insert `per_thread` certificates; thread t uses
  // serials serial_of(t, i). Returns every Insert() status.
  std::vector<absl::Status> InsertConcurrently(int threads, int per_thread,
                                               uint64_t (*serial_of)(int t, int i)) {
    std::vector<absl::Status> statuses(static_cast<size_t>(threads * per_thread));
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          statuses[static_cast<size_t>(t * per_thread + i)] =
              registry_->Insert(Cert("ca", serial_of(t, i)));
        }
      });
    }
    for (std::thread& w : workers) w.join();
    return statuses;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<Registry> registry_;
};

uint64_t DistinctSerial(int t, int i) { return static_cast<uint64_t>(t * 1000 + i + 1); }

TEST_F(RegistryTest, InsertedCertificateRoundTripsThroughFind) {
  const IssuedCertificate cert = Cert("ca", 0xABCDEF);
  ASSERT_THAT(registry_->Insert(cert), IsOk());
  ASSERT_OK_AND_ASSIGN(IssuedCertificate found, registry_->Find("ca", cert.serial));
  EXPECT_EQ(Fields(found), Fields(cert));
}

TEST_F(RegistryTest, ListReturnsEveryFieldOldestFirst) {
  IssuedCertificate newer = Cert("ca", 1);
  newer.issued_at += absl::Hours(1);
  IssuedCertificate older = Cert("ca", 2);
  older.subject = "CN=older";
  ASSERT_THAT(registry_->Insert(newer), IsOk());
  ASSERT_THAT(registry_->Insert(older), IsOk());
  ASSERT_OK_AND_ASSIGN(std::vector<IssuedCertificate> list, registry_->List("ca"));
  ASSERT_THAT(list, SizeIs(2));
  EXPECT_EQ(Fields(list[0]), Fields(older));
  EXPECT_EQ(Fields(list[1]), Fields(newer));
}

TEST_F(RegistryTest, ListHoldsOnlyThatCasCertificates) {
  ASSERT_THAT(registry_->Insert(Cert("ca", 1)), IsOk());
  ASSERT_THAT(registry_->Insert(Cert("other", 2)), IsOk());
  ASSERT_OK_AND_ASSIGN(std::vector<IssuedCertificate> list, registry_->List("other"));
  ASSERT_THAT(list, SizeIs(1));
  EXPECT_EQ(list[0].serial, Serial(2));
}

TEST_F(RegistryTest, SerialExistsOnlyForRecordedSerialOfThatCa) {
  ASSERT_THAT(registry_->Insert(Cert("ca", 7)), IsOk());
  EXPECT_EQ(registry_->SerialExists("ca", Serial(7)).value_or(false), true);
  EXPECT_EQ(registry_->SerialExists("ca", Serial(8)).value_or(true), false);
  EXPECT_EQ(registry_->SerialExists("other", Serial(7)).value_or(true), false);
}

TEST_F(RegistryTest, DuplicateSerialIsAlreadyExistsAndKeepsFirstRow) {
  const IssuedCertificate first = Cert("ca", 0x0ABC);
  ASSERT_THAT(registry_->Insert(first), IsOk());
  IssuedCertificate second = Cert("ca", 0x0ABC);
  second.subject = "CN=impostor";
  EXPECT_THAT(registry_->Insert(second),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("0ABC")));
  ASSERT_OK_AND_ASSIGN(IssuedCertificate found, registry_->Find("ca", first.serial));
  EXPECT_EQ(Fields(found), Fields(first));
}

TEST_F(RegistryTest, SameSerialUnderAnotherCaIsRecorded) {
  ASSERT_THAT(registry_->Insert(Cert("ca", 5)), IsOk());
  EXPECT_THAT(registry_->Insert(Cert("other", 5)), IsOk());
  EXPECT_THAT(registry_->Find("other", Serial(5)), IsOk());
}

TEST_F(RegistryTest, InsertRejectsSerialWithLeadingZeroByte) {
  IssuedCertificate cert = Cert("ca", 1);
  cert.serial = std::string("\x00\x80", 2);
  EXPECT_THAT(registry_->Insert(cert),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0080")));
}

TEST_F(RegistryTest, RowsSurviveReopen) {
  const IssuedCertificate cert = Cert("ca", 42);
  ASSERT_THAT(registry_->Insert(cert), IsOk());
  Reopen();
  ASSERT_OK_AND_ASSIGN(IssuedCertificate found, registry_->Find("ca", cert.serial));
  EXPECT_EQ(Fields(found), Fields(cert));
}

TEST_F(RegistryTest, DatabaseAndWalFilesAreOwnerOnly) {
  ASSERT_THAT(registry_->Insert(Cert("ca", 1)), IsOk());
  for (const std::string& file : {path_, path_ + "-wal"}) {
    struct stat st;
    ASSERT_EQ(stat(file.c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << file;
  }
}

TEST_F(RegistryTest, WriterUsesWalAndSynchronousFull) {
  ASSERT_OK_AND_ASSIGN(WriterStateForTesting state, GetWriterStateForTesting(*registry_));
  EXPECT_EQ(state.journal_mode, "wal");
  EXPECT_EQ(state.synchronous, 2);  // FULL
}

TEST_F(RegistryTest, FileHeaderRecordsWalModeForEveryReader) {
  // Bytes 18 and 19 of an SQLite file are its write/read format: 2 means WAL.
  std::ifstream in(path_, std::ios::binary);
  std::string header(20, '\0');
  ASSERT_TRUE(in.read(header.data(), 20));
  EXPECT_EQ(header[18], 2);
  EXPECT_EQ(header[19], 2);
}

TEST_F(RegistryTest, ConcurrentInsertsAreAllRecorded) {
  for (const absl::Status& s : InsertConcurrently(16, 100, DistinctSerial)) {
    ASSERT_THAT(s, IsOk());
  }
  ASSERT_OK_AND_ASSIGN(std::vector<IssuedCertificate> list, registry_->List("ca"));
  EXPECT_THAT(list, SizeIs(1600));
}

TEST_F(RegistryTest, ConcurrentInsertsShareCommits) {
  InsertConcurrently(16, 100, DistinctSerial);
  ASSERT_OK_AND_ASSIGN(WriterStateForTesting state, GetWriterStateForTesting(*registry_));
  EXPECT_GT(state.commits, 0u);
  EXPECT_LT(state.commits, 1600u);
}

TEST_F(RegistryTest, FailedInsertDoesNotUndoOthersInItsCommit) {
  // Threads 2k and 2k+1 race to insert the same serials: exactly one wins
  // each, whichever batches the writer forms.
  std::vector<absl::Status> statuses = InsertConcurrently(
      16, 50, [](int t, int i) { return static_cast<uint64_t>((t / 2) * 1000 + i + 1); });
  int ok = 0, duplicate = 0;
  for (const absl::Status& s : statuses) {
    if (s.ok()) ++ok;
    if (s.code() == absl::StatusCode::kAlreadyExists) ++duplicate;
  }
  EXPECT_EQ(ok, 400);
  EXPECT_EQ(duplicate, 400);
  ASSERT_OK_AND_ASSIGN(std::vector<IssuedCertificate> list, registry_->List("ca"));
  EXPECT_THAT(list, SizeIs(400));
}

TEST_F(RegistryTest, FindUnknownSerialIsNotFoundNamingIt) {
  EXPECT_THAT(registry_->Find("ca", Serial(0xBEEF)),
              StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr("BEEF"), HasSubstr("ca"))));
}

TEST_F(RegistryTest, RevokeUnknownSerialIsNotFound) {
  EXPECT_THAT(registry_->Revoke("ca", Serial(9), absl::Now(), RevocationReason::kSuperseded),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("09")));
}

TEST_F(RegistryTest, RevokeRecordsTimeAndReason) {
  ASSERT_THAT(registry_->Insert(Cert("ca", 3)), IsOk());
  const absl::Time when = absl::FromUnixSeconds(1'710'000'000);
  ASSERT_THAT(registry_->Revoke("ca", Serial(3), when, RevocationReason::kKeyCompromise), IsOk());
  ASSERT_OK_AND_ASSIGN(IssuedCertificate found, registry_->Find("ca", Serial(3)));
  EXPECT_TRUE(found.revoked);
  EXPECT_EQ(found.revoked_at, when);
  EXPECT_EQ(found.reason, RevocationReason::kKeyCompromise);
}

TEST_F(RegistryTest, RevokingTwiceIsFailedPreconditionAndKeepsFirstRevocation) {
  ASSERT_THAT(registry_->Insert(Cert("ca", 3)), IsOk());
  const absl::Time when = absl::FromUnixSeconds(1'710'000'000);
  ASSERT_THAT(registry_->Revoke("ca", Serial(3), when, RevocationReason::kKeyCompromise), IsOk());
  EXPECT_THAT(
      registry_->Revoke("ca", Serial(3), when + absl::Hours(1), RevocationReason::kSuperseded),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr("already revoked"), HasSubstr("keyCompromise"))));
  ASSERT_OK_AND_ASSIGN(IssuedCertificate found, registry_->Find("ca", Serial(3)));
  EXPECT_EQ(found.revoked_at, when);
  EXPECT_EQ(found.reason, RevocationReason::kKeyCompromise);
}

TEST_F(RegistryTest, RevokeRejectsReasonCodeOutsideRfc5280) {
  ASSERT_THAT(registry_->Insert(Cert("ca", 3)), IsOk());
  EXPECT_THAT(registry_->Revoke("ca", Serial(3), absl::Now(), static_cast<RevocationReason>(7)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("7")));
}

TEST_F(RegistryTest, CrlNumbersStartAtOneAndIncrease) {
  for (uint64_t want = 1; want <= 3; ++want) {
    ASSERT_OK_AND_ASSIGN(Registry::CrlContents crl, registry_->NextCrl("ca"));
    EXPECT_EQ(crl.crl_number, want);
  }
}

TEST_F(RegistryTest, CrlNumbersContinueAfterReopen) {
  ASSERT_THAT(registry_->NextCrl("ca"), IsOk());
  ASSERT_THAT(registry_->NextCrl("ca"), IsOk());
  Reopen();
  ASSERT_OK_AND_ASSIGN(Registry::CrlContents crl, registry_->NextCrl("ca"));
  EXPECT_EQ(crl.crl_number, 3u);
}

TEST_F(RegistryTest, CrlNumbersArePerCa) {
  ASSERT_THAT(registry_->NextCrl("ca"), IsOk());
  ASSERT_OK_AND_ASSIGN(Registry::CrlContents crl, registry_->NextCrl("other"));
  EXPECT_EQ(crl.crl_number, 1u);
}

TEST_F(RegistryTest, NextCrlListsRevokedEntriesInSerialOrder) {
  const absl::Time t0 = absl::FromUnixSeconds(1'710'000'000);
  for (uint64_t serial : {0x0100u, 0x02u, 0xFFu, 0x03u}) {
    ASSERT_THAT(registry_->Insert(Cert("ca", serial)), IsOk());
  }
  ASSERT_THAT(registry_->Insert(Cert("other", 0x05)), IsOk());
  ASSERT_THAT(registry_->Revoke("ca", Serial(0x0100), t0, RevocationReason::kKeyCompromise),
              IsOk());
  ASSERT_THAT(
      registry_->Revoke("ca", Serial(0xFF), t0 + absl::Seconds(1), RevocationReason::kSuperseded),
      IsOk());
  ASSERT_THAT(registry_->Revoke("ca", Serial(0x02), t0 + absl::Seconds(2),
                                RevocationReason::kCessationOfOperation),
              IsOk());
  ASSERT_THAT(registry_->Revoke("other", Serial(0x05), t0, RevocationReason::kUnspecified), IsOk());
  ASSERT_OK_AND_ASSIGN(Registry::CrlContents crl, registry_->NextCrl("ca"));
  // Numeric order: 0x02 < 0xFF < 0x0100, though bytewise 0x0100 sorts first.
  ASSERT_THAT(crl.revoked, SizeIs(3));
  EXPECT_EQ(crl.revoked[0].serial, Serial(0x02));
  EXPECT_EQ(crl.revoked[0].revoked_at, t0 + absl::Seconds(2));
  EXPECT_EQ(crl.revoked[0].reason, RevocationReason::kCessationOfOperation);
  EXPECT_EQ(crl.revoked[1].serial, Serial(0xFF));
  EXPECT_EQ(crl.revoked[1].reason, RevocationReason::kSuperseded);
  EXPECT_EQ(crl.revoked[2].serial, Serial(0x0100));
  EXPECT_EQ(crl.revoked[2].revoked_at, t0);
  EXPECT_EQ(crl.revoked[2].reason, RevocationReason::kKeyCompromise);
}

TEST_F(RegistryTest, IntegrityCheckPassesOnWrittenDatabase) {
  ASSERT_THAT(registry_->Insert(Cert("ca", 1)), IsOk());
  EXPECT_THAT(registry_->IntegrityCheck(), IsOk());
}

TEST_F(RegistryTest, OpenRejectsFileThatIsNotADatabase) {
  const std::string bogus = dir_ + "/bogus.db";
  std::ofstream(bogus) << std::string(4096, 'x');
  EXPECT_THAT(Registry::Open(bogus),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(bogus), HasSubstr("file is not a database"))));
}

TEST_F(RegistryTest, OpenRejectsMissingDirectory) {
  const std::string path = dir_ + "/missing/registry.db";
  EXPECT_THAT(Registry::Open(path),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(path)));
}

TEST_F(RegistryTest, OpenRejectsSchemaFromNewerKeyhold) {
  registry_.reset();
  // Closing the last connection checkpoints the WAL into the file and
  // removes it, so the header on disk is the whole truth.
  ASSERT_FALSE(std::filesystem::exists(path_ + "-wal"));
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(60);  // user_version, big-endian
    f.write("\x00\x00\x00\x63", 4);
    ASSERT_TRUE(f.good());
  }
  EXPECT_THAT(Registry::Open(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("newer")));
}

constexpr RevocationReason kAllReasons[] = {
    RevocationReason::kUnspecified,        RevocationReason::kKeyCompromise,
    RevocationReason::kCaCompromise,       RevocationReason::kAffiliationChanged,
    RevocationReason::kSuperseded,         RevocationReason::kCessationOfOperation,
    RevocationReason::kCertificateHold,    RevocationReason::kRemoveFromCrl,
    RevocationReason::kPrivilegeWithdrawn, RevocationReason::kAaCompromise,
};

TEST(RevocationReasonTest, EveryNameParsesBackToItsReason) {
  for (RevocationReason reason : kAllReasons) {
    ASSERT_OK_AND_ASSIGN(RevocationReason parsed,
                         ParseRevocationReason(RevocationReasonName(reason)));
    EXPECT_EQ(parsed, reason) << RevocationReasonName(reason);
  }
}

TEST(RevocationReasonTest, NamesAreTheOnesOpensslUses) {
  EXPECT_STREQ(RevocationReasonName(RevocationReason::kCaCompromise), "cACompromise");
  EXPECT_STREQ(RevocationReasonName(RevocationReason::kRemoveFromCrl), "removeFromCRL");
  EXPECT_STREQ(RevocationReasonName(RevocationReason::kAaCompromise), "aACompromise");
}

TEST(RevocationReasonTest, ParseIgnoresCase) {
  ASSERT_OK_AND_ASSIGN(RevocationReason reason, ParseRevocationReason("KEYCOMPROMISE"));
  EXPECT_EQ(reason, RevocationReason::kKeyCompromise);
}

TEST(RevocationReasonTest, UnknownNameIsInvalidArgumentListingNames) {
  EXPECT_THAT(
      ParseRevocationReason("stolen"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("stolen"), HasSubstr("keyCompromise"), HasSubstr("aACompromise"))));
}

}  // namespace
}  // namespace keyhold::agent::ca
