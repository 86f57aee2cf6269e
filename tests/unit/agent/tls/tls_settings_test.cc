#include "agent/tls/tls_settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/tls1.h>

#include "tests/status_matchers.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::agent::tls {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;

// Validation looks at presence, not content: empty objects do.
class TlsSettingsTest : public ::testing::Test {
 protected:
  TlsSettings ValidSettings() const {
    TlsSettings settings;
    settings.host = "api.partner.example";
    settings.port = 443;
    settings.client_key = key_.get();
    settings.certificate_chain = {certificate_.get()};
    settings.trust.system_store = true;
    return settings;
  }

  EvpPkeyPtr key_{EVP_PKEY_new()};
  X509Ptr certificate_{X509_new()};
};

TEST(TlsVersionTest, ParsesCliAndOpenSslSpellings) {
  EXPECT_EQ(ParseTlsVersion("1.2").value(), TlsVersion::kTls12);
  EXPECT_EQ(ParseTlsVersion("1.3").value(), TlsVersion::kTls13);
  EXPECT_EQ(ParseTlsVersion("TLSv1.3").value(), TlsVersion::kTls13);
}

TEST(TlsVersionTest, RefusesOlderVersions) {
  EXPECT_THAT(ParseTlsVersion("1.1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected 1.2 or 1.3")));
}

TEST(TlsVersionTest, NamesMatchOpenSsl) {
  EXPECT_EQ(TlsVersionName(TlsVersion::kTls12), "TLSv1.2");
  EXPECT_EQ(OpenSslProtocolVersion(TlsVersion::kTls13), TLS1_3_VERSION);
}

TEST_F(TlsSettingsTest, ValidSettingsPass) {
  EXPECT_THAT(ValidateTlsSettings(ValidSettings()), IsOk());
}

TEST_F(TlsSettingsTest, ServerNameDefaultsToHost) {
  TlsSettings settings = ValidSettings();
  EXPECT_EQ(settings.server_name(), "api.partner.example");
  settings.sni = "other.example";
  EXPECT_EQ(settings.server_name(), "other.example");
}

TEST_F(TlsSettingsTest, TargetBracketsIpv6) {
  TlsSettings settings = ValidSettings();
  EXPECT_EQ(settings.target(), "api.partner.example:443");
  settings.host = "::1";
  EXPECT_EQ(settings.target(), "[::1]:443");
}

TEST_F(TlsSettingsTest, AcceptsIpLiterals) {
  TlsSettings settings = ValidSettings();
  settings.host = "127.0.0.1";
  EXPECT_THAT(ValidateTlsSettings(settings), IsOk());
  settings.host = "::1";
  EXPECT_THAT(ValidateTlsSettings(settings), IsOk());
}

TEST_F(TlsSettingsTest, RefusesHostWithPathOrSpace) {
  TlsSettings settings = ValidSettings();
  settings.host = "api.example/evil";
  EXPECT_THAT(ValidateTlsSettings(settings),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("host")));
  settings.host = "";
  EXPECT_THAT(ValidateTlsSettings(settings),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("host")));
}

TEST(HostNameTest, AcceptsLabelsWithDigitsHyphensAndUnderscores) {
  EXPECT_TRUE(IsHostName("localhost"));
  EXPECT_TRUE(IsHostName("api-2.partner.example"));
  EXPECT_TRUE(IsHostName("_srv.internal.example"));
  EXPECT_TRUE(IsHostName(std::string(63, 'a') + ".example"));
}

TEST(HostNameTest, RefusesMalformedNames) {
  EXPECT_FALSE(IsHostName(""));
  EXPECT_FALSE(IsHostName(".example"));
  EXPECT_FALSE(IsHostName("a..example"));
  EXPECT_FALSE(IsHostName("-api.example"));
  EXPECT_FALSE(IsHostName("api-.example"));
  EXPECT_FALSE(IsHostName("api example"));
  EXPECT_FALSE(IsHostName("*.example"));
  EXPECT_FALSE(IsHostName(std::string(64, 'a') + ".example"));
  EXPECT_FALSE(IsHostName(std::string(254, 'a')));
}

TEST_F(TlsSettingsTest, RefusesPortZero) {
  TlsSettings settings = ValidSettings();
  settings.port = 0;
  EXPECT_THAT(ValidateTlsSettings(settings),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port")));
}

TEST_F(TlsSettingsTest, RefusesIpLiteralAsSni) {
  TlsSettings settings = ValidSettings();
  settings.sni = "10.0.0.1:443";
  EXPECT_THAT(ValidateTlsSettings(settings),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SNI")));
}

TEST_F(TlsSettingsTest, RequiresClientKeyAndCertificate) {
  TlsSettings settings = ValidSettings();
  settings.client_key = nullptr;
  EXPECT_THAT(
      ValidateTlsSettings(settings),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("client key")));
  settings = ValidSettings();
  settings.certificate_chain.clear();
  EXPECT_THAT(ValidateTlsSettings(settings),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("client certificate")));
}

TEST_F(TlsSettingsTest, RequiresTrustAnchors) {
  TlsSettings settings = ValidSettings();
  settings.trust = {};
  EXPECT_THAT(ValidateTlsSettings(settings),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no trust anchors")));
}

TEST_F(TlsSettingsTest, RefusesMinimumAboveMaximum) {
  TlsSettings settings = ValidSettings();
  settings.min_version = TlsVersion::kTls13;
  settings.max_version = TlsVersion::kTls12;
  EXPECT_THAT(ValidateTlsSettings(settings),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("TLSv1.3) is above the maximum (TLSv1.2")));
}

TEST_F(TlsSettingsTest, RefusesEmptyAlpnName) {
  TlsSettings settings = ValidSettings();
  settings.alpn = {"http/1.1", ""};
  EXPECT_THAT(ValidateTlsSettings(settings),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ALPN")));
}

TEST_F(TlsSettingsTest, RefusesNonPositiveTimeouts) {
  TlsSettings settings = ValidSettings();
  settings.timeouts.handshake = absl::ZeroDuration();
  EXPECT_THAT(ValidateTlsSettings(settings),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("handshake timeout")));
}

TEST_F(TlsSettingsTest, InfiniteIdleTimeoutIsAllowed) {
  TlsSettings settings = ValidSettings();
  settings.timeouts.idle = absl::InfiniteDuration();
  EXPECT_THAT(ValidateTlsSettings(settings), IsOk());
}

}  // namespace
}  // namespace keyhold::agent::tls
