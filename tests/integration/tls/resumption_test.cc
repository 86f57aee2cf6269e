// Session resumption per (key, target) against `openssl s_server -Verify 1
// -www`, whose page says "New" or "Reused" from the server's side.
//
// "A resumed connection makes no token signature" is shown without a
// counter in the token: after a full and a resumed request, the key is
// destroyed on the token behind the agent's back (this process opens the
// token itself). A further resumed request still succeeds, so it needed
// no signature; a full handshake with the same key then fails, which
// shows the agent really could not have signed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/agent_client.h"
#include "tests/integration/cli/cli_fixture.h"
#include "tests/integration/tls/peer_process.h"
#include "tests/integration/tls/tls_pki.h"
#include "tests/status_matchers.h"
#include "tokens/token.h"

namespace keyhold::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A PKI per test: each destroys keys.
class ResumptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(pki_, TlsPki::Create());
    // Resumption allowed: TLS 1.3 tickets, TLS 1.2 tickets and session ids.
    ASSERT_OK_AND_ASSIGN(
        server_,
        StartOpensslServer({"-cert", pki_->File("server.pem"), "-key", pki_->File("server.key"),
                            "-CAfile", pki_->File("root.pem"), "-Verify", "1", "-www"},
                           pki_->File("s_server.log")));
  }

  CliResult Request(const std::string& key, const std::string& min, const std::string& max) {
    return pki_->Keyhold({"request", absl::StrCat("https://localhost:", server_->port(), "/"),
                          "--key", key, "--cacert", pki_->File("root.pem"), "--tls-min", min,
                          "--tls-max", max, "-v"});
  }

  // Destroys the key (and its certificate) on the token through a session
  // of this process; the agent keeps its own handle to the key.
  absl::Status DestroyKeyBehindAgentsBack(const std::string& label) {
    absl::StatusOr<std::unique_ptr<Token>> token =
        Token::Open(pki_->agent.process->token().config());
    if (!token.ok()) return token.status();
    absl::StatusOr<KeyInfo> key = (*token)->FindKeyByLabel(label);
    if (!key.ok()) return key.status();
    return (*token)->DeleteKey(*key);
  }

  // Full, then resumed, then (key destroyed) resumed again, then a full
  // handshake that must fail.
  void CheckResumptionSignsNothing(const std::string& key, const std::string& version,
                                   const std::string& other_version) {
    const std::string protocol = absl::StrCat("TLSv", version);
    CliResult first = Request(key, version, version);
    ASSERT_EQ(first.exit_code, 0) << Describe(first);
    EXPECT_THAT(first.err, HasSubstr(absl::StrCat(protocol, ", cipher ")));
    EXPECT_THAT(first.err, HasSubstr("full handshake"));
    EXPECT_THAT(first.out, HasSubstr(absl::StrCat("New, ", protocol)));

    CliResult second = Request(key, version, version);
    ASSERT_EQ(second.exit_code, 0) << Describe(second);
    EXPECT_THAT(second.err, HasSubstr("session resumed"));
    EXPECT_THAT(second.out, HasSubstr(absl::StrCat("Reused, ", protocol)));
    EXPECT_THAT(pki_->agent.process->ReadAuditLog(), HasSubstr("resumed=yes"));

    ASSERT_THAT(DestroyKeyBehindAgentsBack(key), IsOk());
    CliResult third = Request(key, version, version);
    EXPECT_EQ(third.exit_code, 0) << "a resumed handshake needed the key: " << Describe(third);
    EXPECT_THAT(third.err, HasSubstr("session resumed"));
    EXPECT_THAT(third.out, HasSubstr(absl::StrCat("Reused, ", protocol)));

    // The other version is another client context with no session: a full
    // handshake, which needs the destroyed key.
    CliResult control = Request(key, other_version, other_version);
    EXPECT_NE(control.exit_code, 0)
        << "a full handshake worked without the key: " << Describe(control);
    EXPECT_THAT(control.out, Not(HasSubstr("New, ")));
    EXPECT_THAT(control.err, HasSubstr("signer failed"));
    EXPECT_THAT(control.err, HasSubstr("private key is no longer on token"));
  }

  std::unique_ptr<TlsPki> pki_;
  std::unique_ptr<PeerProcess> server_;
};

TEST_F(ResumptionTest, Tls13TicketResumesAndTheTokenSignsNothing) {
  CheckResumptionSignsNothing("client", "1.3", "1.2");
}

TEST_F(ResumptionTest, Tls12SessionResumesAndTheTokenSignsNothing) {
  CheckResumptionSignsNothing("client2", "1.2", "1.3");
}

