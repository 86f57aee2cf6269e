#include "agent/config_reader.h"

#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/config.h"

namespace keyhold::agent {
namespace {

static_assert(sizeof(uid_t) == 4 && sizeof(gid_t) == 4 &&
                  !std::numeric_limits<uid_t>::is_signed &&
                  !std::numeric_limits<gid_t>::is_signed,
              "ids are parsed as unsigned 32-bit numbers");

constexpr size_t kMaxReportedProblems = 20;
// (uid_t)-1 and (gid_t)-1 mean "no id" to chown(2) and friends.
constexpr int64_t kMaxId = int64_t{std::numeric_limits<uint32_t>::max()} - 1;

absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }

bool HasControlCharacter(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), IsControlCharacter);
}

}  // namespace

std::string Quote(absl::string_view s) {
  constexpr size_t kMax = 80;
  return absl::StrCat("\"", absl::CEscape(s.substr(0, kMax)),
                      s.size() > kMax ? "...\"" : "\"");
}

bool IsControlCharacter(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::none: return "nothing";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
  }
  return "an unknown type";
}

absl::StatusOr<toml::table> ParseToml(absl::string_view text,
                                      absl::string_view source_name) {
  try {
    return toml::parse(Std(text), Std(source_name));
  } catch (const toml::parse_error& error) {
    const toml::source_position& at = error.source().begin;
    std::string description(error.description());
    std::replace_if(description.begin(), description.end(), IsControlCharacter,
                    '?');
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", at.line, ":", at.column,
                     ": TOML syntax error: ", description));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat(source_name, ": out of memory while parsing"));
  } catch (const std::exception& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": cannot parse: ", error.what()));
  }
}

void ConfigProblems::At(const toml::source_region& where,
                        absl::string_view message) {
  const uint32_t line = where.begin.line;
  const uint32_t column = where.begin.column;
  std::string text = source_;
  if (line > 0) absl::StrAppend(&text, ":", line);
  if (line > 0 && column > 0) absl::StrAppend(&text, ":", column);
  absl::StrAppend(&text, ": ", message);
  // Problems without a position (a missing table) sort last.
  list_.push_back({line > 0 ? line : std::numeric_limits<uint32_t>::max(),
                   column, std::move(text)});
}

absl::Status ConfigProblems::ToStatus() {
  std::stable_sort(list_.begin(), list_.end(),
                   [](const Problem& a, const Problem& b) {
                     return std::pair(a.line, a.column) <
                            std::pair(b.line, b.column);
                   });
  std::vector<std::string> lines;
  for (size_t i = 0; i < list_.size() && i < kMaxReportedProblems; ++i) {
    lines.push_back(std::move(list_[i].text));
  }
  if (list_.size() > kMaxReportedProblems) {
    lines.push_back(absl::StrCat(source_, ": and ",
                                 list_.size() - kMaxReportedProblems,
                                 " more problems"));
  }
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

void ConfigReader::CheckKeys(const toml::table& table,
                             absl::Span<const absl::string_view> allowed,
                             absl::string_view where,
                             absl::string_view expected) {
  for (const auto& [key, value] : table) {
    const absl::string_view name = Absl(key.str());
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) {
      continue;
    }
    // A PIN could hide behind a key named like one; never echo its value.
    const std::string lower = absl::AsciiStrToLower(name);
    const bool pin_like = absl::StrContains(lower, "pin") ||
                          absl::StrContains(lower, "pass");
    problems_.At(key.source(),
                 absl::StrCat("unknown key ", Quote(name), " in ", where,
                              pin_like ? "; " : "; expected one of ",
                              pin_like ? secret_key_advice_ : expected));
  }
}

void ConfigReader::Require(const toml::table& table, absl::string_view key,
                           absl::string_view message) {
  if (!table.contains(Std(key))) problems_.At(table, message);
}

std::optional<bool> ConfigReader::Bool(const toml::table& table,
                                       absl::string_view key,
                                       absl::string_view path) {
  const toml::node* node = table.get(Std(key));
  if (node == nullptr) return std::nullopt;
  if (const toml::value<bool>* value = node->as_boolean()) {
    return value->get();
  }
  problems_.At(*node, absl::StrCat(path, " must be true or false, not ",
                                   TypeName(*node)));
  return std::nullopt;
}

