#include "agent/ca/registry.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <iterator>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

// Local to this file: the status plumbing that SQLite's many fallible calls need.
#define KH_RETURN_IF_ERROR(expr)                             \
  do {                                                       \
    if (absl::Status kh_s = (expr); !kh_s.ok()) return kh_s; \
  } while (0)
#define KH_CONCAT_INNER(a, b) a##b
#define KH_CONCAT(a, b) KH_CONCAT_INNER(a, b)
#define KH_ASSIGN_OR_RETURN(lhs, expr) \
  KH_ASSIGN_OR_RETURN_IMPL(KH_CONCAT(kh_or_, __LINE__), lhs, expr)
#define KH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

namespace keyhold::agent::ca {
namespace {

// Waiting out another process's lock (an operator's backup, sqlite3 shell)
// beats failing an issuance outright.
constexpr int kBusyTimeoutMs = 5000;

// Index i takes the schema from version i to i + 1. Each sets user_version
// itself, so a migration and the version it produces commit together.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE certificates (
  ca_label TEXT NOT NULL, serial BLOB NOT NULL, subject TEXT NOT NULL,
  subject_alt_names TEXT NOT NULL, profile TEXT NOT NULL,
  not_before INTEGER NOT NULL, not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL,
  caller_uid INTEGER NOT NULL, der BLOB NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER, reason INTEGER,
  PRIMARY KEY (ca_label, serial));
CREATE TABLE crl_numbers (ca_label TEXT PRIMARY KEY NOT NULL, last_number INTEGER NOT NULL);
PRAGMA user_version = 1;
)sql",
};
constexpr int64_t kSchemaVersion = std::size(kMigrations);

// The column order ReadCertificate() expects.
#define KH_SELECT_CERTIFICATES                                                            \
  "SELECT ca_label, serial, subject, subject_alt_names, profile, not_before, not_after, " \
  "issued_at, caller_uid, der, revoked, revoked_at, reason FROM certificates "

struct ReasonName {
  RevocationReason reason;
  const char* name;
};
constexpr ReasonName kReasonNames[] = {
    {RevocationReason::kUnspecified, "unspecified"},
    {RevocationReason::kKeyCompromise, "keyCompromise"},
    {RevocationReason::kCaCompromise, "cACompromise"},
    {RevocationReason::kAffiliationChanged, "affiliationChanged"},
    {RevocationReason::kSuperseded, "superseded"},
    {RevocationReason::kCessationOfOperation, "cessationOfOperation"},
    {RevocationReason::kCertificateHold, "certificateHold"},
    {RevocationReason::kRemoveFromCrl, "removeFromCRL"},
    {RevocationReason::kPrivilegeWithdrawn, "privilegeWithdrawn"},
    {RevocationReason::kAaCompromise, "aACompromise"},
};

// Rejects codes outside the enum (such as 7), which a CRL must not carry.
std::optional<RevocationReason> ReasonFromCode(int64_t code) {
  for (const ReasonName& r : kReasonNames) {
    if (static_cast<int64_t>(r.reason) == code) return r.reason;
  }
  return std::nullopt;
}

std::string CertName(absl::string_view ca_label, absl::string_view serial) {
  return absl::StrCat("serial ", absl::AsciiStrToUpper(absl::BytesToHexString(serial)), " of CA \"",
                      ca_label, "\"");
}

absl::Status NotFound(absl::string_view ca_label, absl::string_view serial) {
  return absl::NotFoundError(absl::StrCat("no certificate with ", CertName(ca_label, serial)));
}

// Codes are checked on the way in, so a bad one means the file was damaged or edited.
absl::StatusOr<RevocationReason> StoredReason(int64_t code, absl::string_view ca_label,
                                              absl::string_view serial) {
  std::optional<RevocationReason> reason = ReasonFromCode(code);
  if (reason.has_value()) return *reason;
  return absl::InternalError(absl::StrCat("registry database: ", CertName(ca_label, serial),
                                          " has invalid revocation reason code ", code));
}

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

absl::Status SqliteError(sqlite3* db, absl::string_view sql) {
  return absl::InternalError(
      absl::StrCat("registry database: ", sqlite3_errmsg(db), " (running: ", sql, ")"));
}

// For statements without values or result rows (BEGIN, COMMIT, SAVEPOINT, DDL).
absl::Status Exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return SqliteError(db, sql);
  return absl::OkStatus();
}

