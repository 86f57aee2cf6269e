// Runs the built `keyhold` binary as a subprocess for tests, and CliTest:
// a fixture with a real keyholdd (fresh SoftHSM2 token) per test.
#ifndef KEYHOLD_TESTS_INTEGRATION_CLI_CLI_FIXTURE_H_
#define KEYHOLD_TESTS_INTEGRATION_CLI_CLI_FIXTURE_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/agent_process.h"
#include "tests/testing/openssl_cli.h"

namespace keyhold::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadWholeFile(const std::string& path);

// Runs `keyhold args...` with stdin from /dev/null, stdout and stderr into
// files under `dir`, the test's environment plus `env` (NAME -> value;
// an empty value removes NAME).
CliResult RunKeyhold(const TempDirectory& dir, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env = {});

// Exit code, stdout and stderr, for failure messages.
std::string Describe(const CliResult& r);

// The first PEM block of `text` whose type is `type` ("PUBLIC KEY"), or "".
std::string ExtractPem(const std::string& text, const std::string& type);

class CliTest : public ::testing::Test {
 protected:
  // The agent's config: one label whose purpose the config fixes.
  static AgentOptions Options();

  void SetUp() override;

  // `keyhold --socket <agent> args...`
  CliResult Run(std::vector<std::string> args);
  // `keyhold --socket <agent> --json args...`, expected to succeed with one
  // line of JSON; the parsed object (discarded if it is not JSON).
  nlohmann::json RunJson(std::vector<std::string> args);
  // `keyhold key generate`, expected to succeed.
  void Generate(const std::string& label, const std::string& type, const std::string& purpose);
  // Writes the key's public key (from `keyhold key show`) to a file; its path.
  std::string WritePublicKey(const std::string& label);
  // Writes `contents` to dir_/name; its path.
  std::string WriteData(const std::string& name, const std::string& contents);

  std::unique_ptr<AgentProcess> agent_;
  std::optional<TempDirectory> dir_;
};

}  // namespace keyhold::testing

#endif  // KEYHOLD_TESTS_INTEGRATION_CLI_CLI_FIXTURE_H_
