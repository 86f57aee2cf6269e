#include "agent/ca/distinguished_name.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tokens/openssl_error.h"

namespace keyhold::agent::ca {

namespace {

// Written in place of a value FormatDistinguishedName cannot show: one that
// does not decode to UTF-8, or a control character (U+FFFD).
constexpr char kReplacementCharacter[] = "\xEF\xBF\xBD";

struct OpenSslFreeDeleter {
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
using OpenSslBytes = std::unique_ptr<unsigned char, OpenSslFreeDeleter>;

// One "TYPE=value" of the input, and whether '+' joined it to the previous
// one (same RDN).
struct Attribute {
  std::string type;
  std::string value;
  bool joins_previous = false;
};

// Parts of the input are quoted in messages C-escaped and cut short, so a
// hostile name cannot forge log lines or flood them.
std::string Quote(absl::string_view part) {
  constexpr size_t kMaxQuoted = 64;
  std::string quoted = absl::CHexEscape(part.substr(0, kMaxQuoted));
  if (part.size() > kMaxQuoted) quoted += "...";
  return absl::StrCat("\"", quoted, "\"");
}

absl::Status Invalid(absl::string_view part, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("distinguished name part ", Quote(part), ": ", why));
}

bool IsControl(uint32_t code_point) {
  return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F);
}

// Decodes one UTF-8 sequence at text[*pos], advancing *pos; false for
// malformed, overlong or surrogate sequences and code points past U+10FFFF.
bool NextCodePoint(absl::string_view text, size_t* pos, uint32_t* code_point) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(*pos);
  if (lead < 0x80) {
    *code_point = lead;
    *pos += 1;
    return true;
  }
  // Sequence length, payload bits of the lead byte, smallest code point
  // that needs this length (anything below is an overlong encoding).
  size_t length = 4;
  uint32_t value = lead & 0x07;
  uint32_t minimum = 0x10000;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    value = lead & 0x1F;
    minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    value = lead & 0x0F;
    minimum = 0x800;
  } else if ((lead & 0xF8) != 0xF0) {
    return false;
  }
  if (text.size() - *pos < length) return false;
  for (size_t i = 1; i < length; ++i) {
    const uint8_t next = byte(*pos + i);
    if ((next & 0xC0) != 0x80) return false;
    value = (value << 6) | (next & 0x3F);
  }
  if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
    return false;
  }
  *pos += length;
  *code_point = value;
  return true;
}

// "1.2.3"; OIDs have no length limit, so the buffer is sized first.
std::string DottedOid(const ASN1_OBJECT* type) {
  const int length = OBJ_obj2txt(nullptr, 0, type, 1);
  if (length <= 0) return "?";
  std::string oid(static_cast<size_t>(length) + 1, '\0');
  OBJ_obj2txt(oid.data(), length + 1, type, 1);
  oid.resize(static_cast<size_t>(length));
  return oid;
}

// A name ("CN", "commonName") is printable ASCII; a dotted OID is strictly
// digits separated by single dots (OBJ_txt2obj itself would read "1..2"
// as 1.0.2).
bool IsWellFormedType(absl::string_view type) {
  if (absl::ascii_isdigit(static_cast<unsigned char>(type[0]))) {
    bool previous_dot = false;
    size_t dots = 0;
    for (char c : type) {
      if (c == '.') {
        if (previous_dot) return false;
        previous_dot = true;
        ++dots;
      } else if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        previous_dot = false;
      } else {
        return false;
      }
    }
    return dots > 0 && !previous_dot;
  }
  return std::all_of(type.begin(), type.end(), [](char c) { return c >= ' ' && c <= '~'; });
}

absl::Status CheckValue(const Attribute& attribute, int nid) {
  const std::string part = absl::StrCat(attribute.type, "=", attribute.value);
  if (attribute.value.empty()) return Invalid(part, "empty value");
  size_t pos = 0;
  while (pos < attribute.value.size()) {
    uint32_t code_point = 0;
    if (!NextCodePoint(attribute.value, &pos, &code_point)) {
      return Invalid(part, "value is not valid UTF-8");
    }
    if (IsControl(code_point)) return Invalid(part, "value has a control character");
  }
  if (nid == NID_countryName) {
    const absl::string_view c = attribute.value;
    const auto letter = [](char ch) {
      return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
    };
    if (c.size() != 2 || !letter(c[0]) || !letter(c[1])) {
      return Invalid(part, "a country (C) is two letters");
    }
  }
  return absl::OkStatus();
}