// One prepared statement. A failed prepare or bind is reported by Step(), so
// call sites read as prepare, bind, step. Values are bound without copying
// (a null destructor is SQLITE_STATIC): a Statement never outlives the call
// whose strings are bound to it.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) error_ = SqliteError(db, sql);
    stmt_.reset(raw);
  }

  Statement& Text(absl::string_view v) {
    if (error_.ok()) {
      Check(sqlite3_bind_text64(stmt_.get(), ++next_, NonNull(v), v.size(), nullptr, SQLITE_UTF8));
    }
    return *this;
  }
  Statement& Blob(absl::string_view v) {
    if (error_.ok()) {
      Check(sqlite3_bind_blob64(stmt_.get(), ++next_, NonNull(v), v.size(), nullptr));
    }
    return *this;
  }
  Statement& Int(int64_t v) {
    if (error_.ok()) Check(sqlite3_bind_int64(stmt_.get(), ++next_, v));
    return *this;
  }

  // True for a row, false when done. rc() has SQLite's (extended) code.
  absl::StatusOr<bool> Step() {
    if (!error_.ok()) return error_;
    rc_ = sqlite3_step(stmt_.get());
    if (rc_ == SQLITE_ROW) return true;
    if (rc_ == SQLITE_DONE) return false;
    return SqliteError(db_, sqlite3_sql(stmt_.get()));
  }
  int rc() const { return rc_; }

  std::string ColumnText(int i) { return Bytes(sqlite3_column_text(stmt_.get(), i), i); }
  std::string ColumnBlob(int i) { return Bytes(sqlite3_column_blob(stmt_.get(), i), i); }
  int64_t ColumnInt(int i) { return sqlite3_column_int64(stmt_.get(), i); }

 private:
  // A null pointer would bind SQL NULL instead of an empty value.
  static const char* NonNull(absl::string_view v) { return v.data() == nullptr ? "" : v.data(); }
  void Check(int rc) {
    if (rc != SQLITE_OK) {
      error_ = absl::InternalError(
          absl::StrCat("registry database: binding a value: ", sqlite3_errstr(rc),
                       " (running: ", sqlite3_sql(stmt_.get()), ")"));
    }
  }
  // sqlite3_column_bytes() must come after the pointer fetch (which may convert).
  std::string Bytes(const void* p, int i) {
    if (p == nullptr) return std::string();
    return std::string(static_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), i)));
  }

  sqlite3* db_;
  StmtPtr stmt_;
  absl::Status error_;
  int next_ = 0;
  int rc_ = SQLITE_OK;
};

absl::StatusOr<IssuedCertificate> ReadCertificate(Statement& st) {
  IssuedCertificate c;
  c.ca_label = st.ColumnText(0);
  c.serial = st.ColumnBlob(1);
  c.subject = st.ColumnText(2);
  c.subject_alt_names = st.ColumnText(3);
  c.profile = st.ColumnText(4);
  c.not_before = absl::FromUnixSeconds(st.ColumnInt(5));
  c.not_after = absl::FromUnixSeconds(st.ColumnInt(6));
  c.issued_at = absl::FromUnixSeconds(st.ColumnInt(7));
  c.caller_uid = static_cast<uint32_t>(st.ColumnInt(8));
  c.der = st.ColumnBlob(9);
  c.revoked = st.ColumnInt(10) != 0;
  c.revoked_at = absl::FromUnixSeconds(st.ColumnInt(11));  // NULL reads as 0, the epoch
  KH_ASSIGN_OR_RETURN(c.reason, StoredReason(st.ColumnInt(12), c.ca_label, c.serial));
  return c;
}

