#include "tokens/provider/algorithm_id.h"

#include <initializer_list>
#include <optional>

#include <openssl/objects.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace keyhold {
namespace {

// A minimal DER writer: enough for AlgorithmIdentifiers, nothing more.
using Der = std::vector<uint8_t>;

constexpr uint8_t kTagInteger = 0x02;
constexpr uint8_t kTagNull = 0x05;
constexpr uint8_t kTagOid = 0x06;
constexpr uint8_t kTagSequence = 0x30;
constexpr uint8_t kTagContextConstructed = 0xA0;

// Our encodings are tiny; two length octets cover anything up to 64 KiB.
Der Tlv(uint8_t tag, const Der& content) {
  Der out{tag};
  const size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<uint8_t>(n));
  } else if (n <= 0xFF) {
    out.insert(out.end(), {0x81, static_cast<uint8_t>(n)});
  } else {
    out.insert(out.end(), {0x82, static_cast<uint8_t>(n >> 8),
                           static_cast<uint8_t>(n & 0xFF)});
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

Der Sequence(std::initializer_list<Der> parts) {
  Der content;
  for (const Der& part : parts) {
    content.insert(content.end(), part.begin(), part.end());
  }
  return Tlv(kTagSequence, content);
}

// The OID's content octets come from OpenSSL's object table, so no OID is
// spelled out by hand here.
Der Oid(int nid) {
  const ASN1_OBJECT* object = OBJ_nid2obj(nid);
  const unsigned char* data = OBJ_get0_data(object);
  return Tlv(kTagOid, Der(data, data + OBJ_length(object)));
}

Der Null() { return Tlv(kTagNull, {}); }

// A non-negative INTEGER, minimal two's complement.
Der Integer(uint32_t value) {
  Der content;
  do {
    content.insert(content.begin(), static_cast<uint8_t>(value & 0xFF));
    value >>= 8;
  } while (value != 0);
  if ((content.front() & 0x80) != 0) content.insert(content.begin(), 0x00);
  return Tlv(kTagInteger, content);
}

Der Explicit(int tag_number, const Der& inner) {
  return Tlv(static_cast<uint8_t>(kTagContextConstructed | tag_number), inner);
}

Der AlgorithmIdentifier(int nid, std::optional<Der> parameters) {
  if (!parameters.has_value()) return Sequence({Oid(nid)});
  return Sequence({Oid(nid), *parameters});
}

int DigestNid(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha224: return NID_sha224;
    case HashAlgorithm::kSha256: return NID_sha256;
    case HashAlgorithm::kSha384: return NID_sha384;
    case HashAlgorithm::kSha512: return NID_sha512;
  }
  return NID_undef;
}

int RsaPkcs1Nid(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha224: return NID_sha224WithRSAEncryption;
    case HashAlgorithm::kSha256: return NID_sha256WithRSAEncryption;
    case HashAlgorithm::kSha384: return NID_sha384WithRSAEncryption;
    case HashAlgorithm::kSha512: return NID_sha512WithRSAEncryption;
  }
  return NID_undef;
}

int EcdsaNid(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha224: return NID_ecdsa_with_SHA224;
    case HashAlgorithm::kSha256: return NID_ecdsa_with_SHA256;
    case HashAlgorithm::kSha384: return NID_ecdsa_with_SHA384;
    case HashAlgorithm::kSha512: return NID_ecdsa_with_SHA512;
  }
  return NID_undef;
}

// RSASSA-PSS-params ::= SEQUENCE {
//   hashAlgorithm    [0] HashAlgorithm    DEFAULT sha1,
//   maskGenAlgorithm [1] MaskGenAlgorithm DEFAULT mgf1SHA1,
//   saltLength       [2] INTEGER          DEFAULT 20,
//   trailerField     [3] TrailerField     DEFAULT trailerFieldBC }
// keyhold never uses SHA-1 and always the BC trailer, so [0] and [1] are
// always written and [3] never; [2] only when it is not 20.
Der RsaPssParams(const SignatureAlgorithm& algorithm) {
  constexpr int kDefaultSaltLength = 20;
  const Der hash = AlgorithmIdentifier(DigestNid(algorithm.hash), Null());
  const Der mgf1 = AlgorithmIdentifier(
      NID_mgf1, AlgorithmIdentifier(DigestNid(algorithm.mgf1_hash), Null()));
  if (algorithm.pss_salt_length == kDefaultSaltLength) {
    return Sequence({Explicit(0, hash), Explicit(1, mgf1)});
  }
  return Sequence(
      {Explicit(0, hash), Explicit(1, mgf1),
       Explicit(2, Integer(static_cast<uint32_t>(algorithm.pss_salt_length)))});
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> SignatureAlgorithmIdentifier(
    const SignatureAlgorithm& algorithm) {
  switch (algorithm.scheme) {
    case SignatureScheme::kRsaPkcs1:
      return AlgorithmIdentifier(RsaPkcs1Nid(algorithm.hash), Null());
    case SignatureScheme::kRsaPss:
      if (algorithm.pss_salt_length < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("RSA-PSS salt length ", algorithm.pss_salt_length,
                         " is not a length; resolve it before encoding"));
      }
      return AlgorithmIdentifier(NID_rsassaPss, RsaPssParams(algorithm));
    case SignatureScheme::kEcdsa:
      return AlgorithmIdentifier(EcdsaNid(algorithm.hash), std::nullopt);
    case SignatureScheme::kEd25519:
      return AlgorithmIdentifier(NID_ED25519, std::nullopt);
  }
  return absl::InvalidArgumentError("unknown signature scheme");
}

}  // namespace keyhold
