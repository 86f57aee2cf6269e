#include "tokens/internal/module.h"

#include <dlfcn.h>
#include <libp11.h>

#include <map>
#include <span>

#include <openssl/crypto.h>

#include "absl/strings/string_view.h"
#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tokens/openssl_error.h"

namespace keyhold::pkcs11 {
namespace {

absl::Mutex g_modules_mu(absl::kConstInit);

std::map<std::string, std::weak_ptr<Module>>& LoadedModules() {
  static auto* modules = new std::map<std::string, std::weak_ptr<Module>>();
  return *modules;
}

// libp11's slot array, released on every path.
class SlotList {
 public:
  explicit SlotList(PKCS11_CTX* ctx) : ctx_(ctx) {}
  ~SlotList() {
    if (slots_ != nullptr) PKCS11_release_all_slots(ctx_, slots_, count_);
  }
  SlotList(const SlotList&) = delete;
  SlotList& operator=(const SlotList&) = delete;

  absl::Status Enumerate(absl::string_view module_path) {
    if (PKCS11_enumerate_slots(ctx_, &slots_, &count_) != 0) {
      return OpenSslError(
          absl::StrCat("cannot list slots of PKCS#11 module ", module_path),
          absl::StatusCode::kUnavailable);
    }
    return absl::OkStatus();
  }
  std::span<PKCS11_SLOT> slots() const { return {slots_, count_}; }

 private:
  PKCS11_CTX* ctx_;
  PKCS11_SLOT* slots_ = nullptr;
  unsigned int count_ = 0;
};

}  // namespace

std::string TrimPadded(const unsigned char* field, size_t size) {
  std::string s(reinterpret_cast<const char*>(field), size);
  size_t end = s.find_last_not_of(" \0", std::string::npos, 2);
  return end == std::string::npos ? std::string() : s.substr(0, end + 1);
}

// RFC 7512 compares blank-padded fields; some modules pad with NULs.
CK_TOKEN_INFO BlankPadded(CK_TOKEN_INFO info) {
  auto pad = [](unsigned char* field, size_t size) {
    for (size_t i = 0; i < size; ++i) {
      if (field[i] == '\0') field[i] = ' ';
    }
  };
  pad(info.label, sizeof(info.label));
  pad(info.manufacturerID, sizeof(info.manufacturerID));
  pad(info.model, sizeof(info.model));
  pad(info.serialNumber, sizeof(info.serialNumber));
  return info;
}

absl::StatusOr<std::shared_ptr<Module>> Module::Load(const std::string& path) {
  absl::MutexLock lock(&g_modules_mu);
  auto& modules = LoadedModules();
  if (auto it = modules.find(path); it != modules.end()) {
    if (std::shared_ptr<Module> existing = it->second.lock()) return existing;
  }

  PKCS11_CTX* ctx = PKCS11_CTX_new();
  if (ctx == nullptr) return absl::ResourceExhaustedError("PKCS11_CTX_new failed");
  if (PKCS11_CTX_load(ctx, path.c_str()) != 0) {
    PKCS11_CTX_free(ctx);
    return OpenSslError(absl::StrCat("cannot load PKCS#11 module ", path),
                        absl::StatusCode::kFailedPrecondition);
  }
  // Same path, same loaded instance: dlopen only takes another reference.
  void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  CK_C_GetFunctionList get_list =
      dl == nullptr ? nullptr
                    : reinterpret_cast<CK_C_GetFunctionList>(
                          dlsym(dl, "C_GetFunctionList"));
  CK_FUNCTION_LIST* ck = nullptr;
  CK_RV rv = get_list == nullptr ? CKR_GENERAL_ERROR : get_list(&ck);
  if (rv == CKR_OK) {
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    rv = ck->C_Initialize(&args);
    // libp11 initialised it already; both answers mean "ready".
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) rv = CKR_OK;
  }
  if (rv != CKR_OK) {
    if (dl != nullptr) dlclose(dl);
    PKCS11_CTX_unload(ctx);
    PKCS11_CTX_free(ctx);
    return CkError(rv, absl::StrCat("cannot initialise PKCS#11 module ", path));
  }
  std::shared_ptr<Module> module(new Module(path, ctx, dl, ck));
  modules[path] = module;
  return module;
}

