// docs/cli.md cannot drift from the binary: every subcommand and every
// long option that `keyhold --help` and `keyhold <command> --help` list
// (found by walking the help output, so new commands are covered) must
// appear in the doc, options as `--flag`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace keyhold {
namespace {

struct HelpOutput {
  int exit_code = -1;
  std::string text;
};

// `keyhold <command...> --help`, stdout and stderr together.
HelpOutput Help(const std::vector<std::string>& command) {
  std::vector<std::string> args = {KEYHOLD_CLI_PATH};
  args.insert(args.end(), command.begin(), command.end());
  args.push_back("--help");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  HelpOutput out;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return out;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc == 0) {
    char buffer[4096];
    for (;;) {
      ssize_t n = read(fds[0], buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out.text.append(buffer, static_cast<size_t>(n));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  close(fds[0]);
  return out;
}

// The names CLI11 lists under "Subcommands:".
std::vector<std::string> Subcommands(const std::string& help) {
  std::vector<std::string> names;
  bool in_section = false;
  for (absl::string_view line : absl::StrSplit(help, '\n')) {
    if (line == "Subcommands:") {
      in_section = true;
      continue;
    }
    if (!in_section) continue;
    if (line.empty() || !absl::StartsWith(line, "  ")) break;
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!words.empty()) names.push_back(words[0]);
  }
  return names;
}

std::set<std::string> LongOptions(const std::string& help) {
  std::set<std::string> options;
  static const std::regex kLongOption("--[a-z][a-z0-9-]*");
  for (std::sregex_iterator it(help.begin(), help.end(), kLongOption), end; it != end; ++it) {
    options.insert(it->str());
  }
  return options;
}

std::string ReadDocs() {
  std::ifstream in(std::string(KEYHOLD_SOURCE_DIR) + "/docs/cli.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(CliDocsTest, EveryCommandAndLongOptionIsDocumented) {
  const std::string docs = ReadDocs();
  ASSERT_FALSE(docs.empty()) << "cannot read docs/cli.md";
  std::vector<std::vector<std::string>> pending = {{}};
  int commands = 0;
  std::set<std::string> options;
  while (!pending.empty()) {
    std::vector<std::string> command = pending.back();
    pending.pop_back();
    const std::string name = absl::StrJoin(command, " ");
    HelpOutput help = Help(command);
    ASSERT_EQ(help.exit_code, 0) << "keyhold " << name << " --help:\n" << help.text;
    ++commands;
    if (!command.empty()) {
      EXPECT_TRUE(absl::StrContains(docs, absl::StrCat("keyhold ", name)))
          << "docs/cli.md does not mention `keyhold " << name << "`";
    }
    for (const std::string& option : LongOptions(help.text)) {
      options.insert(option);
      EXPECT_TRUE(absl::StrContains(docs, absl::StrCat("`", option, "`")))
          << "docs/cli.md does not mention `" << option << "` (from keyhold " << name
          << " --help)";
    }
    for (const std::string& sub : Subcommands(help.text)) {
      std::vector<std::string> next = command;
      next.push_back(sub);
      pending.push_back(next);
    }
  }
  // status, key (4), cert (2), sign, token (1), and the groups themselves.
  EXPECT_GE(commands, 13);
  EXPECT_GE(options.size(), 14u);
}

}  // namespace
}  // namespace keyhold
