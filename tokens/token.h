// A PKCS#11 token opened by keyhold: the only door to keys on it.
//
// Everything here is PKCS#11-free at the interface; the Cryptoki and libp11
// calls live in token.cc and tokens/internal/. A Token is safe to use from
// many threads; signers it hands out keep the token's state alive.
#ifndef KEYHOLD_TOKENS_TOKEN_H_
#define KEYHOLD_TOKENS_TOKEN_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "tokens/key_type.h"
#include "tokens/openssl_ptr.h"
#include "tokens/pin_source.h"
#include "tokens/secret.h"
#include "tokens/signer.h"

namespace keyhold {

namespace pkcs11 {
class TokenState;
}

struct TokenConfig {
  std::string module_path;  // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string uri;          // RFC 7512, e.g. "pkcs11:token=keyhold"
  PinSource pin = PinSource::Env("KEYHOLD_PIN");
  size_t max_sessions = 64;  // concurrent operations beyond this wait
};

struct TokenInfo {
  std::string label;
  std::string manufacturer;
  std::string model;
  std::string serial;
};

// What the token can do, probed with C_GetMechanismList when it is opened.
struct Mechanisms {
  bool rsa_pkcs1 = false;     // CKM_RSA_PKCS
  bool rsa_pss = false;       // CKM_RSA_PKCS_PSS
  bool ecdsa = false;         // CKM_ECDSA
  bool eddsa = false;         // CKM_EDDSA
  bool rsa_keygen = false;    // CKM_RSA_PKCS_KEY_PAIR_GEN
  bool ec_keygen = false;     // CKM_EC_KEY_PAIR_GEN
  bool eddsa_keygen = false;  // CKM_EC_EDWARDS_KEY_PAIR_GEN
  unsigned long rsa_max_bits = 0;

  // The CKM_ names of what is present, for status output.
  std::vector<std::string> Names() const;
};

struct KeyInfo {
  std::string label;            // CKA_LABEL
  std::vector<uint8_t> id;      // CKA_ID (16 random bytes for our keys)
  KeyType type;
  std::string uri;              // RFC 7512 URI of the private key object

  std::string IdHex() const;
};

// How well a private key is protected, read back from the token.
struct KeyProtection {
  bool sensitive = false;          // CKA_SENSITIVE
  bool extractable = true;         // CKA_EXTRACTABLE
  bool always_sensitive = false;   // CKA_ALWAYS_SENSITIVE
  bool never_extractable = false;  // CKA_NEVER_EXTRACTABLE
  // True when the token handed out any secret component (CKA_VALUE,
  // CKA_PRIVATE_EXPONENT, CKA_PRIME_1) on request. Must be false.
  bool secret_readable = true;
};

class Token {
 public:
  // Finds the one token matching config.uri in the module, reads the PIN
  // from config.pin and logs in. Refuses when the token reports the final
  // PIN try or a locked PIN; a URI matching no token or several tokens is
  // an error naming what was found.
  static absl::StatusOr<std::unique_ptr<Token>> Open(const TokenConfig& config);

  ~Token();
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;

  const TokenInfo& info() const;
  const Mechanisms& mechanisms() const;

  // Whether the user is logged in now (C_GetSessionInfo on a pooled
  // session); logs in again first if the login was lost.
  absl::StatusOr<bool> LoggedIn();

  // Generates a key pair on the token: private half CKA_TOKEN, CKA_PRIVATE,
  // CKA_SENSITIVE, !CKA_EXTRACTABLE, CKA_SIGN, !CKA_DECRYPT; a random
  // 16-byte CKA_ID; label as CKA_LABEL on both halves. ALREADY_EXISTS for a
  // label in use; FAILED_PRECONDITION naming the mechanism the token lacks.
  absl::StatusOr<KeyInfo> GenerateKey(absl::string_view label, KeyType type);

  // Private keys of supported types, sorted by label.
  absl::StatusOr<std::vector<KeyInfo>> ListKeys();
  absl::StatusOr<KeyInfo> FindKeyByLabel(absl::string_view label);
  absl::StatusOr<KeyInfo> FindKeyById(std::span<const uint8_t> id);

  // Destroys the private key, the public key and any certificate with the
  // key's CKA_ID.
  absl::Status DeleteKey(const KeyInfo& key);

  absl::StatusOr<EvpPkeyPtr> PublicKey(const KeyInfo& key);
  absl::StatusOr<KeyProtection> Protection(const KeyInfo& key);

  // Stores `cert` as a CKO_CERTIFICATE with the key's CKA_ID and label,
  // replacing an earlier one (the new object is written before the old is
  // destroyed). INVALID_ARGUMENT if the certificate's public key is not the
  // key's.
  absl::Status StoreCertificate(const KeyInfo& key, X509* cert);
  // NOT_FOUND when the key has no certificate.
  absl::StatusOr<X509Ptr> FindCertificate(const KeyInfo& key);
  absl::Status DeleteCertificate(const KeyInfo& key);

  // Counts the changes this object made to the token's keys and
  // certificates (GenerateKey, DeleteKey, StoreCertificate,
  // DeleteCertificate; failed ones too, which may have changed part). A
  // cache of what these calls return reads it before its lookup and drops
  // its entries when it has moved on.
  uint64_t changes() const { return changes_.load(std::memory_order_acquire); }

  // A Signer for the key. Signing leases a session from the pool per call;
  // the signer stays valid after the Token object is destroyed.
  absl::StatusOr<std::unique_ptr<Signer>> NewSigner(const KeyInfo& key);

  // Closes all of the slot's sessions behind the pool's back (as another
  // application or a token reset would). For recovery tests.
  absl::Status CloseAllSessionsForTesting();

 private:
  // Counts one change when it goes out of scope, after the change is made.
  class CountsChange {
   public:
    explicit CountsChange(std::atomic<uint64_t>& changes) : changes_(changes) {}
    ~CountsChange() { changes_.fetch_add(1, std::memory_order_release); }
    CountsChange(const CountsChange&) = delete;
    CountsChange& operator=(const CountsChange&) = delete;

   private:
    std::atomic<uint64_t>& changes_;
  };

  explicit Token(std::shared_ptr<pkcs11::TokenState> state);
  std::shared_ptr<pkcs11::TokenState> state_;
  std::atomic<uint64_t> changes_{0};
};

// Initialises the first uninitialised token of a module (SoftHSM2 always
// offers one) with a label, SO PIN and user PIN.
absl::Status InitializeToken(const std::string& module_path,
                             const std::string& label, const Secret& so_pin,
                             const Secret& user_pin);

// Labels: 1-64 characters from [A-Za-z0-9._-], so they are safe in URIs,
// file names and logs.
absl::Status ValidateKeyLabel(absl::string_view label);

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_TOKEN_H_
