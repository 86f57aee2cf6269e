#include "agent/ca/serial.h"

#include <algorithm>

#include <openssl/rand.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "tokens/openssl_error.h"

namespace keyhold::agent::ca {

namespace {

constexpr size_t kSerialBytes = 20;

std::string StripLeadingZeros(std::string bytes) {
  const size_t first = bytes.find_first_not_of('\0');
  return first == std::string::npos ? std::string() : bytes.substr(first);
}

}  // namespace

absl::StatusOr<std::string> NewSerial() {
  std::string bytes(kSerialBytes, '\0');
  for (;;) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), kSerialBytes) != 1) {
      return OpenSslError("RAND_bytes for a certificate serial");
    }
    bytes[0] = static_cast<char>(static_cast<unsigned char>(bytes[0]) & 0x7f);
    std::string serial = StripLeadingZeros(bytes);
    if (!serial.empty()) return serial;
  }
}

std::string SerialToHex(absl::string_view serial) {
  return absl::AsciiStrToUpper(absl::BytesToHexString(serial));
}

absl::StatusOr<std::string> SerialFromHex(absl::string_view text) {
  std::string hex = absl::StrReplaceAll(text, {{":", ""}});
  if (absl::StartsWithIgnoreCase(hex, "0x")) hex = hex.substr(2);
  if (hex.size() % 2 == 1) hex = "0" + hex;
  const bool is_hex = !hex.empty() && std::all_of(hex.begin(), hex.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
  if (!is_hex || hex.size() > 2 * kSerialBytes + 2) {
    return absl::InvalidArgumentError("serial: give the certificate's serial number in hex");
  }
  std::string serial = StripLeadingZeros(absl::HexStringToBytes(hex));
  // Its DER INTEGER needs a 0x00 in front when the top bit is set.
  const size_t der_bytes =
      serial.size() + ((!serial.empty() && (static_cast<unsigned char>(serial[0]) & 0x80)) ? 1 : 0);
  if (serial.empty() || der_bytes > kSerialBytes) {
    return absl::InvalidArgumentError(
        "serial: not a serial keyhold issues (1 to 20 bytes, positive, not zero)");
  }
  return serial;
}

}  // namespace keyhold::agent::ca
