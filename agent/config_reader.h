// Internal to keyhold_agent_config: the strict TOML reading that
// agent/config.cc builds keyhold's config schema on. It parses TOML text,
// collects every problem found as "<source>:<line>:<column>: <message>",
// reads typed values out of toml++ tables (reporting each bad one), and
// reports keys a table may not hold. It knows nothing of keyhold's keys;
// agent/config.h is the public API.
#ifndef KEYHOLD_AGENT_CONFIG_READER_H_
#define KEYHOLD_AGENT_CONFIG_READER_H_

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace keyhold::agent {

struct NameResolver;  // agent/config.h

// toml++ speaks std::string_view, Debian's absl its own string_view.
inline std::string_view Std(absl::string_view s) {
  return {s.data(), s.size()};
}

// Names and values quoted in messages: escaped, and cut short.
std::string Quote(absl::string_view s);

// ASCII control characters: below 0x20, and DEL.
bool IsControlCharacter(char c);

// What a node holds, for messages: "a string", "an array", ...
std::string TypeName(const toml::node& node);

// Parses `text`; `source_name` starts every error message. A syntax error is
// INVALID_ARGUMENT "<source>:<line>:<column>: TOML syntax error: ..." (control
// characters in toml++'s description replaced by '?'); running out of memory
// is RESOURCE_EXHAUSTED.
absl::StatusOr<toml::table> ParseToml(absl::string_view text,
                                      absl::string_view source_name);

// Every problem found in one file, reported together in line order, each as
// "<source>:<line>:<column>: <message>".
class ConfigProblems {
 public:
  explicit ConfigProblems(absl::string_view source) : source_(source) {}

  void At(const toml::source_region& where, absl::string_view message);
  void At(const toml::node& node, absl::string_view message) {
    At(node.source(), message);
  }
  // A problem without a position (a missing table); sorts last.
  void Add(absl::string_view message) { At(toml::source_region{}, message); }

  bool empty() const { return list_.empty(); }

  // INVALID_ARGUMENT with the first 20 problems in line order, one per line,
  // and a count of the rest.
  absl::Status ToStatus();

 private:
  struct Problem {
    uint32_t line;
    uint32_t column;
    std::string text;
  };
  std::string source_;
  std::vector<Problem> list_;
};

// Reads typed values out of one table, recording a problem for each bad
// one. Getters return nullopt when the key is absent or its value is bad (a
// bad value has been reported by then). `path` names a key in messages:
// "token.module".
class ConfigReader {
 public:
  enum class IdKind { kUser, kGroup };

  // `names` resolves user and group names for Id(). `secret_key_advice`
  // ends the message for an unknown key named like a secret (see
  // CheckKeys()). Both must outlive the reader.
  ConfigReader(ConfigProblems& problems, const NameResolver& names,
               absl::string_view secret_key_advice)
      : problems_(problems),
        names_(names),
        secret_key_advice_(secret_key_advice) {}

  ConfigProblems& problems() { return problems_; }

  // Reports every key of `table` not in `allowed`. `where` names the table
  // ("the top level", "[token]"), `expected` lists what it may hold. A key
  // named like a secret ("pin", "pass") gets `secret_key_advice` instead of
  // `expected`: someone may be trying to put a secret in the file.
  void CheckKeys(const toml::table& table,
                 absl::Span<const absl::string_view> allowed,
                 absl::string_view where, absl::string_view expected);

  // Reports `key` missing from `table`, at the table's header.
  void Require(const toml::table& table, absl::string_view key,
               absl::string_view message);

  // A non-empty string without control characters. With `secret`, the
  // value is never quoted back (someone may have put a PIN there).
  std::optional<std::string> String(const toml::table& table,
                                    absl::string_view key,
                                    absl::string_view path,
                                    bool secret = false) {
    return Text(table, key, path, secret, /*absolute=*/false);
  }

  // A String() that starts with '/'.
  std::optional<std::string> AbsolutePath(const toml::table& table,
                                          absl::string_view key,
                                          absl::string_view path,
                                          bool secret = false) {
    return Text(table, key, path, secret, /*absolute=*/true);
  }

  std::optional<bool> Bool(const toml::table& table, absl::string_view key,
                           absl::string_view path);

  // An integer in [min, max].
  std::optional<int64_t> Integer(const toml::table& table, absl::string_view key,
                                 absl::string_view path, int64_t min, int64_t max);

  // An array of String()s (it may be empty); repeats are dropped, order is
  // kept.
  std::optional<std::vector<std::string>> StringList(const toml::table& table,
                                                     absl::string_view key,
                                                     absl::string_view path);

  // A user or group given as a name (a string) or an id (an integer).
  std::optional<uint32_t> Id(const toml::node& node, absl::string_view path,
                             IdKind kind);

  // An array of Id()s; repeats are dropped, order is kept.
  std::optional<std::vector<uint32_t>> IdList(const toml::table& table,
                                              absl::string_view key,
                                              absl::string_view path,
                                              IdKind kind);

 private:
  std::optional<std::string> Text(const toml::table& table,
                                  absl::string_view key, absl::string_view path,
                                  bool secret, bool absolute);

  ConfigProblems& problems_;
  const NameResolver& names_;
  absl::string_view secret_key_advice_;
};

// Names of [policy.NAME]-style tables: what a CLI flag can carry.
inline bool IsTableName(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
         });
}

// Runs `parse(name, table)` for each NAME = table under root[key]
// ([key.NAME] tables), reporting anything else there.
template <typename Fn>
void ForEachNamedTable(const toml::table& root, ConfigReader& in, absl::string_view key,
                       Fn parse) {
  const toml::node* node = root.get(Std(key));
  if (node == nullptr) return;
  const toml::table* tables = node->as_table();
  if (tables == nullptr) {
    in.problems().At(*node, absl::StrCat(key, " must be tables ([", key, ".NAME]), not ",
                                         TypeName(*node)));
    return;
  }
  for (const auto& [name_view, value] : *tables) {
    const std::string name(name_view.str());
    const toml::table* table = value.as_table();
    if (table == nullptr) {
      in.problems().At(value, absl::StrCat(key, ".", Quote(name), " must be a table ([", key,
                                           ".NAME]), not ", TypeName(value)));
      continue;
    }
    if (!IsTableName(name)) {
      in.problems().At(value, absl::StrCat("[", key, ".", Quote(name),
                                           "]: names are 1 to 64 letters, digits, '-' or '_'"));
      continue;
    }
    parse(name, *table);
  }
}

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_CONFIG_READER_H_