absl::StatusOr<DbPtr> OpenConnection(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);  // SQLite hands out a handle to close even when opening fails
  if (rc != SQLITE_OK) {
    return absl::InternalError(raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  return db;
}

absl::Status ConfigureWriter(sqlite3* db) {
  // journal_mode is the first statement that reads the file, so a file that
  // is not a database fails here with "file is not a database".
  Statement wal(db, "PRAGMA journal_mode = WAL");
  KH_ASSIGN_OR_RETURN(bool row, wal.Step());
  std::string mode = row ? wal.ColumnText(0) : "";
  if (!absl::EqualsIgnoreCase(mode, "wal")) {
    return absl::InternalError(
        absl::StrCat("journal_mode is \"", mode, "\", not wal; WAL needs a local filesystem"));
  }
  KH_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous = FULL"));
  return Exec(db, "PRAGMA foreign_keys = ON");
}

absl::Status MigrateSchema(sqlite3* db) {
  KH_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
  absl::Status s = [db]() -> absl::Status {
    Statement st(db, "PRAGMA user_version");
    KH_RETURN_IF_ERROR(st.Step().status());
    const int64_t version = st.ColumnInt(0);
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat("schema version ", version,
                                                        " is newer than this keyhold knows (",
                                                        kSchemaVersion, "); run a newer keyhold"));
    }
    for (int64_t v = version; v < kSchemaVersion; ++v) {
      KH_RETURN_IF_ERROR(Exec(db, kMigrations[v]));
    }
    return Exec(db, "COMMIT");
  }();
  if (!s.ok() && sqlite3_get_autocommit(db) == 0) Exec(db, "ROLLBACK").IgnoreError();
  return s;
}

class SqliteRegistry final : public Registry {
 public:
  SqliteRegistry(DbPtr writer, DbPtr reader)
      : writer_(std::move(writer)), reader_(std::move(reader)) {
    writer_thread_ = std::thread([this] { WriterLoop(); });
  }

