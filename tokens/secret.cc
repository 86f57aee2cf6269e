#include "tokens/secret.h"

#include <utility>

#include <openssl/crypto.h>

namespace keyhold {

Secret::Secret(std::string value) : value_(std::move(value)) {}

Secret::~Secret() { Wipe(); }

Secret::Secret(Secret&& other) noexcept {
  // Copy then wipe the source: a std::string move may leave the bytes in the
  // source's small-string buffer.
  value_.assign(other.value_);
  other.Wipe();
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_.assign(other.value_);
    other.Wipe();
  }
  return *this;
}

void Secret::Wipe() {
  // Cleanse the whole capacity: earlier, longer contents may sit past size().
  value_.resize(value_.capacity());
  OPENSSL_cleanse(value_.data(), value_.size());
  value_.clear();
}

}  // namespace keyhold
