// One decoder per key family, named like the family's keymgmt ("RSA",
// "EC", "ED25519") because OSSL_DECODER_CTX_new_for_pkey starts its chain
// from decoders named after key types; each takes "pem" input. That is the
// path of PEM_read_bio_PrivateKey, which nginx (ssl_certificate_key), curl
// (--key) and Python (load_cert_chain) use for key files.
//
// A decoder that reads a PEM block of another name, or a reference to a key
// of another family, returns 1 without output ("empty-handed"): libcrypto
// rewinds the input and tries the next decoder. A reference of our family
// that the agent cannot serve is a hard error (0), with the agent's reason
// on the error queue.
#include "client/provider/decoder.h"

#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include <optional>
#include <string>

#include "client/provider/key_reference.h"
#include "client/provider/module_context.h"

namespace keyhold::provider_module {
namespace {

using provider_internal::DispatchEntry;
using provider_internal::ErrorReason;

void* DecoderNewContext(void* provctx) { return provctx; }
void DecoderFreeContext(void* /*ctx*/) {}

int DecoderDoesSelection(void* /*provctx*/, int selection) {
  // A reference stands for a private key: it answers requests that include
  // the private key (or any key), not those for a public key alone. OpenSSL
  // 3.0 asks every decoder this before it compares names, for every public
  // key it parses — each certificate an application reads — so declining
  // here keeps loading this module from slowing those down (callgrind:
  // d2i_X509 of a P-256 certificate +24 % with the module loaded when this
  // said yes to public keys, +13.5 % now; docs/performance.md).
  return selection == 0 ||
                 (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
             ? 1
             : 0;
}

// The PEM block at the start of `in`, if it is a key reference.
std::optional<std::string> ReadReferenceBody(ModuleContext& provider,
                                             OSSL_CORE_BIO* in) {
  BioPtr bio(BIO_new_from_core_bio(provider.libctx(), in));
  if (bio == nullptr) return std::nullopt;
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long length = 0;
  // Quiet on failure: most PEM input is not ours.
  ERR_set_mark();
  const bool read = PEM_read_bio(bio.get(), &name, &header, &data, &length) == 1;
  ERR_pop_to_mark();
  if (!read) return std::nullopt;
  std::optional<std::string> body;
  if (absl::string_view(name) == kKeyReferencePemName) {
    body.emplace(reinterpret_cast<const char*>(data),
                 static_cast<size_t>(length));
  }
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  return body;
}

template <KeyFamily kFamily>
int Decode(void* ctx, OSSL_CORE_BIO* in, int /*selection*/,
           OSSL_CALLBACK* data_cb, void* data_cbarg,
           OSSL_PASSPHRASE_CALLBACK* /*pw_cb*/, void* /*pw_cbarg*/) {
  auto& provider = *static_cast<ModuleContext*>(ctx);
  std::optional<std::string> body = ReadReferenceBody(provider, in);
  if (!body.has_value()) return 1;
  absl::StatusOr<KeyReference> reference = ParseKeyReferenceBody(*body);
  if (!reference.ok()) {
    provider.RaiseStatus(ErrorReason::kInvalidArgument, reference.status());
    return 0;
  }
  if (reference->family != kFamily) return 1;

  absl::StatusOr<PreparedKey> key =
      provider.PrepareKey(KeyLocator{.label = "", .id = reference->id});
  if (!key.ok()) {
    provider.RaiseStatus(ErrorReason::kKeyUnavailable, key.status());
    return 0;
  }
  if (absl::string_view(key->keymgmt_name) !=
      provider_internal::KeymgmtName(kFamily)) {
    provider.Release(*key);
    provider.RaiseError(ErrorReason::kKeyUnavailable,
                        "the key reference names a key of another type than "
                        "the agent holds");
    return 0;
  }
  int type = OSSL_OBJECT_PKEY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                       const_cast<char*>(key->keymgmt_name),
                                       0),
      OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
                                        key->reference.data(),
                                        key->reference.size()),
      OSSL_PARAM_construct_end(),
  };
  const int result = data_cb(params, data_cbarg);
  provider.Release(*key);
  return result;
}

template <KeyFamily kFamily>
const OSSL_DISPATCH* DecoderFunctions() {
  static const OSSL_DISPATCH kFunctions[] = {
      DispatchEntry<OSSL_FUNC_decoder_newctx_fn>(OSSL_FUNC_DECODER_NEWCTX,
                                                 &DecoderNewContext),
      DispatchEntry<OSSL_FUNC_decoder_freectx_fn>(OSSL_FUNC_DECODER_FREECTX,
                                                  &DecoderFreeContext),
      DispatchEntry<OSSL_FUNC_decoder_does_selection_fn>(
          OSSL_FUNC_DECODER_DOES_SELECTION, &DecoderDoesSelection),
      DispatchEntry<OSSL_FUNC_decoder_decode_fn>(OSSL_FUNC_DECODER_DECODE,
                                                 &Decode<kFamily>),
      provider_internal::kDispatchEnd,
  };
  return kFunctions;
}

}  // namespace

const OSSL_ALGORITHM* DecoderAlgorithms() {
  static constexpr char kProperties[] = "provider=keyhold,input=pem";
  static const OSSL_ALGORITHM kAlgorithms[] = {
      {provider_internal::kRsaNames, kProperties,
       DecoderFunctions<KeyFamily::kRsa>(),
       "keyhold key reference (PEM) to an RSA key held by keyholdd"},
      {provider_internal::kEcNames, kProperties,
       DecoderFunctions<KeyFamily::kEc>(),
       "keyhold key reference (PEM) to an EC key held by keyholdd"},
      {provider_internal::kEd25519Names, kProperties,
       DecoderFunctions<KeyFamily::kEd25519>(),
       "keyhold key reference (PEM) to an Ed25519 key held by keyholdd"},
      {nullptr, nullptr, nullptr, nullptr},
  };
  return kAlgorithms;
}

}  // namespace keyhold::provider_module