// Splits "/A=x/B=y+C=z" into attributes, undoing '\' escapes in values.
absl::StatusOr<std::vector<Attribute>> SplitAttributes(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("distinguished name is empty");
  if (text.size() > kMaxNameTextBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "distinguished name is ", text.size(), " bytes; at most ", kMaxNameTextBytes,
        " allowed"));
  }
  if (text[0] != '/') {
    return Invalid(text, "a distinguished name starts with '/' (\"/CN=name\")");
  }
  std::vector<Attribute> attributes;
  size_t pos = 0;
  while (pos < text.size()) {
    Attribute attribute;
    attribute.joins_previous = text[pos] == '+';
    const size_t start = ++pos;  // past the '/' or '+'
    const size_t equals = text.find_first_of("=/+\\", start);
    if (equals == absl::string_view::npos || text[equals] != '=') {
      return Invalid(text.substr(start, equals - start), "expected TYPE=value");
    }
    attribute.type = std::string(text.substr(start, equals - start));
    if (attribute.type.empty()) {
      return Invalid(text.substr(start), "attribute type is empty");
    }
    pos = equals + 1;
    while (pos < text.size() && text[pos] != '/' && text[pos] != '+') {
      if (text[pos] == '\\') {
        if (++pos == text.size()) {
          return Invalid(text.substr(start), "ends in an unfinished '\\' escape");
        }
      }
      attribute.value.push_back(text[pos++]);
    }
    attributes.push_back(std::move(attribute));
  }
  return attributes;
}

}  // namespace

absl::StatusOr<X509NamePtr> ParseDistinguishedName(absl::string_view text) {
  absl::StatusOr<std::vector<Attribute>> attributes = SplitAttributes(text);
  if (!attributes.ok()) return attributes.status();
  X509NamePtr name(X509_NAME_new());
  if (name == nullptr) return OpenSslError("X509_NAME_new");
  for (const Attribute& attribute : *attributes) {
    const std::string part = absl::StrCat(attribute.type, "=", attribute.value);
    // Short names, long names and dotted OIDs are all looked up here.
    if (!IsWellFormedType(attribute.type)) return Invalid(part, "malformed attribute type");
    Asn1ObjectPtr type(OBJ_txt2obj(attribute.type.c_str(), 0));
    // Some names OpenSSL knows (cipher modes, ...) have no OID to encode.
    if (type == nullptr || OBJ_length(type.get()) == 0) {
      ERR_clear_error();
      return Invalid(part, "unknown attribute type");
    }
    if (absl::Status s = CheckValue(attribute, OBJ_obj2nid(type.get())); !s.ok()) return s;
    if (X509_NAME_add_entry_by_OBJ(
            name.get(), type.get(), MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(attribute.value.data()),
            static_cast<int>(attribute.value.size()), -1,
            attribute.joins_previous ? -1 : 0) != 1) {
      // Typically a value too long or with characters its ASN.1 type lacks.
      return OpenSslError(absl::StrCat("distinguished name part ", Quote(part)),
                          absl::StatusCode::kInvalidArgument);
    }
  }
  // The name is only useful if it encodes (and X509_NAME_cmp needs that).
  if (i2d_X509_NAME(name.get(), nullptr) <= 0) {
    return OpenSslError(absl::StrCat("distinguished name ", Quote(text), " does not encode"),
                        absl::StatusCode::kInvalidArgument);
  }
  return name;
}

std::string FormatDistinguishedName(const X509_NAME* name) {
  std::string out;
  if (name == nullptr) return out;
  const int count = X509_NAME_entry_count(name);
  int previous_set = -1;
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT* type = X509_NAME_ENTRY_get_object(entry);
    const int set = X509_NAME_ENTRY_set(entry);
    out += (i > 0 && set == previous_set) ? '+' : '/';
    previous_set = set;

    const int nid = OBJ_obj2nid(type);
    const char* short_name = nid == NID_undef ? nullptr : OBJ_nid2sn(nid);
    if (short_name != nullptr) {
      out += short_name;
    } else {
      out += DottedOid(type);
    }
    out += '=';

    unsigned char* raw = nullptr;
    const int length = ASN1_STRING_to_UTF8(&raw, X509_NAME_ENTRY_get_data(entry));
    OpenSslBytes utf8(raw);
    if (length < 0) {
      ERR_clear_error();
      out += kReplacementCharacter;
      continue;
    }
    const absl::string_view value(reinterpret_cast<const char*>(utf8.get()),
                                  static_cast<size_t>(length));
    for (char c : value) {
      const auto byte = static_cast<uint8_t>(c);
      if (c == '/' || c == '+' || c == '\\') out += '\\';
      if (byte < 0x20 || byte == 0x7F) {
        out += kReplacementCharacter;
      } else {
        out += c;
      }
    }
  }
  return out;
}

std::optional<std::string> NameEntry(const X509_NAME* name, int nid) {
  if (name == nullptr) return std::nullopt;
  const int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return std::nullopt;
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, index);
  unsigned char* raw = nullptr;
  const int length = ASN1_STRING_to_UTF8(&raw, X509_NAME_ENTRY_get_data(entry));
  OpenSslBytes utf8(raw);
  if (length < 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(utf8.get()),
                     static_cast<size_t>(length));
}

}  // namespace keyhold::agent::ca
