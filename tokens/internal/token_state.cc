#include "tokens/internal/token_state.h"

#include <p11-kit/uri.h>

#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace keyhold::pkcs11 {
namespace {

struct UriDeleter {
  void operator()(P11KitUri* uri) const { p11_kit_uri_free(uri); }
};
using UriPtr = std::unique_ptr<P11KitUri, UriDeleter>;

absl::StatusOr<UriPtr> ParseTokenUri(const std::string& text) {
  UriPtr uri(p11_kit_uri_new());
  int rc = p11_kit_uri_parse(text.c_str(), P11_KIT_URI_FOR_TOKEN, uri.get());
  if (rc != P11_KIT_URI_OK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token URI \"", text, "\" is not a valid RFC 7512 URI: ",
        p11_kit_uri_message(rc)));
  }
  if (p11_kit_uri_any_unrecognized(uri.get())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token URI \"", text,
        "\" has attributes keyhold does not understand; use token=, "
        "serial=, model=, manufacturer="));
  }
  if (p11_kit_uri_get_pin_value(uri.get()) != nullptr) {
    return absl::InvalidArgumentError(
        "token URI carries a pin-value; PINs come from a file, an "
        "environment variable or a systemd credential, never a URI");
  }
  return uri;
}

std::string DescribeToken(const CK_TOKEN_INFO& info) {
  return absl::StrCat("token=", TrimPadded(info.label, sizeof(info.label)),
                      ";serial=",
                      TrimPadded(info.serialNumber, sizeof(info.serialNumber)));
}

}  // namespace

absl::Status CheckLoginAllowed(CK_FLAGS flags, absl::string_view label) {
  if ((flags & CKF_USER_PIN_LOCKED) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "token \"", label, "\": the user PIN is locked; the security officer "
        "must reset it"));
  }
  if ((flags & CKF_USER_PIN_FINAL_TRY) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "token \"", label, "\" reports the final PIN try; keyhold will not "
        "risk locking it. Check the PIN, then log in once by hand (e.g. "
        "pkcs11-tool --login) to reset the counter"));
  }
  if ((flags & CKF_USER_PIN_INITIALIZED) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("token \"", label, "\" has no user PIN set"));
  }
  if ((flags & CKF_USER_PIN_TO_BE_CHANGED) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "token \"", label, "\" requires the user PIN to be changed first"));
  }
  return absl::OkStatus();
}

Mechanisms ProbeMechanisms(CK_FUNCTION_LIST* ck, CK_SLOT_ID slot) {
  Mechanisms m;
  CK_ULONG count = 0;
  if (ck->C_GetMechanismList(slot, nullptr, &count) != CKR_OK) return m;
  std::vector<CK_MECHANISM_TYPE> types(count);
  if (ck->C_GetMechanismList(slot, types.data(), &count) != CKR_OK) return m;
  types.resize(count);
  for (CK_MECHANISM_TYPE t : types) {
    switch (t) {
      case CKM_RSA_PKCS: m.rsa_pkcs1 = true; break;
      case CKM_RSA_PKCS_PSS: m.rsa_pss = true; break;
      case CKM_ECDSA: m.ecdsa = true; break;
      case CKM_EDDSA: m.eddsa = true; break;
      case CKM_EC_KEY_PAIR_GEN: m.ec_keygen = true; break;
      case CKM_EC_EDWARDS_KEY_PAIR_GEN: m.eddsa_keygen = true; break;
      case CKM_RSA_PKCS_KEY_PAIR_GEN: {
        m.rsa_keygen = true;
        CK_MECHANISM_INFO info{};
        if (ck->C_GetMechanismInfo(slot, t, &info) == CKR_OK) {
          m.rsa_max_bits = info.ulMaxKeySize;
        }
        break;
      }
      default: break;
    }
  }
  return m;
}

TokenState::TokenState(std::shared_ptr<Module> module, CK_SLOT_ID slot,
                       CK_TOKEN_INFO raw_info, Secret pin,
                       std::string pin_source, size_t max_sessions)
    : module_(std::move(module)),
      slot_(slot),
      raw_info_(raw_info),
      info_{TrimPadded(raw_info.label, sizeof(raw_info.label)),
            TrimPadded(raw_info.manufacturerID, sizeof(raw_info.manufacturerID)),
            TrimPadded(raw_info.model, sizeof(raw_info.model)),
            TrimPadded(raw_info.serialNumber, sizeof(raw_info.serialNumber))},
      pin_(std::move(pin)),
      pin_source_(std::move(pin_source)),
      pool_(module_->ck(), slot, max_sessions) {}

