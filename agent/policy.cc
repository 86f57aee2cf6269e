#include "agent/policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace keyhold::agent {

bool Policy::IsAdmin(const Caller& caller) const {
  return std::find(config_.admins.begin(), config_.admins.end(), caller.uid) !=
         config_.admins.end();
}

absl::Status Policy::CheckAdmin(const Caller& caller, absl::string_view operation) const {
  if (IsAdmin(caller)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      operation, " is for the agent's admins; uid ", caller.uid, " is not one"));
}

std::optional<KeyPurpose> Policy::PurposeOf(const KeyInfo& key) const {
  if (const KeyPolicy* configured = config_.FindKey(key.label)) return configured->purpose;
  return catalog_.PurposeOf(key.id);
}

absl::Status Policy::CheckKey(const Caller& caller, const KeyInfo& key,
                              KeyOperation operation) const {
  const KeyPolicy* configured = config_.FindKey(key.label);
  if (operation == KeyOperation::kManage) {
    return CheckAdmin(caller, absl::StrCat("managing key \"", key.label, "\""));
  }
  bool allowed = IsAdmin(caller);
  if (!allowed && configured != nullptr) {
    allowed = std::find(configured->users.begin(), configured->users.end(), caller.uid) !=
              configured->users.end();
    for (gid_t g : configured->groups) allowed = allowed || caller.InGroup(g);
  }
  if (!allowed) {
    return absl::PermissionDeniedError(absl::StrCat(
        "uid ", caller.uid, " may not use key \"", key.label, "\"",
        configured == nullptr ? " (keys not in the config are for admins only)" : ""));
  }
  std::optional<KeyPurpose> purpose = PurposeOf(key);
  if (operation == KeyOperation::kIssue) {
    if (purpose == KeyPurpose::kCa) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "key \"", key.label, "\" is not a CA key (purpose ",
        purpose ? KeyPurposeName(*purpose) : "none",
        "); give it purpose = \"ca\" in the config or generate it with purpose ca"));
  }
  if (operation == KeyOperation::kHandshake) {
    if (purpose == KeyPurpose::kTlsClient) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(
        "key \"", key.label, "\" is not a tls-client key (purpose ",
        purpose ? KeyPurposeName(*purpose) : "none", "); the agent's handshakes use only "
        "keys with purpose = \"tls-client\""));
  }
  if (operation != KeyOperation::kSign) return absl::OkStatus();
  if (!purpose.has_value()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "key \"", key.label, "\" has no purpose; name it in the config with purpose = \"sign\""));
  }
  switch (*purpose) {
    case KeyPurpose::kSign:
      return absl::OkStatus();
    case KeyPurpose::kTlsClient:
      if (configured != nullptr && configured->allow_raw_sign) return absl::OkStatus();
      return absl::PermissionDeniedError(absl::StrCat(
          "key \"", key.label, "\" is a tls-client key; raw signing needs allow_raw_sign = true "
          "in its [[key]] section"));
    case KeyPurpose::kCa:
      return absl::PermissionDeniedError(absl::StrCat(
          "key \"", key.label, "\" is a CA key; it signs only certificates and CRLs the "
          "agent builds, never raw digests"));
  }
  return absl::PermissionDeniedError("unknown purpose");
}

}  // namespace keyhold::agent
