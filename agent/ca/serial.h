// Certificate serial numbers: 20 bytes from the CSPRNG, positive
// (RFC 5280 §4.1.2.2: at most 20 octets, non-negative; CA/B asks for at
// least 64 random bits — these have 159).
#ifndef KEYHOLD_AGENT_CA_SERIAL_H_
#define KEYHOLD_AGENT_CA_SERIAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyhold::agent::ca {

// Big-endian bytes: RAND_bytes with the top bit cleared, leading zero bytes
// removed (never empty, never zero). INTERNAL if the CSPRNG fails.
absl::StatusOr<std::string> NewSerial();

// Upper-case hex of the bytes ("3F0A..."), as openssl prints serials.
std::string SerialToHex(absl::string_view serial);

// The inverse; accepts upper or lower case, an optional "0x", and ':'
// separators; strips leading zero bytes. INVALID_ARGUMENT for anything that
// is not 1..20 bytes of hex or is zero.
absl::StatusOr<std::string> SerialFromHex(absl::string_view text);

}  // namespace keyhold::agent::ca

#endif  // KEYHOLD_AGENT_CA_SERIAL_H_
