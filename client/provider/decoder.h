// Decoders from a PEM key reference ("KEYHOLD KEY REFERENCE") to a key
// signing through the agent (provider-decoder(7)).
#ifndef KEYHOLD_CLIENT_PROVIDER_DECODER_H_
#define KEYHOLD_CLIENT_PROVIDER_DECODER_H_

#include <openssl/core.h>

namespace keyhold::provider_module {

// The OSSL_OP_DECODER answer of query_operation.
const OSSL_ALGORITHM* DecoderAlgorithms();

}  // namespace keyhold::provider_module

#endif  // KEYHOLD_CLIENT_PROVIDER_DECODER_H_
