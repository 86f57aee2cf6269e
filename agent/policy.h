// Who may do what with which key. Admins (config `admins`) may use every
// key and make admin calls. A key named in the config may be used by its
// `users` and `groups`; any other key by admins only. Raw signing needs
// purpose `sign` (or `tls-client` with `allow_raw_sign`); a `ca` key never
// signs raw digests, whoever asks.
#ifndef KEYHOLD_AGENT_POLICY_H_
#define KEYHOLD_AGENT_POLICY_H_

#include <optional>

#include "absl/status/status.h"
#include "agent/caller.h"
#include "agent/config.h"
#include "agent/key_catalog.h"
#include "tokens/token.h"

namespace keyhold::agent {

enum class KeyOperation {
  kRead,    // GetKey, ListKeys
  kSign,    // raw Sign
  kManage,  // DeleteKey, ImportCertificate
  kRequest, // CreateCsr: the key signs a CSR the agent builds
  kIssue,   // SignCsr, ListCertificates, GenerateCrl: needs purpose ca
  kHandshake,  // TlsService: the agent's own handshakes; needs tls-client
};

class Policy {
 public:
  Policy(const Config& config, const KeyCatalog& catalog)
      : config_(config), catalog_(catalog) {}

  bool IsAdmin(const Caller& caller) const;
  // PERMISSION_DENIED unless the caller is an admin.
  absl::Status CheckAdmin(const Caller& caller, absl::string_view operation) const;

  // The config's purpose for the key's label, else the catalog's.
  std::optional<KeyPurpose> PurposeOf(const KeyInfo& key) const;

  // PERMISSION_DENIED with the reason, or OK.
  absl::Status CheckKey(const Caller& caller, const KeyInfo& key,
                        KeyOperation operation) const;

 private:
  const Config& config_;
  const KeyCatalog& catalog_;
};

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_POLICY_H_
