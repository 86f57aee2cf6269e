// Signers for tests of code built on the Signer seam (the provider, the CA,
// TLS): one that always fails, and one that records what it was asked.
#ifndef KEYHOLD_TESTS_TESTING_FAKE_SIGNERS_H_
#define KEYHOLD_TESTS_TESTING_FAKE_SIGNERS_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "tokens/key_type.h"
#include "tokens/signer.h"

namespace keyhold::testing {

// Has a real public key of `type`; every Sign returns `error`.
class FailingSigner : public Signer {
 public:
  static absl::StatusOr<std::unique_ptr<FailingSigner>> Create(
      KeyType type, absl::Status error);

  EVP_PKEY* PublicKey() const override { return key_->PublicKey(); }
  absl::StatusOr<std::vector<uint8_t>> Sign(
      const SignatureAlgorithm& algorithm,
      std::span<const uint8_t> input) override;

 private:
  FailingSigner(std::unique_ptr<Signer> key, absl::Status error)
      : key_(std::move(key)), error_(std::move(error)) {}
  const std::unique_ptr<Signer> key_;  // Only its public key is used.
  const absl::Status error_;
};

// Passes every call to `inner` and remembers the algorithms and input
// sizes it was asked for. Thread-safe.
class RecordingSigner : public Signer {
 public:
  struct Call {
    SignatureAlgorithm algorithm = {};
    size_t input_size = 0;
  };

  explicit RecordingSigner(std::shared_ptr<Signer> inner)
      : inner_(std::move(inner)) {}

  EVP_PKEY* PublicKey() const override { return inner_->PublicKey(); }
  absl::StatusOr<std::vector<uint8_t>> Sign(
      const SignatureAlgorithm& algorithm,
      std::span<const uint8_t> input) override;

  std::vector<Call> calls() const;

 private:
  const std::shared_ptr<Signer> inner_;
  mutable absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_TESTING_FAKE_SIGNERS_H_
