// A PKCS#11 module for tests: SoftHSM2 whose C_Sign takes as long as a
// test says, to stand in for a slow or hung network HSM.
//
// KEYHOLD_TEST_SIGN_DELAY_FILE names a file holding a number of
// milliseconds; each C_Sign sleeps that long first (no file: no delay).
// KEYHOLD_TEST_REAL_MODULE overrides the wrapped module's path.
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

namespace {

CK_FUNCTION_LIST g_functions;
CK_FUNCTION_LIST_PTR g_real = nullptr;

void DelayAsTold() {
  const char* path = std::getenv("KEYHOLD_TEST_SIGN_DELAY_FILE");
  if (path == nullptr) return;
  std::ifstream in(path);
  long millis = 0;
  if (in >> millis && millis > 0) std::this_thread::sleep_for(std::chrono::milliseconds(millis));
}

CK_RV DelayedSign(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG data_len,
                  CK_BYTE_PTR signature, CK_ULONG_PTR signature_len) {
  // Only real signatures wait, not the size query that precedes them.
  if (signature != nullptr) DelayAsTold();
  return g_real->C_Sign(session, data, data_len, signature, signature_len);
}

CK_RV Load() {
  const char* path = std::getenv("KEYHOLD_TEST_REAL_MODULE");
  void* dl = dlopen(path != nullptr ? path : "/usr/lib/softhsm/libsofthsm2.so",
                    RTLD_NOW | RTLD_LOCAL);
  if (dl == nullptr) return CKR_GENERAL_ERROR;
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(dl, "C_GetFunctionList"));
  if (get_list == nullptr || get_list(&g_real) != CKR_OK) return CKR_GENERAL_ERROR;
  g_functions = *g_real;
  g_functions.C_Sign = &DelayedSign;
  return CKR_OK;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(
    CK_FUNCTION_LIST_PTR_PTR list) {
  static std::once_flag once;
  static CK_RV loaded = CKR_GENERAL_ERROR;
  std::call_once(once, [] { loaded = Load(); });
  if (loaded != CKR_OK) return loaded;
  if (list == nullptr) return CKR_ARGUMENTS_BAD;
  *list = &g_functions;
  return CKR_OK;
}
