// A loaded PKCS#11 module. libp11 loads it (PKCS11_CTX_load) and does slot
// and token discovery and token initialisation; the same module's
// CK_FUNCTION_LIST (from our own dlopen of the same path, which returns the
// same instance) serves everything libp11 0.4.12 cannot do — see
// docs/adr/0001-libp11-and-direct-cryptoki.md.
//
// One Module per module path per process: a second PKCS11_CTX_load and its
// later C_Finalize would tear the module down under the first user. Load()
// hands out shared instances; the module is finalised when the last user
// goes.
#ifndef KEYHOLD_TOKENS_INTERNAL_MODULE_H_
#define KEYHOLD_TOKENS_INTERNAL_MODULE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "tokens/internal/cryptoki.h"
#include "tokens/secret.h"

struct PKCS11_ctx_st;

namespace keyhold::pkcs11 {

struct SlotToken {
  CK_SLOT_ID slot_id;
  CK_TOKEN_INFO info;
};

class Module {
 public:
  static absl::StatusOr<std::shared_ptr<Module>> Load(const std::string& path);
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& path() const { return path_; }
  CK_FUNCTION_LIST* ck() const { return ck_; }

  // Slots that hold a token, with fresh token info. Through libp11.
  absl::StatusOr<std::vector<SlotToken>> SlotsWithTokens();

  // Initialises the first uninitialised token with `label`, sets the SO PIN
  // and the user PIN. Through libp11. Fails with ALREADY_EXISTS if a token
  // with that label exists.
  absl::Status InitializeToken(const std::string& label, const Secret& so_pin,
                               const Secret& user_pin);

 private:
  Module(std::string path, PKCS11_ctx_st* ctx, void* dl, CK_FUNCTION_LIST* ck)
      : path_(std::move(path)), ctx_(ctx), dl_(dl), ck_(ck) {}

  const std::string path_;
  absl::Mutex mu_;  // libp11's context is not thread-safe.
  PKCS11_ctx_st* const ctx_ ABSL_PT_GUARDED_BY(mu_);
  void* const dl_;  // our dlopen reference; never closed (see ~Module)
  CK_FUNCTION_LIST* const ck_;
};

// The token info with NUL padding in its text fields turned into blanks:
// RFC 7512 matching and formatting expect blank padding, and some modules
// (SoftHSM2) pad with NULs.
CK_TOKEN_INFO BlankPadded(CK_TOKEN_INFO info);

// "keyhold" from a blank-padded CK_UTF8CHAR[32] field.
std::string TrimPadded(const unsigned char* field, size_t size);

}  // namespace keyhold::pkcs11

#endif  // KEYHOLD_TOKENS_INTERNAL_MODULE_H_
