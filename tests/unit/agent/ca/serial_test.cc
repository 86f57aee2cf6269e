#include "agent/ca/serial.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>

#include <set>
#include <string>

#include "tests/status_matchers.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::ca {
namespace {

using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kSerials = 1000;

// The content octets of the serial's DER INTEGER (what RFC 5280 limits to
// 20), or -1 when it cannot be encoded.
int DerContentOctets(const std::string& serial) {
  BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()),
                         static_cast<int>(serial.size()), nullptr));
  if (!bn) return -1;
  Asn1IntegerPtr integer(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!integer) return -1;
  unsigned char* der = nullptr;
  const int length = i2d_ASN1_INTEGER(integer.get(), &der);
  if (length <= 0) return -1;
  // Tag, then a short-form length (content below 128 octets).
  const int content = der[1];
  OPENSSL_free(der);
  return length == content + 2 ? content : -1;
}

TEST(SerialTest, NewSerialsAreDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < kSerials; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string serial, NewSerial());
    EXPECT_TRUE(seen.insert(serial).second) << SerialToHex(serial);
  }
}

TEST(SerialTest, SerialIsPositiveAndAtMost20Bytes) {
  for (int i = 0; i < kSerials; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string serial, NewSerial());
    ASSERT_GE(serial.size(), 1u);
    ASSERT_LE(serial.size(), 20u);
    EXPECT_NE(serial[0], '\0') << "leading zero byte in " << SerialToHex(serial);
    const int octets = DerContentOctets(serial);
    EXPECT_GE(octets, 1) << SerialToHex(serial);
    EXPECT_LE(octets, 20) << SerialToHex(serial);
    // A 20-byte serial must leave the sign bit clear to fit in 20 octets.
    if (serial.size() == 20) {
      EXPECT_EQ(static_cast<unsigned char>(serial[0]) & 0x80, 0) << SerialToHex(serial);
    }
  }
}

TEST(SerialTest, SerialsUseTheFullWidthAlmostAlways) {
  int full = 0;
  for (int i = 0; i < kSerials; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string serial, NewSerial());
    if (serial.size() == 20) ++full;
  }
  // A leading zero byte after masking has probability 1/128.
  EXPECT_GT(full, kSerials * 9 / 10);
}

TEST(SerialTest, HexRoundTrips) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string serial, NewSerial());
    const std::string hex = SerialToHex(serial);
    EXPECT_EQ(hex.size(), 2 * serial.size());
    ASSERT_OK_AND_ASSIGN(std::string back, SerialFromHex(hex));
    EXPECT_EQ(back, serial) << hex;
  }
}

TEST(SerialTest, SerialToHexIsUpperCase) {
  EXPECT_EQ(SerialToHex(std::string("\x3f\x0a\xbc", 3)), "3F0ABC");
}

TEST(SerialTest, SerialFromHexAcceptsColonsPrefixAndLowerCase) {
  const std::string want("\x3f\x0a\xbc", 3);
  for (const char* text : {"3F0ABC", "3f0abc", "3f:0a:bc", "3F:0A:BC", "0x3f0abc", "0X3F0ABC",
                           "0x3f:0a:bc", "003f0abc", "3f0abc"}) {
    ASSERT_OK_AND_ASSIGN(std::string serial, SerialFromHex(text));
    EXPECT_EQ(serial, want) << text;
  }
  // An odd number of digits is a leading zero nibble.
  ASSERT_OK_AND_ASSIGN(std::string one, SerialFromHex("1"));
  EXPECT_EQ(one, std::string("\x01", 1));
}

TEST(SerialTest, SerialFromHexRefusesZero) {
  for (const char* text : {"0", "00", "0x00", "00:00"}) {
    EXPECT_THAT(SerialFromHex(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not zero")))
        << text;
  }
}

TEST(SerialTest, SerialFromHexRefusesNonHex) {
  for (const char* text : {"", "0x", ":", "3g", "xyz", "-01", "12 34", "0x0x12"}) {
    EXPECT_THAT(SerialFromHex(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial")))
        << text;
  }
}

TEST(SerialTest, SerialFromHexRefusesMoreThan20Bytes) {
  // 21 significant bytes.
  EXPECT_THAT(SerialFromHex(std::string(42, '1')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("20 bytes")));
  // 20 bytes with the top bit set need 21 DER octets.
  EXPECT_THAT(SerialFromHex("80" + std::string(38, '0')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("20 bytes")));
  // The largest one that fits.
  ASSERT_OK_AND_ASSIGN(std::string largest, SerialFromHex("7F" + std::string(38, 'F')));
  EXPECT_EQ(largest.size(), 20u);
  // Far too long.
  EXPECT_THAT(SerialFromHex(std::string(100, 'A')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial")));
}

}  // namespace
}  // namespace keyhold::agent::ca