std::optional<uint32_t> ConfigReader::Id(const toml::node& node,
                                         absl::string_view path,
                                         IdKind kind) {
  const char* what = kind == IdKind::kUser ? "user" : "group";
  const char* id = kind == IdKind::kUser ? "uid" : "gid";
  if (const toml::value<int64_t>* number = node.as_integer()) {
    const int64_t n = number->get();
    if (n >= 0 && n <= kMaxId) return static_cast<uint32_t>(n);
    problems_.At(node, absl::StrCat(path, ": ", n, " is not a valid ", id,
                                    " (0 to ", kMaxId, ")"));
    return std::nullopt;
  }
  const toml::value<std::string>* value = node.as_string();
  if (value == nullptr) {
    problems_.At(node, absl::StrCat(path, " must hold ", what,
                                    " names (strings) or ", id,
                                    "s (integers), not ", TypeName(node)));
    return std::nullopt;
  }
  const std::string& name = value->get();
  if (name.empty() || name.size() > 256 || HasControlCharacter(name) ||
      name.find_first_of(":/ ") != std::string::npos) {
    problems_.At(node, absl::StrCat(path, ": ", Quote(name),
                                    " is not a valid ", what, " name"));
    return std::nullopt;
  }
  // "1000" could be a name or an id; make the author say which.
  if (std::all_of(name.begin(), name.end(), absl::ascii_isdigit)) {
    problems_.At(node, absl::StrCat(path, ": ", Quote(name), " looks like a ",
                                    id, "; write ", id,
                                    "s as integers, without quotes"));
    return std::nullopt;
  }
  const auto& resolve = kind == IdKind::kUser ? names_.user : names_.group;
  std::optional<uint32_t> resolved;
  if (resolve) resolved = resolve(name);
  if (!resolved) {
    problems_.At(node,
                 absl::StrCat(path, ": unknown ", what, " ", Quote(name)));
  }
  return resolved;
}

std::optional<std::vector<uint32_t>> ConfigReader::IdList(
    const toml::table& table, absl::string_view key, absl::string_view path,
    IdKind kind) {
  const toml::node* node = table.get(Std(key));
  if (node == nullptr) return std::nullopt;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    problems_.At(*node, absl::StrCat(path, " must be an array, not ",
                                     TypeName(*node), " (write ", path,
                                     " = [...])"));
    return std::nullopt;
  }
  std::vector<uint32_t> ids;
  std::set<uint32_t> seen;
  for (const toml::node& element : *array) {
    std::optional<uint32_t> id = Id(element, path, kind);
    if (id && seen.insert(*id).second) ids.push_back(*id);
  }
  return ids;
}

std::optional<int64_t> ConfigReader::Integer(const toml::table& table,
                                             absl::string_view key,
                                             absl::string_view path,
                                             int64_t min, int64_t max) {
  const toml::node* node = table.get(Std(key));
  if (node == nullptr) return std::nullopt;
  const toml::value<int64_t>* value = node->as_integer();
  if (value == nullptr) {
    problems_.At(*node, absl::StrCat(path, " must be an integer, not ",
                                     TypeName(*node)));
    return std::nullopt;
  }
  if (value->get() < min || value->get() > max) {
    problems_.At(*node, absl::StrCat(path, " must be from ", min, " to ", max,
                                     ", not ", value->get()));
    return std::nullopt;
  }
  return value->get();
}

std::optional<std::vector<std::string>> ConfigReader::StringList(
    const toml::table& table, absl::string_view key, absl::string_view path) {
  const toml::node* node = table.get(Std(key));
  if (node == nullptr) return std::nullopt;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    problems_.At(*node, absl::StrCat(path, " must be an array of strings, not ",
                                     TypeName(*node), " (write ", path,
                                     " = [...])"));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const toml::node& element : *array) {
    const toml::value<std::string>* value = element.as_string();
    if (value == nullptr || value->get().empty() ||
        HasControlCharacter(value->get())) {
      problems_.At(element, absl::StrCat(path, " must hold non-empty strings "
                                               "without control characters"));
      ok = false;
      continue;
    }
    if (std::find(out.begin(), out.end(), value->get()) == out.end()) {
      out.push_back(value->get());
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> ConfigReader::Text(const toml::table& table,
                                              absl::string_view key,
                                              absl::string_view path,
                                              bool secret, bool absolute) {
  const toml::node* node = table.get(Std(key));
  if (node == nullptr) return std::nullopt;
  const toml::value<std::string>* value = node->as_string();
  if (value == nullptr) {
    problems_.At(*node, absl::StrCat(path, " must be a string, not ",
                                     TypeName(*node)));
    return std::nullopt;
  }
  const std::string& text = value->get();
  const std::string shown = secret ? "" : absl::StrCat(" ", Quote(text));
  if (text.empty()) {
    problems_.At(*node, absl::StrCat(path, " must not be empty"));
  } else if (HasControlCharacter(text)) {
    problems_.At(*node, absl::StrCat(path, shown,
                                     " holds a control character or NUL "
                                     "byte"));
  } else if (absolute && text.front() != '/') {
    problems_.At(*node, absl::StrCat(path, shown,
                                     " must be an absolute path"));
  } else {
    return text;
  }
  return std::nullopt;
}

}  // namespace keyhold::agent
