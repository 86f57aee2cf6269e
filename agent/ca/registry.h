// The issuance registry: every certificate the CA issues, durably, before
// the caller sees it; revocations; and each CA's CRL number. SQLite in WAL
// mode with synchronous=FULL under the agent's state directory.
//
// Writes go through one writer thread that commits whatever is queued in a
// single transaction (group commit): concurrent issuances may share a
// commit, none skips it, and Insert() returns only once its row is on disk.
#ifndef KEYHOLD_AGENT_CA_REGISTRY_H_
#define KEYHOLD_AGENT_CA_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace keyhold::agent::ca {

// RFC 5280 §5.3.1 CRLReason codes keyhold accepts (7 is unused by the RFC).
enum class RevocationReason : int {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kCertificateHold = 6,
  kRemoveFromCrl = 8,
  kPrivilegeWithdrawn = 9,
  kAaCompromise = 10,
};

// "unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
// "superseded", "cessationOfOperation", "certificateHold", "removeFromCRL",
// "privilegeWithdrawn", "aACompromise" (the names `openssl ca -crl_reason`
// uses).
const char* RevocationReasonName(RevocationReason reason);
// The inverse, case-insensitive; INVALID_ARGUMENT listing the names.
absl::StatusOr<RevocationReason> ParseRevocationReason(const std::string& name);

struct IssuedCertificate {
  std::string ca_label;    // the CA key's label
  std::string serial;      // big-endian bytes, no leading zero byte
  std::string subject;     // FormatDistinguishedName()
  std::string subject_alt_names;  // FormatSubjectAltNames()
  std::string profile;
  absl::Time not_before;
  absl::Time not_after;
  absl::Time issued_at;
  uint32_t caller_uid = 0;
  std::string der;         // the certificate
  bool revoked = false;
  absl::Time revoked_at;   // meaningful when revoked
  RevocationReason reason = RevocationReason::kUnspecified;
};

struct RevokedEntry {
  std::string serial;
  absl::Time revoked_at;
  RevocationReason reason = RevocationReason::kUnspecified;
};

class Registry {
 public:
  // Opens or creates the database at `path` (mode 0600), sets WAL and
  // synchronous=FULL, creates the schema, and starts the writer thread.
  // FAILED_PRECONDITION with the path when it cannot.
  static absl::StatusOr<std::unique_ptr<Registry>> Open(const std::string& path);
  virtual ~Registry() = default;

  // Durably records `cert`. Returns after the transaction holding it has
  // committed (fsync'd). ALREADY_EXISTS when (ca_label, serial) is already
  // recorded; nothing is written then.
  virtual absl::Status Insert(const IssuedCertificate& cert) = 0;

  virtual absl::StatusOr<bool> SerialExists(const std::string& ca_label,
                                            const std::string& serial) = 0;

  // Every certificate of `ca_label`, oldest first.
  virtual absl::StatusOr<std::vector<IssuedCertificate>> List(
      const std::string& ca_label) = 0;

  // NOT_FOUND when the CA never issued `serial`.
  virtual absl::StatusOr<IssuedCertificate> Find(const std::string& ca_label,
                                                 const std::string& serial) = 0;

  // Marks the certificate revoked, durably. NOT_FOUND for an unknown
  // serial, FAILED_PRECONDITION when it is already revoked.
  virtual absl::Status Revoke(const std::string& ca_label,
                              const std::string& serial, absl::Time when,
                              RevocationReason reason) = 0;

  struct CrlContents {
    uint64_t crl_number = 0;  // 1 for the CA's first CRL, then +1 each time
    std::vector<RevokedEntry> revoked;  // ordered by serial
  };
  // In one durable transaction: takes the CA's next CRL number and the list
  // of its revoked certificates. Numbers never repeat or go down, across
  // restarts.
  virtual absl::StatusOr<CrlContents> NextCrl(const std::string& ca_label) = 0;

  // PRAGMA integrity_check; INTERNAL with its report when not "ok".
  virtual absl::Status IntegrityCheck() = 0;
};

// For registry_test.cc only, so tests can see what is otherwise invisible:
// how many write transactions have committed (group commit lets many
// writes share one) and what the writer connection reports for PRAGMA
// journal_mode and synchronous. INVALID_ARGUMENT for a Registry that
// Open() did not make.
struct WriterStateForTesting {
  uint64_t commits = 0;
  std::string journal_mode;
  int64_t synchronous = -1;  // 2 is FULL
};
absl::StatusOr<WriterStateForTesting> GetWriterStateForTesting(Registry& registry);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_REGISTRY_H_
