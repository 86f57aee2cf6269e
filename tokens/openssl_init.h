// keyholdd and the keyhold CLI never read openssl.cnf. A system-wide
// configuration (or OPENSSL_CONF) that loads keyhold-provider.so into
// every program would otherwise load it into the agent itself, which would
// then ask itself for signatures, and into processes that already carry
// the module's protobuf descriptors (protobuf aborts on the second
// registration). Neither program needs anything from openssl.cnf: the
// agent's TLS settings come from its own configuration.
#ifndef KEYHOLD_TOKENS_OPENSSL_INIT_H_
#define KEYHOLD_TOKENS_OPENSSL_INIT_H_

#include <openssl/crypto.h>

namespace keyhold {

// Call first thing in main, before anything else touches OpenSSL: the
// configuration is loaded at most once per process, so later
// initialisations (libssl's, gRPC's) then load nothing either.
inline bool InitOpensslWithoutConfig() {
  return OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr) == 1;
}

}  // namespace keyhold

#endif  // KEYHOLD_TOKENS_OPENSSL_INIT_H_
