#include "agent/tls/http_response_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/status_matchers.h"

namespace keyhold::agent::tls {
namespace {

using ::keyhold::testing::IsOk;
using ::keyhold::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr size_t kLimit = 1 << 20;

// Feeds `bytes` one byte at a time: framing must not depend on how the
// network splits the stream.
absl::Status FeedBytewise(HttpResponseParser& parser, absl::string_view bytes) {
  for (char c : bytes) {
    if (absl::Status s = parser.Feed(absl::string_view(&c, 1)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

TEST(HttpResponseParserTest, ContentLengthBodyAcrossSplitReads) {
  HttpResponseParser parser(false, kLimit);
  ASSERT_THAT(FeedBytewise(parser,
                           "HTTP/1.1 200 OK\r\n"
                           "Content-Type: text/plain\r\n"
                           "Content-Length: 5\r\n"
                           "\r\n"
                           "hello"),
              IsOk());
  ASSERT_TRUE(parser.complete());
  HttpResponse response = parser.TakeResponse();
  EXPECT_EQ(response.version, "HTTP/1.1");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.reason, "OK");
  EXPECT_EQ(response.body, "hello");
  EXPECT_THAT(response.headers,
              ElementsAre(HttpHeader{"Content-Type", "text/plain"},
                          HttpHeader{"Content-Length", "5"}));
}

TEST(HttpResponseParserTest, NotCompleteUntilContentLengthArrives) {
  HttpResponseParser parser(false, kLimit);
  ASSERT_THAT(parser.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
              IsOk());
  EXPECT_FALSE(parser.complete());
  EXPECT_THAT(parser.FinishAtEof(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("before the HTTP response was complete")));
}

TEST(HttpResponseParserTest, ChunkedBodyWithExtensionsAndTrailers) {
  HttpResponseParser parser(false, kLimit);
  ASSERT_THAT(FeedBytewise(parser,
                           "HTTP/1.1 200 OK\r\n"
                           "Transfer-Encoding: chunked\r\n"
                           "\r\n"
                           "5;name=value\r\nhello\r\n"
                           "1\r\n,\r\n"
                           "6\r\n world\r\n"
                           "0\r\n"
                           "X-Checksum: 1\r\n"
                           "\r\n"),
              IsOk());
  ASSERT_TRUE(parser.complete());
  EXPECT_EQ(parser.TakeResponse().body, "hello, world");
}

TEST(HttpResponseParserTest, TransferEncodingOverridesContentLength) {
  HttpResponseParser parser(false, kLimit);
  ASSERT_THAT(parser.Feed("HTTP/1.1 200 OK\r\n"
                          "Content-Length: 100\r\n"
                          "Transfer-Encoding: gzip, chunked\r\n"
                          "\r\n"
                          "3\r\nabc\r\n0\r\n\r\n"),
              IsOk());
  ASSERT_TRUE(parser.complete());
  EXPECT_EQ(parser.TakeResponse().body, "abc");
}

TEST(HttpResponseParserTest, BodyWithoutLengthRunsToEof) {
  HttpResponseParser parser(false, kLimit);
  ASSERT_THAT(parser.Feed("HTTP/1.0 200 ok\r\n\r\nsome "), IsOk());
  ASSERT_THAT(parser.Feed("text"), IsOk());
  EXPECT_FALSE(parser.complete());
  ASSERT_THAT(parser.FinishAtEof(), IsOk());
  ASSERT_TRUE(parser.complete());
  HttpResponse response = parser.TakeResponse();
  EXPECT_EQ(response.version, "HTTP/1.0");
  EXPECT_EQ(response.body, "some text");
}

TEST(HttpResponseParserTest, InterimResponsesAreSkipped) {
  HttpResponseParser parser(false, kLimit);
  ASSERT_THAT(
      parser.Feed("HTTP/1.1 100 Continue\r\n\r\n"
                  "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                  "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
      IsOk());
  ASSERT_TRUE(parser.complete());
  HttpResponse response = parser.TakeResponse();
  EXPECT_EQ(response.status, 201);
  EXPECT_THAT(response.headers, ElementsAre(HttpHeader{"Content-Length", "2"}));
}

TEST(HttpResponseParserTest, HeadAnd204And304HaveNoBody) {
  HttpResponseParser head(true, kLimit);
  ASSERT_THAT(head.Feed("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"),
              IsOk());
  EXPECT_TRUE(head.complete());
  HttpResponseParser no_content(false, kLimit);
  ASSERT_THAT(no_content.Feed("HTTP/1.1 204 No Content\r\n\r\n"), IsOk());
  EXPECT_TRUE(no_content.complete());
  HttpResponseParser not_modified(false, kLimit);
  ASSERT_THAT(not_modified.Feed("HTTP/1.1 304 Not Modified\r\n\r\n"), IsOk());
  EXPECT_TRUE(not_modified.complete());
}

TEST(HttpResponseParserTest, AcceptsBareLineFeeds) {
  HttpResponseParser parser(false, kLimit);
  ASSERT_THAT(parser.Feed("HTTP/1.1 404 Not Found\nContent-Length: 1\n\nx"),
              IsOk());
  ASSERT_TRUE(parser.complete());
  EXPECT_EQ(parser.TakeResponse().status, 404);
}

TEST(HttpResponseParserTest, AnnouncedBodyOverLimitIsRefused) {
  HttpResponseParser parser(false, 4);
  EXPECT_THAT(parser.Feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("exceeds the limit of 4 bytes")));
}

TEST(HttpResponseParserTest, ChunkedBodyOverLimitIsRefused) {
  HttpResponseParser parser(false, 4);
  EXPECT_THAT(parser.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                          "\r\n3\r\nabc\r\n3\r\ndef\r\n"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("limit of 4 bytes")));
}

TEST(HttpResponseParserTest, UnframedBodyOverLimitIsRefused) {
  HttpResponseParser parser(false, 4);
  EXPECT_THAT(
      parser.Feed("HTTP/1.1 200 OK\r\n\r\nabcdef"),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("limit")));
}

TEST(HttpResponseParserTest, HugeHeadersAreRefused) {
  HttpResponseParser parser(false, kLimit);
  const std::string big(HttpResponseParser::kMaxHeaderBytes + 10, 'a');
  EXPECT_THAT(parser.Feed("HTTP/1.1 200 OK\r\nX-Big: " + big),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("headers exceed")));
}

TEST(HttpResponseParserTest, MalformedStatusLineIsDataLoss) {
  HttpResponseParser parser(false, kLimit);
  EXPECT_THAT(
      parser.Feed("SSH-2.0-OpenSSH_9.2\r\n"),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("bad status line")));
}

TEST(HttpResponseParserTest, ConflictingContentLengthsAreDataLoss) {
  HttpResponseParser parser(false, kLimit);
  EXPECT_THAT(parser.Feed("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                          "Content-Length: 2\r\n\r\n"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("conflicting Content-Length")));
}

TEST(HttpResponseParserTest, BadChunkSizeIsDataLoss) {
  HttpResponseParser parser(false, kLimit);
  EXPECT_THAT(parser.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                          "\r\nzz\r\n"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("chunk size")));
}

TEST(HttpResponseParserTest, NothingAtAllIsDataLoss) {
  HttpResponseParser parser(false, kLimit);
  EXPECT_THAT(parser.FinishAtEof(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("without an HTTP response")));
}

TEST(HttpResponseParserTest, BytesAfterCompleteResponseAreIgnored) {
  HttpResponseParser parser(false, kLimit);
  ASSERT_THAT(
      parser.Feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"),
      IsOk());
  ASSERT_TRUE(parser.complete());
  ASSERT_THAT(parser.Feed("more"), IsOk());
  EXPECT_EQ(parser.TakeResponse().body, "ok");
}

}  // namespace
}  // namespace keyhold::agent::tls