  // Queued jobs still commit; the writer leaves once the queue is empty.
  ~SqliteRegistry() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    writer_thread_.join();
  }

  absl::Status Insert(const IssuedCertificate& cert) override {
    if (cert.ca_label.empty()) return absl::InvalidArgumentError("registry: empty CA label");
    if (cert.serial.empty() || cert.serial[0] == '\0') {
      return absl::InvalidArgumentError(
          absl::StrCat("registry: ", CertName(cert.ca_label, cert.serial),
                       " must be big-endian bytes, not empty, without a leading zero byte"));
    }
    return Submit([&cert](sqlite3* db) -> absl::Status {
      Statement st(db,
                   "INSERT INTO certificates (ca_label, serial, subject, subject_alt_names, "
                   "profile, not_before, not_after, issued_at, caller_uid, der) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      st.Text(cert.ca_label).Blob(cert.serial).Text(cert.subject).Text(cert.subject_alt_names);
      st.Text(cert.profile).Int(absl::ToUnixSeconds(cert.not_before));
      st.Int(absl::ToUnixSeconds(cert.not_after)).Int(absl::ToUnixSeconds(cert.issued_at));
      st.Int(cert.caller_uid).Blob(cert.der);
      absl::Status s = st.Step().status();
      if (st.rc() == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(
            absl::StrCat(CertName(cert.ca_label, cert.serial), " is already recorded"));
      }
      return s;
    });
  }

  absl::StatusOr<bool> SerialExists(const std::string& ca_label,
                                    const std::string& serial) override {
    absl::MutexLock lock(&read_mu_);
    Statement st(reader_.get(), "SELECT 1 FROM certificates WHERE ca_label = ? AND serial = ?");
    st.Text(ca_label).Blob(serial);
    return st.Step();
  }

  absl::StatusOr<std::vector<IssuedCertificate>> List(const std::string& ca_label) override {
    absl::MutexLock lock(&read_mu_);
    Statement st(reader_.get(),
                 KH_SELECT_CERTIFICATES "WHERE ca_label = ? ORDER BY issued_at, rowid");
    st.Text(ca_label);
    std::vector<IssuedCertificate> out;
    for (;;) {
      KH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return out;
      KH_ASSIGN_OR_RETURN(IssuedCertificate c, ReadCertificate(st));
      out.push_back(std::move(c));
    }
  }

  absl::StatusOr<IssuedCertificate> Find(const std::string& ca_label,
                                         const std::string& serial) override {
    absl::MutexLock lock(&read_mu_);
    Statement st(reader_.get(), KH_SELECT_CERTIFICATES "WHERE ca_label = ? AND serial = ?");
    st.Text(ca_label).Blob(serial);
    KH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound(ca_label, serial);
    return ReadCertificate(st);
  }

  absl::Status Revoke(const std::string& ca_label, const std::string& serial, absl::Time when,
                      RevocationReason reason) override {
    if (!ReasonFromCode(static_cast<int64_t>(reason)).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "revocation reason code ", static_cast<int>(reason), " is not an RFC 5280 CRLReason"));
    }
    return Submit([&](sqlite3* db) -> absl::Status {
      Statement find(db,
                     "SELECT revoked, revoked_at, reason FROM certificates "
                     "WHERE ca_label = ? AND serial = ?");
      find.Text(ca_label).Blob(serial);
      KH_ASSIGN_OR_RETURN(bool row, find.Step());
      if (!row) return NotFound(ca_label, serial);
      if (find.ColumnInt(0) != 0) {
        KH_ASSIGN_OR_RETURN(RevocationReason was,
                            StoredReason(find.ColumnInt(2), ca_label, serial));
        return absl::FailedPreconditionError(absl::StrCat(
            CertName(ca_label, serial), " is already revoked (", RevocationReasonName(was), ", ",
            absl::FormatTime(absl::RFC3339_sec, absl::FromUnixSeconds(find.ColumnInt(1)),
                             absl::UTCTimeZone()),
            ")"));
      }
      Statement update(db,
                       "UPDATE certificates SET revoked = 1, revoked_at = ?, reason = ? "
                       "WHERE ca_label = ? AND serial = ?");
      update.Int(absl::ToUnixSeconds(when)).Int(static_cast<int64_t>(reason));
      update.Text(ca_label).Blob(serial);
      return update.Step().status();
    });
  }

  absl::StatusOr<CrlContents> NextCrl(const std::string& ca_label) override {
    CrlContents crl;
    absl::Status s = Submit([&](sqlite3* db) -> absl::Status {
      Statement number(db,
                       "INSERT INTO crl_numbers (ca_label, last_number) VALUES (?, 1) "
                       "ON CONFLICT (ca_label) DO UPDATE SET last_number = last_number + 1 "
                       "RETURNING last_number");
      number.Text(ca_label);
      KH_RETURN_IF_ERROR(number.Step().status());
      crl.crl_number = static_cast<uint64_t>(number.ColumnInt(0));
      // Serials are big-endian without leading zeros, so (length, bytes)
      // order is numeric order.
      Statement list(db,
                     "SELECT serial, revoked_at, reason FROM certificates "
                     "WHERE ca_label = ? AND revoked = 1 ORDER BY length(serial), serial");
      list.Text(ca_label);
      for (;;) {
        KH_ASSIGN_OR_RETURN(bool row, list.Step());
        if (!row) return absl::OkStatus();
        RevokedEntry e;
        e.serial = list.ColumnBlob(0);
        e.revoked_at = absl::FromUnixSeconds(list.ColumnInt(1));
        KH_ASSIGN_OR_RETURN(e.reason, StoredReason(list.ColumnInt(2), ca_label, e.serial));
        crl.revoked.push_back(std::move(e));
      }
    });
    if (!s.ok()) return s;
    return crl;
  }

  absl::Status IntegrityCheck() override {
    absl::MutexLock lock(&read_mu_);
    Statement st(reader_.get(), "PRAGMA integrity_check");
    std::vector<std::string> report;
    for (;;) {
      KH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      report.push_back(st.ColumnText(0));
    }
    if (report.size() == 1 && report[0] == "ok") return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat("registry database integrity check failed: ", absl::StrJoin(report, "; ")));
  }

  absl::StatusOr<WriterStateForTesting> WriterState() {
    WriterStateForTesting state;
    {
      absl::MutexLock lock(&mu_);
      state.commits = commits_;  // before our own job's commit below
    }
    absl::Status s = Submit([&state](sqlite3* db) -> absl::Status {
      Statement st(db, "SELECT * FROM pragma_journal_mode, pragma_synchronous");
      KH_RETURN_IF_ERROR(st.Step().status());
      state.journal_mode = st.ColumnText(0);
      state.synchronous = st.ColumnInt(1);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return state;
  }

 private:
  // Runs on the writer thread, inside the batch's transaction and its own
  // savepoint. Its caller is blocked in Submit(), so it may capture by reference.
  struct WriteJob {
    std::function<absl::Status(sqlite3*)> run;
    absl::Status status;
    bool done = false;
  };

  // Blocks until the transaction holding `run`'s writes has committed (or
  // failed); COMMIT under synchronous=FULL in WAL mode has fsync'd the WAL.
  absl::Status Submit(std::function<absl::Status(sqlite3*)> run) {
    WriteJob job;
    job.run = std::move(run);
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::FailedPreconditionError("registry is closing");
    queue_.push_back(&job);
    mu_.Await(absl::Condition(&job.done));
    return job.status;
  }

  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  void WriterLoop() {
    for (;;) {
      std::vector<WriteJob*> batch;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &SqliteRegistry::HasWorkOrStopping));
        if (queue_.empty()) return;  // stopping, and nothing left to commit
        batch.swap(queue_);
      }
      const bool committed = CommitBatch(batch);
      absl::MutexLock lock(&mu_);
      if (committed) ++commits_;
      for (WriteJob* job : batch) job->done = true;
    }
  }

  // One transaction for the whole batch, one savepoint per job so a job
  // that fails (a duplicate serial) is undone alone. Sets every job's status.
  bool CommitBatch(const std::vector<WriteJob*>& batch) {
    sqlite3* db = writer_.get();
    absl::Status batch_status = Exec(db, "BEGIN IMMEDIATE");
    for (WriteJob* job : batch) {
      if (batch_status.ok()) batch_status = Exec(db, "SAVEPOINT job");
      if (!batch_status.ok()) break;
      job->status = job->run(db);
      if (job->status.ok()) {
        batch_status = Exec(db, "RELEASE job");
      } else if (sqlite3_get_autocommit(db) != 0) {
        // SQLite rolled back the whole transaction itself (disk full, I/O error).
        batch_status = job->status;
      } else {
        batch_status = Exec(db, "ROLLBACK TO job");
        if (batch_status.ok()) batch_status = Exec(db, "RELEASE job");
      }
    }
    if (batch_status.ok()) batch_status = Exec(db, "COMMIT");
    if (batch_status.ok()) return true;
    if (sqlite3_get_autocommit(db) == 0) Exec(db, "ROLLBACK").IgnoreError();
    // Every job fails, even one that had failed alone: its ALREADY_EXISTS may
    // have come from a row an earlier job of this rolled-back batch wrote.
    for (WriteJob* job : batch) job->status = batch_status;
    return false;
  }

  const DbPtr writer_;  // after construction, used only on writer_thread_
  absl::Mutex read_mu_;
  const DbPtr reader_ ABSL_PT_GUARDED_BY(read_mu_);
  absl::Mutex mu_;
  std::vector<WriteJob*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t commits_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread writer_thread_;  // last: starts once everything it uses exists
};

}  // namespace

