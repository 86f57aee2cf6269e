#include "client/provider/remote_signer.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"

namespace keyhold::provider_module {
namespace {

v1::DigestAlgorithm ToProto(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha224: return v1::DIGEST_ALGORITHM_SHA224;
    case HashAlgorithm::kSha256: return v1::DIGEST_ALGORITHM_SHA256;
    case HashAlgorithm::kSha384: return v1::DIGEST_ALGORITHM_SHA384;
    case HashAlgorithm::kSha512: return v1::DIGEST_ALGORITHM_SHA512;
  }
  return v1::DIGEST_ALGORITHM_UNSPECIFIED;
}

v1::SignatureScheme ToProto(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kRsaPkcs1: return v1::SIGNATURE_SCHEME_RSA_PKCS1;
    case SignatureScheme::kRsaPss: return v1::SIGNATURE_SCHEME_RSA_PSS;
    case SignatureScheme::kEcdsa: return v1::SIGNATURE_SCHEME_ECDSA;
    case SignatureScheme::kEd25519: return v1::SIGNATURE_SCHEME_ED25519;
  }
  return v1::SIGNATURE_SCHEME_DEFAULT;
}

// The SubjectPublicKeyInfo in `pem` as a default-provider key in `libctx`.
// PEM_read_bio (not PEM_read_bio_PUBKEY) so that no decoder — ours
// included — runs inside the provider.
absl::StatusOr<EvpPkeyPtr> ParsePublicKeyPem(const std::string& pem,
                                             OSSL_LIB_CTX* libctx) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* der = nullptr;
  long length = 0;
  if (bio == nullptr ||
      PEM_read_bio(bio.get(), &name, &header, &der, &length) != 1) {
    return absl::InvalidArgumentError(
        "the agent's public key is not PEM");
  }
  const std::string label = name;
  OPENSSL_free(name);
  OPENSSL_free(header);
  const unsigned char* in = der;
  EvpPkeyPtr key(label == PEM_STRING_PUBLIC
                     ? d2i_PUBKEY_ex(nullptr, &in, length, libctx,
                                     "provider=default")
                     : nullptr);
  OPENSSL_free(der);
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the agent's public key is not a SubjectPublicKeyInfo (PEM \"", label,
        "\")"));
  }
  return key;
}

}  // namespace

absl::StatusOr<std::shared_ptr<RemoteSigner>> RemoteSigner::New(
    AgentConnection* connection, const v1::KeySelector& selector,
    OSSL_LIB_CTX* libctx) {
  absl::StatusOr<v1::Key> key = connection->GetKey(selector);
  if (!key.ok()) return key.status();
  absl::StatusOr<EvpPkeyPtr> public_key =
      ParsePublicKeyPem(key->public_key_pem(), libctx);
  if (!public_key.ok()) return public_key.status();
  return std::shared_ptr<RemoteSigner>(new RemoteSigner(
      connection, *std::move(key), *std::move(public_key)));
}

absl::StatusOr<std::vector<uint8_t>> RemoteSigner::Sign(
    const SignatureAlgorithm& algorithm, std::span<const uint8_t> input) {
  if (absl::Status s = CheckSignInput(public_key_.get(), algorithm, input);
      !s.ok()) {
    return s;
  }
  v1::SignRequest request;
  // By id: the label may be reused for a new key; the id names this one.
  request.mutable_key()->set_id(key_.id());
  request.set_digest(input.data(), input.size());
  request.set_scheme(ToProto(algorithm.scheme));
  if (algorithm.scheme != SignatureScheme::kEd25519) {
    request.set_digest_algorithm(ToProto(algorithm.hash));
  }
  if (algorithm.scheme == SignatureScheme::kRsaPss) {
    request.set_pss_salt_length(algorithm.pss_salt_length);
    request.set_mgf1_digest(ToProto(algorithm.mgf1_hash));
  }
  absl::StatusOr<std::string> signature = connection_->Sign(request);
  if (!signature.ok()) return signature.status();
  return std::vector<uint8_t>(signature->begin(), signature->end());
}

}  // namespace keyhold::provider_module
