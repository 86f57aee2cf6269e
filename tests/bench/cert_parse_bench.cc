// What loading keyhold-provider.so costs an application that never uses
// it: OpenSSL 3.0 runs a decoder search, without a cache, for the public
// key of every certificate it parses, and every loaded provider's key
// managers and decoders take part. Parses one PEM certificate N times with
// d2i_X509 in whatever providers OPENSSL_CONF loads, and prints CPU µs per
// parse. Run it with and without an OPENSSL_CONF that loads the module
// (tests/bench/cert_parse_bench.sh does both, also under callgrind, whose
// instruction counts do not drift with the machine).
//
// Usage: cert_parse_bench CERT.pem [N, default 20000]
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace {

double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: cert_parse_bench CERT.pem [N]\n");
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 20000;
  if (n <= 0) {
    std::fprintf(stderr, "cert_parse_bench: N must be positive\n");
    return 2;
  }
  OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr);
  std::FILE* file = std::fopen(argv[1], "r");
  if (file == nullptr) {
    std::perror(argv[1]);
    return 1;
  }
  X509* certificate = PEM_read_X509(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  unsigned char* der = nullptr;
  const int length = certificate == nullptr ? -1 : i2d_X509(certificate, &der);
  X509_free(certificate);
  if (length <= 0) {
    std::fprintf(stderr, "cert_parse_bench: %s is not a PEM certificate\n", argv[1]);
    return 1;
  }
  const double start = CpuSeconds();
  for (int i = 0; i < n; ++i) {
    const unsigned char* in = der;
    X509* parsed = d2i_X509(nullptr, &in, length);
    // The public key is decoded here, through the decoder search.
    if (parsed == nullptr || X509_get0_pubkey(parsed) == nullptr) {
      std::fprintf(stderr, "cert_parse_bench: parse %d failed\n", i);
      return 1;
    }
    X509_free(parsed);
  }
  const double elapsed = CpuSeconds() - start;
  OPENSSL_free(der);
  std::printf("%d parses, %.1f us CPU per d2i_X509\n", n, elapsed * 1e6 / n);
  return 0;
}
