// A secret (a PIN) that zeroes its memory when destroyed and cannot be
// printed, logged or formatted by accident: operator<< and AbslStringify
// write "<redacted>". The only way to the bytes is Reveal(), which is easy
// to grep for.
#ifndef KEYHOLD_TOKENS_SECRET_H_
#define KEYHOLD_TOKENS_SECRET_H_

#include <ostream>
#include <string>
#include "absl/strings/string_view.h"

namespace keyhold {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value);
  ~Secret();

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  absl::string_view Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  size_t size() const { return value_.size(); }

  template <typename Sink>
  friend void AbslStringify(Sink& sink, const Secret&) {
    sink.Append("<redacted>");
  }
  friend std::ostream& operator<<(std::ostream& os, const Secret&) {
    return os << "<redacted>";
  }

 private:
  void Wipe();
  std::string value_;
};

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_SECRET_H_