TEST_F(ResumptionTest, SessionsAreKeptPerKey) {
  // Another key to the same target does not get the first key's session.
  CliResult a = pki_->Keyhold({"request", absl::StrCat("https://localhost:", server_->port(), "/"),
                               "--key", "client", "--cacert", pki_->File("root.pem"), "-v"});
  ASSERT_EQ(a.exit_code, 0) << Describe(a);
  CliResult b = pki_->Keyhold({"request", absl::StrCat("https://localhost:", server_->port(), "/"),
                               "--key", "client2", "--cacert", pki_->File("root.pem"), "-v"});
  ASSERT_EQ(b.exit_code, 0) << Describe(b);
  EXPECT_THAT(b.err, HasSubstr("full handshake"));
  EXPECT_THAT(b.out, HasSubstr("New, "));
}

TEST_F(ResumptionTest, AReplacedKeyAndCertificateAreUsedAtOnce) {
  // The agent caches the key's signer and certificate, and keeps the
  // server's sessions for them.
  CliResult before = Request("client", "1.3", "1.3");
  ASSERT_EQ(before.exit_code, 0) << Describe(before);
  EXPECT_THAT(before.out, HasSubstr("id-ecPublicKey"));
  // Replaced through the agent: deleted, generated again under the same
  // label (now RSA), a new certificate stored next to it.
  ASSERT_THAT(pki_->agent.client->DeleteKey("client"), IsOk());
  ASSERT_THAT(pki_->IssueForTokenKey("client", v1::KEY_TYPE_RSA_2048), IsOk());
  CliResult after = Request("client", "1.3", "1.3");
  ASSERT_EQ(after.exit_code, 0) << Describe(after);
  // A full handshake with the new key and certificate; the old key's
  // session is not offered.
  EXPECT_THAT(after.err, HasSubstr("full handshake"));
  EXPECT_THAT(after.out, HasSubstr("New, TLSv1.3"));
  EXPECT_THAT(after.out, HasSubstr("rsaEncryption"));
  EXPECT_THAT(after.out, Not(HasSubstr("id-ecPublicKey")));
}

TEST_F(ResumptionTest, AChangeToAnotherKeyKeepsTheSession) {
  CliResult first = Request("client", "1.3", "1.3");
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  EXPECT_THAT(first.err, HasSubstr("full handshake"));
  // Any key change empties the agent's key caches; this one is to a key
  // the connection does not use.
  ASSERT_THAT(pki_->agent.client->GenerateKey("unrelated", v1::KEY_TYPE_EC_P256,
                                              v1::KEY_PURPOSE_SIGN),
              IsOk());
  CliResult second = Request("client", "1.3", "1.3");
  ASSERT_EQ(second.exit_code, 0) << Describe(second);
  EXPECT_THAT(second.err, HasSubstr("session resumed"));
  EXPECT_THAT(second.out, HasSubstr("Reused, TLSv1.3"));
}

TEST_F(ResumptionTest, Tls13TunnelsCancelledRightAfterTheHandshakeStillResume) {
  // The server's tickets follow its handshake; a client that cancels its
  // tunnel as soon as it is established (a proxied connection that ends
  // at once) must not leave the next connection without one. Without the
  // agent waiting for the ticket, every connection here is a full one.
  v1::TlsOptions options;
  options.set_target(absl::StrCat("localhost:", server_->port()));
  options.set_key("client");
  options.set_ca_bundle_pem(ReadWholeFile(pki_->File("root.pem")));
  options.set_min_version(v1::TLS_VERSION_1_3);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<client::AgentClient> agent,
                       client::AgentClient::Connect(pki_->agent.process->socket_path()));
  for (int i = 0; i < 6; ++i) {
    std::unique_ptr<client::AgentClient::ConnectStream> stream = agent->Connect();
    v1::ConnectRequest open;
    *open.mutable_open() = options;
    v1::ConnectResponse reply;
    ASSERT_TRUE(stream->Write(open));
    ASSERT_TRUE(stream->Read(&reply));
    ASSERT_TRUE(reply.has_established()) << "connection " << i;
    EXPECT_EQ(reply.established().protocol(), "TLSv1.3");
    // The first is a full handshake; every later one resumes with a ticket
    // the one before it got.
    EXPECT_EQ(reply.established().session_reused(), i > 0) << "connection " << i;
    stream->Cancel();
    while (stream->Read(&reply)) {
    }
    (void)stream->Finish();  // CANCELLED
    // The ticket is still on its way when the call ends; a connection
    // opened before it arrived would do a full handshake (see docs/tls.md).
    // The agent waits for it at most 250 ms: by 300 ms it is in or never
    // coming, also on a slow (sanitizer) build.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

}  // namespace
}  // namespace keyhold::testing