absl::StatusOr<std::shared_ptr<TokenState>> TokenState::Open(
    const TokenConfig& config) {
  absl::StatusOr<UriPtr> uri = ParseTokenUri(config.uri);
  if (!uri.ok()) return uri.status();
  absl::StatusOr<std::shared_ptr<Module>> module =
      Module::Load(config.module_path);
  if (!module.ok()) return module.status();
  absl::StatusOr<std::vector<SlotToken>> slots = (*module)->SlotsWithTokens();
  if (!slots.ok()) return slots.status();

  std::vector<SlotToken> matches;
  std::vector<std::string> seen;
  for (SlotToken& st : *slots) {
    if ((st.info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    seen.push_back(DescribeToken(st.info));
    CK_TOKEN_INFO padded = BlankPadded(st.info);
    if (p11_kit_uri_match_token_info(uri->get(), &padded)) matches.push_back(st);
  }
  if (matches.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "no token matches ", config.uri, " in ", config.module_path,
        seen.empty() ? std::string(" (the module has no initialised token)")
                     : absl::StrCat(" (found: ", absl::StrJoin(seen, ", "), ")")));
  }
  if (matches.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.uri, " matches ", matches.size(),
        " tokens; add serial= to choose one (found: ",
        absl::StrJoin(seen, ", "), ")"));
  }
  const SlotToken& chosen = matches.front();
  std::string label = TrimPadded(chosen.info.label, sizeof(chosen.info.label));
  if (absl::Status s = CheckLoginAllowed(chosen.info.flags, label); !s.ok()) {
    return s;
  }
  absl::StatusOr<Secret> pin = config.pin.Read();
  if (!pin.ok()) return pin.status();

  std::shared_ptr<TokenState> state(new TokenState(
      *std::move(module), chosen.slot_id, chosen.info, *std::move(pin),
      config.pin.Describe(), config.max_sessions));
  state->mechanisms_ = ProbeMechanisms(state->ck(), state->slot_);
  // Log in on a pooled session; the session stays open in the pool, which
  // keeps the login alive.
  absl::StatusOr<SessionLease> lease = state->pool_.Acquire();
  if (!lease.ok()) return lease.status();
  if (absl::Status s = state->Login(lease->handle()); !s.ok()) return s;
  return state;
}

absl::Status TokenState::Login(CK_SESSION_HANDLE session) {
  absl::MutexLock lock(&login_mu_);
  CK_TOKEN_INFO fresh{};
  CK_RV rv = ck()->C_GetTokenInfo(slot_, &fresh);
  if (rv != CKR_OK) return CkError(rv, "C_GetTokenInfo before login");
  if (absl::Status s = CheckLoginAllowed(fresh.flags, info_.label); !s.ok()) {
    return s;
  }
  absl::string_view pin = pin_.Reveal();
  rv = ck()->C_Login(session, CKU_USER,
                     reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data())),
                     pin.size());
  if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) return absl::OkStatus();
  if (rv == CKR_PIN_INCORRECT) {
    CK_TOKEN_INFO after{};
    bool low = ck()->C_GetTokenInfo(slot_, &after) == CKR_OK &&
               (after.flags & CKF_USER_PIN_COUNT_LOW) != 0;
    return CkError(rv, absl::StrCat("login to token \"", info_.label,
                                    "\" with the PIN from ", pin_source_,
                                    " failed: wrong PIN",
                                    low ? " (the token reports few tries left)"
                                        : ""));
  }
  return CkError(rv, absl::StrCat("login to token \"", info_.label, "\""));
}

absl::Status TokenState::Run(
    absl::FunctionRef<absl::Status(CK_SESSION_HANDLE)> op) {
  bool recovered = false;
  for (;;) {
    absl::StatusOr<SessionLease> lease = pool_.Acquire();
    absl::Status status = lease.status();
    if (status.ok() && recovered) status = Login(lease->handle());
    if (status.ok()) status = op(lease->handle());
    if (status.ok() || recovered) return status;
    std::optional<CK_RV> rv = CkRvOf(status);
    if (!rv.has_value()) return status;
    if (IsSessionLost(*rv)) {
      if (lease.ok()) pool_.ForgetAll(*lease);
      handle_epoch_.fetch_add(1, std::memory_order_acq_rel);
    } else if (*rv == CKR_USER_NOT_LOGGED_IN) {
      handle_epoch_.fetch_add(1, std::memory_order_acq_rel);
    } else if (*rv == CKR_OPERATION_ACTIVE && lease.ok()) {
      lease->Close();
    } else if (!IsObjectHandleStale(*rv)) {
      return status;
    }
    recovered = true;
  }
}

}  // namespace keyhold::pkcs11
