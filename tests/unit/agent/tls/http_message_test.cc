#include "agent/tls/http_message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/status_matchers.h"

namespace keyhold::agent::tls {
namespace {

using ::keyhold::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;

TEST(SerializeHttpRequestTest, GetHasHostAndConnectionClose) {
  EXPECT_EQ(SerializeHttpRequest({}, "api.example", 443).value(),
            "GET / HTTP/1.1\r\n"
            "Host: api.example\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(SerializeHttpRequestTest, HostCarriesNonDefaultPortAndIpv6Brackets) {
  EXPECT_THAT(SerializeHttpRequest({}, "api.example", 8443).value(),
              HasSubstr("Host: api.example:8443\r\n"));
  EXPECT_THAT(SerializeHttpRequest({}, "::1", 8443).value(),
              HasSubstr("Host: [::1]:8443\r\n"));
}

TEST(SerializeHttpRequestTest, CallerHostReplacesDefault) {
  HttpRequestSpec spec;
  spec.headers = {{"Host", "virtual.example"}};
  const std::string request =
      SerializeHttpRequest(spec, "10.0.0.1", 443).value();
  EXPECT_THAT(request, HasSubstr("Host: virtual.example\r\n"));
  EXPECT_THAT(request, ::testing::Not(HasSubstr("10.0.0.1")));
}

TEST(SerializeHttpRequestTest, PostCarriesBodyAndLength) {
  HttpRequestSpec spec;
  spec.method = "POST";
  spec.path = "/v1/pay?x=1";
  spec.headers = {{"Content-Type", "application/json"}};
  spec.body = R"({"a":1})";
  EXPECT_EQ(SerializeHttpRequest(spec, "bank.example", 443).value(),
            "POST /v1/pay?x=1 HTTP/1.1\r\n"
            "Host: bank.example\r\n"
            "Content-Length: 7\r\n"
            "Connection: close\r\n"
            "Content-Type: application/json\r\n"
            "\r\n"
            R"({"a":1})");
}

TEST(SerializeHttpRequestTest, EmptyPostStillSaysLengthZero) {
  HttpRequestSpec spec;
  spec.method = "POST";
  EXPECT_THAT(SerializeHttpRequest(spec, "h", 443).value(),
              HasSubstr("Content-Length: 0\r\n"));
}

TEST(SerializeHttpRequestTest, RefusesHeaderInjection) {
  HttpRequestSpec spec;
  spec.headers = {{"X-Note", "a\r\nX-Evil: 1"}};
  EXPECT_THAT(
      SerializeHttpRequest(spec, "h", 443),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line break")));
  spec.headers = {{"X Bad", "v"}};
  EXPECT_THAT(SerializeHttpRequest(spec, "h", 443),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not an HTTP header name")));
}

TEST(SerializeHttpRequestTest, RefusesHeadersKeyholdSets) {
  HttpRequestSpec spec;
  spec.headers = {{"content-length", "5"}};
  EXPECT_THAT(SerializeHttpRequest(spec, "h", 443),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("set by keyhold")));
}

TEST(SerializeHttpRequestTest, RefusesBadMethodAndPath) {
  HttpRequestSpec spec;
  spec.method = "GET /";
  EXPECT_THAT(SerializeHttpRequest(spec, "h", 443),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not an HTTP method")));
  spec = {};
  spec.path = "relative";
  EXPECT_THAT(SerializeHttpRequest(spec, "h", 443),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must start with '/'")));
  spec.path = "/a b";
  EXPECT_THAT(
      SerializeHttpRequest(spec, "h", 443),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no spaces")));
}

TEST(HttpResponseTest, HeaderLookupIgnoresCase) {
  HttpResponse response;
  response.headers = {{"Content-Type", "text/plain"}, {"X-A", "1"}};
  EXPECT_THAT(response.Header("content-type"),
              Optional(absl::string_view("text/plain")));
  EXPECT_EQ(response.Header("missing"), std::nullopt);
}

}  // namespace
}  // namespace keyhold::agent::tls
