#include "agent/tls/handshake_facts.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <utility>

#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"
#include "tokens/pem.h"

namespace keyhold::agent::tls {
namespace {

absl::StatusOr<std::string> ChainPem(SSL* ssl) {
  // For a client, the chain includes the leaf.
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  if (chain == nullptr) return std::string();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return OpenSslError("BIO_new");
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    if (PEM_write_bio_X509(bio.get(), sk_X509_value(chain, i)) != 1) {
      return OpenSslError("encoding the server certificate chain");
    }
  }
  return MemBioContents(bio.get());
}

}  // namespace

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || name == nullptr) return "";
  X509_NAME_print_ex(bio.get(), name, 0,
                     XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return MemBioContents(bio.get());
}

absl::StatusOr<HandshakeFacts> DescribeHandshake(SSL* ssl,
                                                 std::string peer_address) {
  HandshakeFacts facts;
  facts.protocol = SSL_get_version(ssl);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
      cipher != nullptr) {
    facts.cipher = SSL_CIPHER_get_name(cipher);
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_length = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
  if (alpn != nullptr) {
    facts.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
  }
  facts.session_reused = SSL_session_reused(ssl) == 1;
  facts.peer_address = std::move(peer_address);
  if (X509* peer = SSL_get0_peer_certificate(ssl); peer != nullptr) {
    facts.peer_subject = NameToString(X509_get_subject_name(peer));
  }
  absl::StatusOr<std::string> chain = ChainPem(ssl);
  if (!chain.ok()) return chain.status();
  facts.peer_chain_pem = *std::move(chain);
  facts.verify_result =
      X509_verify_cert_error_string(SSL_get_verify_result(ssl));
  return facts;
}

}  // namespace keyhold::agent::tls
