#include "tests/integration/cli/cli_fixture.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tests/status_matchers.h"

extern char** environ;

namespace keyhold::testing {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

CliResult RunKeyhold(const TempDirectory& dir, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env) {
  static int run = 0;
  ++run;
  const std::string out_path = dir.File(absl::StrCat("stdout.", run));
  const std::string err_path = dir.File(absl::StrCat("stderr.", run));

  std::vector<std::string> argv_storage = {KeyholdCliPath()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (env.count(name) == 0) env_storage.push_back(entry);
  }
  for (const auto& [name, value] : env) {
    if (!value.empty()) env_storage.push_back(absl::StrCat(name, "=", value));
  }
  std::vector<char*> envp;
  for (std::string& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  pid_t pid = -1;
  CliResult result;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    result.err = absl::StrCat("posix_spawn ", argv[0], ": ", std::strerror(rc));
    return result;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadWholeFile(out_path);
  result.err = ReadWholeFile(err_path);
  return result;
}

std::string Describe(const CliResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\nstdout:\n", r.out, "\nstderr:\n", r.err);
}

std::string ExtractPem(const std::string& text, const std::string& type) {
  const std::string begin = absl::StrCat("-----BEGIN ", type, "-----");
  const std::string end = absl::StrCat("-----END ", type, "-----");
  size_t start = text.find(begin);
  size_t stop = text.find(end, start);
  if (start == std::string::npos || stop == std::string::npos) return "";
  return text.substr(start, stop + end.size() - start) + "\n";
}

AgentOptions CliTest::Options() {
  AgentOptions options;
  options.extra_config = "[[key]]\nlabel = \"configured\"\npurpose = \"sign\"\n";
  return options;
}

void CliTest::SetUp() {
  ASSERT_OK_AND_ASSIGN(agent_, AgentProcess::Start(Options()));
  ASSERT_OK_AND_ASSIGN(dir_, TempDirectory::Create());
}

CliResult CliTest::Run(std::vector<std::string> args) {
  args.insert(args.begin(), {"--socket", agent_->socket_path()});
  return RunKeyhold(*dir_, args);
}

nlohmann::json CliTest::RunJson(std::vector<std::string> args) {
  args.insert(args.begin(), "--json");
  CliResult r = Run(std::move(args));
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  nlohmann::json parsed = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "not one line: " << r.out;
  return parsed;
}

void CliTest::Generate(const std::string& label, const std::string& type,
                       const std::string& purpose) {
  CliResult r = Run({"key", "generate", label, "--type", type, "--purpose", purpose});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
}

std::string CliTest::WritePublicKey(const std::string& label) {
  CliResult shown = Run({"key", "show", label});
  EXPECT_EQ(shown.exit_code, 0) << Describe(shown);
  const std::string path = dir_->File(label + ".pub.pem");
  EXPECT_THAT(WriteFile(path, ExtractPem(shown.out, "PUBLIC KEY")), IsOk());
  return path;
}

std::string CliTest::WriteData(const std::string& name, const std::string& contents) {
  const std::string path = dir_->File(name);
  EXPECT_THAT(WriteFile(path, contents), IsOk());
  return path;
}

}  // namespace keyhold::testing
