#include "tests/testing/fake_signers.h"

#include "tokens/software_signer.h"

namespace keyhold::testing {

absl::StatusOr<std::unique_ptr<FailingSigner>> FailingSigner::Create(
    KeyType type, absl::Status error) {
  absl::StatusOr<std::unique_ptr<SoftwareSigner>> key =
      SoftwareSigner::Generate(type);
  if (!key.ok()) return key.status();
  return std::unique_ptr<FailingSigner>(
      new FailingSigner(*std::move(key), std::move(error)));
}

absl::StatusOr<std::vector<uint8_t>> FailingSigner::Sign(
    const SignatureAlgorithm& /*algorithm*/,
    std::span<const uint8_t> /*input*/) {
  return error_;
}

absl::StatusOr<std::vector<uint8_t>> RecordingSigner::Sign(
    const SignatureAlgorithm& algorithm, std::span<const uint8_t> input) {
  {
    absl::MutexLock lock(&mu_);
    calls_.push_back({algorithm, input.size()});
  }
  return inner_->Sign(algorithm, input);
}

std::vector<RecordingSigner::Call> RecordingSigner::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

}  // namespace keyhold::testing
