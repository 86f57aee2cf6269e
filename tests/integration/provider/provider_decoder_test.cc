// keyhold-provider.so loaded into a process of its own (this test links no
// keyhold code: the module carries its own protobuf descriptors): which
// OpenSSL decoder searches its key-reference decoders take part in.
#include <gtest/gtest.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include <memory>

namespace {

struct LibCtxFree {
  void operator()(OSSL_LIB_CTX* ctx) const { OSSL_LIB_CTX_free(ctx); }
};
using LibCtxPtr = std::unique_ptr<OSSL_LIB_CTX, LibCtxFree>;
struct ProviderUnload {
  void operator()(OSSL_PROVIDER* provider) const { OSSL_PROVIDER_unload(provider); }
};
using ProviderPtr = std::unique_ptr<OSSL_PROVIDER, ProviderUnload>;

// Decoders OpenSSL 3.0 sets up to turn `input` into an EC key of
// `selection` in `libctx`: what it does for every certificate it parses.
int DecoderCount(OSSL_LIB_CTX* libctx, const char* input, int selection) {
  EVP_PKEY* pkey = nullptr;
  OSSL_DECODER_CTX* ctx =
      OSSL_DECODER_CTX_new_for_pkey(&pkey, input, nullptr, "EC", selection, libctx, nullptr);
  const int count = ctx == nullptr ? -1 : OSSL_DECODER_CTX_get_num_decoders(ctx);
  OSSL_DECODER_CTX_free(ctx);
  return count;
}

// Applications parse public keys (every certificate) far more often than
// they load key references: the module's decoders stay out of those
// searches, which OpenSSL 3.0 runs without a cache.
TEST(ProviderDecoderTest, KeyReferenceDecodersJoinPrivateKeyLoadsOnly) {
  LibCtxPtr plain(OSSL_LIB_CTX_new());
  LibCtxPtr with_module(OSSL_LIB_CTX_new());
  ProviderPtr plain_default(OSSL_PROVIDER_load(plain.get(), "default"));
  ProviderPtr module_default(OSSL_PROVIDER_load(with_module.get(), "default"));
  ProviderPtr module(OSSL_PROVIDER_load(with_module.get(), KEYHOLD_PROVIDER_PATH));
  ASSERT_NE(plain_default, nullptr);
  ASSERT_NE(module_default, nullptr);
  ASSERT_NE(module, nullptr) << "cannot load " << KEYHOLD_PROVIDER_PATH;

  for (const char* input : {"DER", "PEM"}) {
    SCOPED_TRACE(input);
    EXPECT_EQ(DecoderCount(with_module.get(), input, EVP_PKEY_PUBLIC_KEY),
              DecoderCount(plain.get(), input, EVP_PKEY_PUBLIC_KEY));
  }
  // A key reference is read where a private key (or any key) is wanted.
  EXPECT_GT(DecoderCount(with_module.get(), "PEM", EVP_PKEY_KEYPAIR),
            DecoderCount(plain.get(), "PEM", EVP_PKEY_KEYPAIR));
  EXPECT_GT(DecoderCount(with_module.get(), "PEM", 0), DecoderCount(plain.get(), "PEM", 0));
}

}  // namespace
