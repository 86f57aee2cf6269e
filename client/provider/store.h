// OSSL_STORE loader for "keyhold:" URIs (provider-storemgmt(7)).
#ifndef KEYHOLD_CLIENT_PROVIDER_STORE_H_
#define KEYHOLD_CLIENT_PROVIDER_STORE_H_

#include <openssl/core.h>

namespace keyhold::provider_module {

// The OSSL_OP_STORE answer of query_operation.
const OSSL_ALGORITHM* StoreAlgorithms();

}  // namespace keyhold::provider_module

#endif  // KEYHOLD_CLIENT_PROVIDER_STORE_H_
