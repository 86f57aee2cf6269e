#include "agent/audit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace keyhold::agent {
namespace {

TEST(AuditTest, LineIsOneJsonObjectWithCallerKeyAndResult) {
  Caller caller;
  caller.uid = 1000;
  caller.gid = 1000;
  caller.pid = 42;
  caller.executable = "/usr/bin/keyhold";
  AuditEvent event{&caller, "KeyService.Sign", "signer", "ab01", "digest=00",
                   absl::PermissionDeniedError("no")};
  const std::string line = AuditLog::Format(event);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["caller"]["uid"], 1000);
  EXPECT_EQ(j["op"], "KeyService.Sign");
  EXPECT_EQ(j["key"]["label"], "signer");
  EXPECT_EQ(j["result"], "denied");
  EXPECT_EQ(j["reason"], "no");
}

TEST(AuditTest, HostileBytesStayInsideTheJsonString) {
  AuditEvent event{nullptr, "KeyService.GetKey", "x\n{\"forged\":1}\xff", "", "", absl::OkStatus()};
  const std::string line = AuditLog::Format(event);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_FALSE(j.contains("forged"));
  EXPECT_EQ(j["result"], "ok");
}

}  // namespace
}  // namespace keyhold::agent