const char* RevocationReasonName(RevocationReason reason) {
  for (const ReasonName& r : kReasonNames) {
    if (r.reason == reason) return r.name;
  }
  return "unknown";
}

absl::StatusOr<RevocationReason> ParseRevocationReason(const std::string& name) {
  std::vector<const char*> names;
  for (const ReasonName& r : kReasonNames) {
    if (absl::EqualsIgnoreCase(name, r.name)) return r.reason;
    names.push_back(r.name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown revocation reason \"", name, "\"; expected one of: ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<std::unique_ptr<Registry>> Registry::Open(const std::string& path) {
  auto fail = [&path](absl::string_view why) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open issuance registry ", path, ": ", why));
  };
  // Create the file ourselves so it is 0600 from the start; SQLite gives the
  // -wal and -shm files the database file's mode.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail(absl::StrCat("cannot create or open the file: ", std::strerror(errno)));
  ::close(fd);

  absl::StatusOr<DbPtr> writer = OpenConnection(path, SQLITE_OPEN_READWRITE);
  if (!writer.ok()) return fail(writer.status().message());
  absl::Status s = ConfigureWriter(writer->get());
  if (s.ok()) s = MigrateSchema(writer->get());
  if (!s.ok()) return fail(s.message());
  // Read-only: the writer thread is the only one that changes anything.
  absl::StatusOr<DbPtr> reader = OpenConnection(path, SQLITE_OPEN_READONLY);
  if (!reader.ok()) return fail(reader.status().message());
  return std::make_unique<SqliteRegistry>(*std::move(writer), *std::move(reader));
}

absl::StatusOr<WriterStateForTesting> GetWriterStateForTesting(Registry& registry) {
  auto* sqlite_registry = dynamic_cast<SqliteRegistry*>(&registry);
  if (sqlite_registry == nullptr) {
    return absl::InvalidArgumentError("not a Registry made by Registry::Open()");
  }
  return sqlite_registry->WriterState();
}

}  // namespace keyhold::agent::ca

#undef KH_SELECT_CERTIFICATES
#undef KH_ASSIGN_OR_RETURN_IMPL
#undef KH_ASSIGN_OR_RETURN
#undef KH_CONCAT
#undef KH_CONCAT_INNER
#undef KH_RETURN_IF_ERROR
