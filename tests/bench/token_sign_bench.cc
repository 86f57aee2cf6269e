// Signing throughput on a SoftHSM2 token, three ways, side by side:
//   raw       C_SignInit + C_Sign in a loop on a session per thread
//   tokens    Signer::Sign through the tokens layer (pooled sessions)
//   provider  EVP_DigestSign through the keyhold OpenSSL provider
// for RSA-2048 and EC P-256 with 1 and 2 threads. Prints signs/s and the
// ratio to raw. Usage: token_sign_bench [seconds-per-cell, default 2]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "tests/integration/softhsm_token.h"
#include "tokens/internal/key_objects.h"
#include "tests/bench/measure.h"
#include "tokens/internal/module.h"
#include "tokens/internal/token_signer.h"
#include "tokens/openssl_ptr.h"
#include "tokens/provider/provider.h"
#include "tokens/token.h"

namespace keyhold {
namespace {

// Signatures per second on `threads` threads for `seconds`.
double Rate(int threads, double seconds,
            const std::function<std::function<bool()>()>& make_worker) {
  return bench::Measure(threads, seconds, make_worker).rate;
}

struct Row {
  const char* name;
  KeyType type;
  SignatureAlgorithm algorithm;
  CK_MECHANISM_TYPE mechanism;
};

int Main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  auto hsm = testing::SoftHsmToken::Create("bench");
  if (!hsm.ok()) {
    std::fprintf(stderr, "%s\n", std::string(hsm.status().message()).c_str());
    return 1;
  }
  auto token = Token::Open((*hsm)->config());
  if (!token.ok()) {
    std::fprintf(stderr, "%s\n", std::string(token.status().message()).c_str());
    return 1;
  }
  // The same loaded module the token uses, for the raw baseline.
  auto module = pkcs11::Module::Load(testing::kSoftHsmModule);
  auto slots = (*module)->SlotsWithTokens();
  CK_SLOT_ID slot = 0;
  for (const auto& st : *slots) {
    if (pkcs11::TrimPadded(st.info.label, sizeof(st.info.label)) == "bench") slot = st.slot_id;
  }
  CK_FUNCTION_LIST* ck = (*module)->ck();

  OsslLibCtxPtr libctx(OSSL_LIB_CTX_new());
  auto provider = LoadKeyholdProvider(libctx.get());
  if (!provider.ok()) {
    std::fprintf(stderr, "%s\n", std::string(provider.status().message()).c_str());
    return 1;
  }

  const Row rows[] = {
      {"RSA-2048 PKCS#1", KeyType::kRsa2048,
       {SignatureScheme::kRsaPkcs1, HashAlgorithm::kSha256}, CKM_RSA_PKCS},
      {"EC P-256 ECDSA", KeyType::kEcP256,
       {SignatureScheme::kEcdsa, HashAlgorithm::kSha256}, CKM_ECDSA},
  };
  const unsigned char message[] = "benchmark message";
  unsigned char digest[32];
  SHA256(message, sizeof(message), digest);

  std::printf("%-16s %7s %12s %12s %12s %8s %8s\n", "key", "threads", "raw/s",
              "tokens/s", "provider/s", "tokens", "provider");
  for (const Row& row : rows) {
    auto key = (*token)->GenerateKey(KeyTypeName(row.type).data(), row.type);
    auto signer = (*token)->NewSigner(*key);
    std::shared_ptr<Signer> shared(std::move(*signer));
    auto pkey = MakeSignerPkey(libctx.get(), shared);
    if (!key.ok() || !pkey.ok()) {
      std::fprintf(stderr, "setup failed\n");
      return 1;
    }
    // Raw input: the DigestInfo for RSA PKCS#1, the bare digest for ECDSA.
    std::vector<uint8_t> raw_input;
    if (row.mechanism == CKM_RSA_PKCS) {
      auto prefix = pkcs11::DigestInfoPrefix(HashAlgorithm::kSha256);
      raw_input.assign(prefix.begin(), prefix.end());
    }
    raw_input.insert(raw_input.end(), digest, digest + 32);

    for (int threads : {1, 2}) {
      const double raw = Rate(threads, seconds, [&]() -> std::function<bool()> {
        CK_SESSION_HANDLE session;
        ck->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session);
        auto found = pkcs11::FindById(ck, session, CKO_PRIVATE_KEY, key->id);
        CK_OBJECT_HANDLE handle = found.ok() && !found->empty() ? found->front() : 0;
        return [=, &raw_input]() mutable {
          CK_MECHANISM mech{row.mechanism, nullptr, 0};
          unsigned char out[512];
          CK_ULONG out_len = sizeof(out);
          return ck->C_SignInit(session, &mech, handle) == CKR_OK &&
                 ck->C_Sign(session, raw_input.data(), raw_input.size(), out, &out_len) == CKR_OK;
        };
      });
      const double layer = Rate(threads, seconds, [&]() -> std::function<bool()> {
        return [&] { return shared->Sign(row.algorithm, {digest, 32}).ok(); };
      });
      const double prov = Rate(threads, seconds, [&]() -> std::function<bool()> {
        return [&] {
          EvpMdCtxPtr ctx(EVP_MD_CTX_new());
          unsigned char sig[512];
          size_t len = sizeof(sig);
          return EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", libctx.get(), nullptr,
                                       pkey->get(), nullptr) == 1 &&
                 EVP_DigestSign(ctx.get(), sig, &len, message, sizeof(message)) == 1;
        };
      });
      std::printf("%-16s %7d %12.0f %12.0f %12.0f %7.2fx %7.2fx\n", row.name, threads, raw,
                  layer, prov, layer / raw, prov / raw);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace keyhold

int main(int argc, char** argv) { return keyhold::Main(argc, argv); }
