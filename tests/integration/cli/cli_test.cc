// The `keyhold` CLI as a black box: the built binary run as a subprocess
// against a real keyholdd on a fresh SoftHSM2 token, its signatures and
// keys checked with the real `openssl` command. Certificates and token
// init are in cli_cert_test.cc and cli_token_test.cc.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/cli/cli_fixture.h"
#include "tests/status_matchers.h"

namespace keyhold {
namespace {

using ::keyhold::testing::CliResult;
using ::keyhold::testing::CliTest;
using ::keyhold::testing::CommandResult;
using ::keyhold::testing::Describe;
using ::keyhold::testing::ReadWholeFile;
using ::keyhold::testing::RunKeyhold;
using ::keyhold::testing::RunOpenssl;
using ::keyhold::testing::TempDirectory;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(CliTest, StatusShowsTheTokenInTextAndJson) {
  CliResult text = Run({"status"});
  ASSERT_EQ(text.exit_code, 0) << Describe(text);
  EXPECT_THAT(text.out, HasSubstr("keyhold-agent"));
  EXPECT_THAT(text.out, HasSubstr("CKM_ECDSA"));
  EXPECT_TRUE(text.err.empty()) << text.err;

  nlohmann::json status = RunJson({"status"});
  EXPECT_FALSE(status["version"].get<std::string>().empty());
  EXPECT_TRUE(status["uptime_seconds"].is_number_unsigned());
  EXPECT_EQ(status["token"]["label"], "keyhold-agent");
  EXPECT_EQ(status["token"]["logged_in"], true);
  EXPECT_EQ(status["token"]["key_count"], 0);
  EXPECT_THAT(status["token"]["mechanisms"].get<std::vector<std::string>>(),
              ::testing::Contains("CKM_ECDSA"));
}

TEST_F(CliTest, GeneratesEveryKeyType) {
  for (const char* type : {"ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"}) {
    SCOPED_TRACE(type);
    const std::string label = absl::StrCat("k-", type);
    nlohmann::json key =
        RunJson({"key", "generate", label, "--type", type, "--purpose", "sign"});
    EXPECT_EQ(key["label"], label);
    EXPECT_EQ(key["type"], type);
    EXPECT_EQ(key["purpose"], "sign");
    EXPECT_EQ(key["id"].get<std::string>().size(), 32u);  // 16 bytes, hex
    EXPECT_EQ(key["protection"]["extractable"], false);
    EXPECT_EQ(key["protection"]["sensitive"], true);
    EXPECT_THAT(key["public_key_pem"].get<std::string>(), StartsWith("-----BEGIN PUBLIC KEY-----"));
    EXPECT_TRUE(key["certificate"].is_null());
  }
  EXPECT_EQ(RunJson({"status"})["token"]["key_count"], 6);
}

TEST_F(CliTest, GenerateRefusesAnUnknownTypeAsUsage) {
  CliResult r = Run({"key", "generate", "k", "--type", "ec-p521", "--purpose", "sign"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, StartsWith("keyhold: "));
  EXPECT_THAT(r.err, HasSubstr("--type"));
}

TEST_F(CliTest, PurposeMayBeLeftOutOnlyForALabelTheConfigNames) {
  CliResult configured = Run({"key", "generate", "configured", "--type", "ec-p256"});
  ASSERT_EQ(configured.exit_code, 0) << Describe(configured);
  EXPECT_THAT(configured.out, ::testing::ContainsRegex("purpose: +sign"));

  CliResult other = Run({"key", "generate", "other", "--type", "ec-p256"});
  EXPECT_EQ(other.exit_code, 2) << Describe(other);
  EXPECT_THAT(other.err, StartsWith("keyhold: --purpose ca|tls-client|sign is required"));
}

TEST_F(CliTest, GenerateOfATakenLabelFails) {
  Generate("k", "ec-p256", "sign");
  CliResult r = Run({"key", "generate", "k", "--type", "ec-p256", "--purpose", "sign"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, StartsWith("keyhold: "));
}

TEST_F(CliTest, ListsKeysInAlignedColumnsAndAsJson) {
  Generate("a-much-longer-label", "ec-p256", "sign");
  Generate("b", "rsa-2048", "ca");

  CliResult text = Run({"key", "list"});
  ASSERT_EQ(text.exit_code, 0) << Describe(text);
  std::vector<std::string> lines = absl::StrSplit(text.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << text.out;
  EXPECT_THAT(lines[0], StartsWith("LABEL"));
  const size_t type_column = lines[0].find("TYPE");
  ASSERT_NE(type_column, std::string::npos);
  EXPECT_EQ(lines[1].find("ec-p256"), type_column) << text.out;
  EXPECT_EQ(lines[2].find("rsa-2048"), type_column) << text.out;

  nlohmann::json list = RunJson({"key", "list"});
  ASSERT_TRUE(list["keys"].is_array());
  ASSERT_EQ(list["keys"].size(), 2u);
  EXPECT_EQ(list["keys"][0]["label"], "a-much-longer-label");
  EXPECT_EQ(list["keys"][1]["label"], "b");
  EXPECT_EQ(list["keys"][1]["purpose"], "ca");
  EXPECT_TRUE(list["keys"][0]["protection"].is_null());  // ListKeys leaves it out
}

TEST_F(CliTest, GlobalOptionsMayFollowTheSubcommand) {
  CliResult r = RunKeyhold(*dir_, {"key", "list", "--json", "--socket", agent_->socket_path()});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(nlohmann::json::parse(r.out)["keys"].size(), 0u);
}

TEST_F(CliTest, SocketComesFromTheEnvironment) {
  CliResult r = RunKeyhold(*dir_, {"status"}, {{"KEYHOLD_SOCKET", agent_->socket_path()}});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
}

TEST_F(CliTest, ShowPrintsAPublicKeyOpensslAccepts) {
  Generate("k", "ec-p384", "tls-client");
  CliResult shown = Run({"key", "show", "k"});
  ASSERT_EQ(shown.exit_code, 0) << Describe(shown);
  EXPECT_THAT(shown.out, HasSubstr("tls-client"));
  EXPECT_THAT(shown.out, HasSubstr("pkcs11:"));
  EXPECT_THAT(shown.out, ::testing::ContainsRegex("never extractable: +yes"));
  EXPECT_THAT(shown.out, ::testing::ContainsRegex("certificate: +none"));

  const std::string pub = WritePublicKey("k");
  ASSERT_OK_AND_ASSIGN(CommandResult openssl,
                       RunOpenssl({"pkey", "-pubin", "-in", pub, "-noout", "-text"}));
  EXPECT_EQ(openssl.exit_code, 0) << openssl.output;
  EXPECT_THAT(openssl.output, HasSubstr("P-384"));
}

TEST_F(CliTest, DeleteNeedsYes) {
  Generate("k", "ec-p256", "sign");
  CliResult refused = Run({"key", "delete", "k"});
  EXPECT_EQ(refused.exit_code, 2) << Describe(refused);
  EXPECT_THAT(refused.err, StartsWith("keyhold: "));
  EXPECT_THAT(refused.err, HasSubstr("--yes"));
  EXPECT_EQ(Run({"key", "show", "k"}).exit_code, 0) << "deleted without --yes";

  CliResult deleted = Run({"key", "delete", "k", "--yes"});
  EXPECT_EQ(deleted.exit_code, 0) << Describe(deleted);
  EXPECT_EQ(Run({"key", "show", "k"}).exit_code, 3);
}

TEST_F(CliTest, UnknownKeyIsExitThree) {
  const std::string data = WriteData("data", "payload");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"key", "show", "nope"},
           {"key", "delete", "nope", "--yes"},
           {"cert", "show", "nope"},
           {"sign", "nope", "--in", data, "--out", dir_->File("sig")},
       }) {
    CliResult r = Run(args);
    EXPECT_EQ(r.exit_code, 3) << args[0] << " " << args[1] << "\n" << Describe(r);
    EXPECT_THAT(r.err, StartsWith("keyhold: "));
    EXPECT_THAT(r.err, HasSubstr("nope"));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST_F(CliTest, EcSignatureVerifiesWithOpenssl) {
  Generate("signer", "ec-p256", "sign");
  const std::string pub = WritePublicKey("signer");
  const std::string data = WriteData("data", std::string(200000, 'x') + "end");  // > one chunk
  const std::string sig = dir_->File("data.sig");
  for (const char* digest : {"sha256", "sha384", "sha512"}) {
    SCOPED_TRACE(digest);
    CliResult r = Run({"sign", "signer", "--digest", digest, "--in", data, "--out", sig});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    ASSERT_OK_AND_ASSIGN(CommandResult verify,
                         RunOpenssl({"dgst", absl::StrCat("-", digest), "-verify", pub,
                                     "-signature", sig, data}));
    EXPECT_EQ(verify.exit_code, 0) << verify.output;
    EXPECT_THAT(verify.output, HasSubstr("Verified OK"));
  }
  // And a signature over other data does not verify.
  const std::string other = WriteData("other", "other");
  ASSERT_OK_AND_ASSIGN(CommandResult wrong,
                       RunOpenssl({"dgst", "-sha512", "-verify", pub, "-signature", sig, other}));
  EXPECT_NE(wrong.exit_code, 0);
}

TEST_F(CliTest, RsaSignaturesVerifyWithOpenssl) {
  Generate("rsa", "rsa-2048", "sign");
  const std::string pub = WritePublicKey("rsa");
  const std::string data = WriteData("data", "payload to sign");
  const std::string sig = dir_->File("data.sig");

  CliResult pkcs1 = Run({"sign", "rsa", "--digest", "sha256", "--in", data, "--out", sig});
  ASSERT_EQ(pkcs1.exit_code, 0) << Describe(pkcs1);
  ASSERT_OK_AND_ASSIGN(CommandResult verify,
                       RunOpenssl({"dgst", "-sha256", "-verify", pub, "-signature", sig, data}));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;

  CliResult pss = Run({"sign", "rsa", "--digest", "sha256", "--pss", "--in", data, "--out", sig});
  ASSERT_EQ(pss.exit_code, 0) << Describe(pss);
  ASSERT_OK_AND_ASSIGN(CommandResult verify_pss,
                       RunOpenssl({"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-verify",
                                   pub, "-signature", sig, data}));
  EXPECT_EQ(verify_pss.exit_code, 0) << verify_pss.output;
}

TEST_F(CliTest, SignJsonDescribesTheSignature) {
  Generate("signer", "ec-p256", "sign");
  const std::string data = WriteData("data", "payload");
  const std::string sig = dir_->File("sig");
  nlohmann::json out = RunJson({"sign", "signer", "--in", data, "--out", sig});
  EXPECT_EQ(out["label"], "signer");
  EXPECT_EQ(out["scheme"], "ecdsa");
  EXPECT_EQ(out["digest_algorithm"], "sha256");
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>("payload"), 7, digest);
  EXPECT_EQ(out["digest"], absl::BytesToHexString(absl::string_view(
                               reinterpret_cast<const char*>(digest), sizeof(digest))));
  EXPECT_EQ(out["signature_file"], sig);
  EXPECT_EQ(out["signature_bytes"].get<size_t>(), ReadWholeFile(sig).size());
}

TEST_F(CliTest, Ed25519SignsTheWholeFile) {
  Generate("ed", "ed25519", "sign");
  const std::string pub = WritePublicKey("ed");
  const std::string data = WriteData("data", "a message for PureEdDSA");
  const std::string sig = dir_->File("sig");
  CliResult r = Run({"sign", "ed", "--in", data, "--out", sig});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(ReadWholeFile(sig).size(), 64u);
  ASSERT_OK_AND_ASSIGN(CommandResult verify,
                       RunOpenssl({"pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in",
                                   data, "-sigfile", sig}));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;

  const std::string big = WriteData("big", std::string(64 * 1024 + 1, 'x'));
  CliResult too_big = Run({"sign", "ed", "--in", big, "--out", sig});
  EXPECT_EQ(too_big.exit_code, 1) << Describe(too_big);
  EXPECT_THAT(too_big.err, HasSubstr("larger than 65536 bytes"));
}

TEST_F(CliTest, PssOnAnEcKeyIsUsage) {
  Generate("signer", "ec-p256", "sign");
  const std::string data = WriteData("data", "payload");
  CliResult r = Run({"sign", "signer", "--pss", "--in", data, "--out", dir_->File("sig")});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("--pss"));
}

TEST_F(CliTest, CaKeyRefusesRawSigningWithExitFour) {
  Generate("root", "ec-p256", "ca");
  const std::string data = WriteData("data", "payload");
  const std::string sig = dir_->File("sig");
  CliResult r = Run({"sign", "root", "--in", data, "--out", sig});
  EXPECT_EQ(r.exit_code, 4) << Describe(r);
  EXPECT_THAT(r.err, StartsWith("keyhold: "));
  EXPECT_THAT(r.err, HasSubstr("CA key"));
  EXPECT_FALSE(std::filesystem::exists(sig));
}

TEST_F(CliTest, RequestLargerThanTheAgentTakesIsRefusedBeforeSending) {
  const std::string too_big = WriteData("too-big", std::string(300 * 1024, 'x'));
  CliResult file = Run({"request", "https://localhost:1/", "--key", "k", "-d", "@" + too_big});
  EXPECT_NE(file.exit_code, 0) << Describe(file);
  EXPECT_THAT(file.err, HasSubstr("is larger than"));
  // Under the limit alone, over it with the headers.
  const std::string body = WriteData("body", std::string(250 * 1024, 'x'));
  CliResult whole = Run({"request", "https://localhost:1/", "--key", "k", "-d", "@" + body, "-H",
                         "X-Pad: " + std::string(10 * 1024, 'p')});
  EXPECT_NE(whole.exit_code, 0) << Describe(whole);
  EXPECT_THAT(whole.err, HasSubstr("the agent takes at most 256 KiB per call"));
  EXPECT_EQ(agent_->ReadAuditLog().find("TlsService.Request"), std::string::npos);
}

TEST_F(CliTest, StoppedAgentIsExitFiveWithCannotReach) {
  ASSERT_OK_AND_ASSIGN(int code, agent_->Stop());
  ASSERT_EQ(code, 0);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"status"}, {"key", "list", "--json"}}) {
    CliResult r = Run(args);
    EXPECT_EQ(r.exit_code, 5) << Describe(r);
    EXPECT_THAT(r.err, StartsWith(absl::StrCat("keyhold: cannot reach the agent at ",
                                               agent_->socket_path(), ": ")));
    EXPECT_THAT(r.err, HasSubstr("(is keyholdd running?)"));
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST_F(CliTest, RefusedConnectionIsExitFive) {
  // A socket file nobody listens on, as a killed agent leaves behind.
  const std::string stale = dir_->File("stale.sock");
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, stale.c_str(), sizeof(address.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    close(fd);
  }
  CliResult r = RunKeyhold(*dir_, {"--socket", stale, "status"});
  EXPECT_EQ(r.exit_code, 5) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("Connection refused"));
  EXPECT_THAT(r.err, HasSubstr("(is keyholdd running?)"));
}

TEST(CliUsageTest, UsageErrorsAreExitTwoOnOneLine) {
  ASSERT_OK_AND_ASSIGN(TempDirectory dir, TempDirectory::Create());
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"key"},
           {"key", "generate", "k"},
           {"key", "frobnicate"},
           {"--no-such-flag", "status"},
           {"sign", "k", "--in", "/nonexistent", "--out", "x"},
           {"--socket", "", "status"},
           {"--socket", std::string(200, 's'), "status"},
       }) {
    CliResult r = RunKeyhold(dir, args);
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_THAT(r.err, StartsWith("keyhold: "));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(CliUsageTest, HelpAndVersionExitZero) {
  ASSERT_OK_AND_ASSIGN(TempDirectory dir, TempDirectory::Create());
  CliResult help = RunKeyhold(dir, {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--socket"));
  CliResult version = RunKeyhold(dir, {"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_FALSE(version.out.empty());
}


}  // namespace
}  // namespace keyhold