Module::~Module() {
  {
    absl::MutexLock lock(&g_modules_mu);
    auto& modules = LoadedModules();
    auto it = modules.find(path_);
    if (it != modules.end() && it->second.expired()) modules.erase(it);
  }
  // Our dlopen reference is kept on purpose: the module stays mapped after
  // C_Finalize. Modules may leave atexit handlers or threads behind, and a
  // mapped module keeps its symbols for diagnostics (sanitizer reports).
  // libp11 calls C_Finalize and drops its own reference.
  PKCS11_CTX_unload(ctx_);
  PKCS11_CTX_free(ctx_);
}

absl::StatusOr<std::vector<SlotToken>> Module::SlotsWithTokens() {
  absl::MutexLock lock(&mu_);
  SlotList list(ctx_);
  if (absl::Status s = list.Enumerate(path_); !s.ok()) return s;
  std::vector<SlotToken> out;
  for (PKCS11_SLOT& slot : list.slots()) {
    if (slot.token == nullptr) continue;
    SlotToken st{};
    st.slot_id = PKCS11_get_slotid_from_slot(&slot);
    // libp11 caches token flags; read them fresh for login decisions.
    CK_RV rv = ck_->C_GetTokenInfo(st.slot_id, &st.info);
    if (rv == CKR_TOKEN_NOT_PRESENT) continue;
    if (rv != CKR_OK) return CkError(rv, "C_GetTokenInfo");
    out.push_back(st);
  }
  return out;
}

absl::Status Module::InitializeToken(const std::string& label,
                                     const Secret& so_pin,
                                     const Secret& user_pin) {
  if (label.empty() || label.size() > 32) {
    return absl::InvalidArgumentError(
        "token label must be 1 to 32 characters");
  }
  absl::MutexLock lock(&mu_);
  // libp11 wants NUL-terminated PINs; the copies are wiped on every path.
  std::string so(so_pin.Reveal());
  std::string user(user_pin.Reveal());
  absl::Cleanup wipe = [&] {
    OPENSSL_cleanse(so.data(), so.size());
    OPENSSL_cleanse(user.data(), user.size());
  };
  {
    SlotList list(ctx_);
    if (absl::Status s = list.Enumerate(path_); !s.ok()) return s;
    PKCS11_SLOT* free_slot = nullptr;
    for (PKCS11_SLOT& slot : list.slots()) {
      if (slot.token == nullptr) continue;
      if (slot.token->initialized && label == slot.token->label) {
        return absl::AlreadyExistsError(
            absl::StrCat("a token labelled \"", label, "\" already exists"));
      }
      if (!slot.token->initialized && free_slot == nullptr) free_slot = &slot;
    }
    if (free_slot == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "PKCS#11 module ", path_, " has no uninitialised token"));
    }
    // C_InitToken reads exactly 32 bytes of label, blank padded; libp11
    // passes our pointer through, so hand it a full, padded field.
    std::string padded_label = label;
    padded_label.resize(32, ' ');
    if (PKCS11_init_token(free_slot->token, so.c_str(), padded_label.c_str()) != 0) {
      return OpenSslError("cannot initialise token",
                          absl::StatusCode::kFailedPrecondition);
    }
  }
  // Some modules (SoftHSM2) renumber slots after C_InitToken: look again.
  SlotList list(ctx_);
  if (absl::Status s = list.Enumerate(path_); !s.ok()) return s;
  PKCS11_SLOT* slot = nullptr;
  for (PKCS11_SLOT& candidate : list.slots()) {
    if (candidate.token != nullptr && candidate.token->initialized &&
        label == candidate.token->label) {
      slot = &candidate;
    }
  }
  absl::Status result;
  if (slot == nullptr) {
    result = absl::InternalError("initialised token disappeared");
  } else if (PKCS11_open_session(slot, 1) != 0 ||
             PKCS11_login(slot, 1, so.c_str()) != 0) {
    result = OpenSslError("cannot log in as security officer",
                          absl::StatusCode::kFailedPrecondition);
  } else {
    if (PKCS11_init_pin(slot->token, user.c_str()) != 0) {
      result = OpenSslError("cannot set the user PIN",
                            absl::StatusCode::kFailedPrecondition);
    }
    PKCS11_logout(slot);
  }
  return result;
}

}  // namespace keyhold::pkcs11
