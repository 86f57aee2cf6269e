// keyhold cert import / cert show against a real agent, with certificates
// issued here by a throwaway software CA.
#include <algorithm>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tests/integration/cli/cli_fixture.h"
#include "tests/status_matchers.h"
#include "tokens/openssl_ptr.h"

namespace keyhold {
namespace {

using ::keyhold::testing::CliResult;
using ::keyhold::testing::CliTest;
using ::keyhold::testing::Describe;
using ::keyhold::testing::ReadWholeFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A certificate for `public_key_pem`, issued by a throwaway software CA:
// the key's private half is on the token, so it cannot self-sign.
X509Ptr MakeCertificate(const std::string& public_key_pem, const std::string& common_name) {
  BioPtr bio(BIO_new_mem_buf(public_key_pem.data(), static_cast<int>(public_key_pem.size())));
  EvpPkeyPtr subject_key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  EvpPkeyPtr ca_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!subject_key || !ca_key) return nullptr;
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * 30);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_NAME* issuer = X509_get_issuer_name(cert.get());
  X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Throwaway Test CA"), -1, -1,
                             0);
  X509_set_pubkey(cert.get(), subject_key.get());
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) return nullptr;
  return cert;
}

TEST_F(CliTest, CertImportThenShow) {
  Generate("client", "ec-p256", "tls-client");
  nlohmann::json key = RunJson({"key", "show", "client"});
  X509Ptr cert = MakeCertificate(key["public_key_pem"], "client.example");
  ASSERT_NE(cert, nullptr);
  const std::string pem_path = dir_->File("client.pem");
  ASSERT_THAT(keyhold::testing::WriteCertificatePem(pem_path, cert.get()),
              keyhold::testing::IsOk());

  CliResult imported = Run({"cert", "import", "client", pem_path});
  ASSERT_EQ(imported.exit_code, 0) << Describe(imported);
  EXPECT_THAT(imported.out, HasSubstr("CN=client.example"));

  CliResult shown = Run({"cert", "show", "client"});
  ASSERT_EQ(shown.exit_code, 0) << Describe(shown);
  EXPECT_EQ(shown.out, ReadWholeFile(pem_path));  // the PEM alone

  nlohmann::json cert_json = RunJson({"cert", "show", "client"});
  EXPECT_EQ(cert_json["label"], "client");
  EXPECT_EQ(cert_json["certificate"]["subject"], "CN=client.example");
  EXPECT_EQ(cert_json["certificate"]["issuer"], "CN=Throwaway Test CA");
  EXPECT_EQ(cert_json["certificate"]["serial"], "1092");  // 4242
  EXPECT_THAT(cert_json["certificate"]["not_after"].get<std::string>(),
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"));

  CliResult key_text = Run({"key", "show", "client"});
  EXPECT_THAT(key_text.out, ::testing::ContainsRegex("cert subject: +CN=client.example"));
  EXPECT_THAT(key_text.out, ::testing::ContainsRegex("cert issuer: +CN=Throwaway Test CA"));
  EXPECT_THAT(key_text.out, HasSubstr("cert not after:"));
}

TEST_F(CliTest, CertImportTakesDer) {
  Generate("client", "rsa-2048", "tls-client");
  nlohmann::json key = RunJson({"key", "show", "client"});
  X509Ptr cert = MakeCertificate(key["public_key_pem"], "der.example");
  ASSERT_NE(cert, nullptr);
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  ASSERT_GT(len, 0);
  const std::string der_path =
      WriteData("client.der", std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
  OPENSSL_free(der);
  CliResult imported = Run({"cert", "import", "client", der_path});
  ASSERT_EQ(imported.exit_code, 0) << Describe(imported);
  EXPECT_EQ(RunJson({"cert", "show", "client"})["certificate"]["subject"], "CN=der.example");
}

TEST_F(CliTest, CertShowWithoutCertificateIsExitThree) {
  Generate("k", "ec-p256", "sign");
  CliResult r = Run({"cert", "show", "k"});
  EXPECT_EQ(r.exit_code, 3) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("has no certificate"));
}

TEST_F(CliTest, CertImportOfGarbageFailsClearly) {
  Generate("k", "ec-p256", "sign");
  const std::string garbage = WriteData("garbage.pem", "this is not a certificate\n");
  CliResult r = Run({"cert", "import", "k", garbage});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, StartsWith("keyhold: certificate: not a DER or PEM X.509 certificate"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  CliResult missing = Run({"cert", "import", "k", dir_->File("missing.pem")});
  EXPECT_EQ(missing.exit_code, 2) << Describe(missing);
}

}  // namespace
}  // namespace keyhold
