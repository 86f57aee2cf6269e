// keyholdd as a real process on a temp socket with a fresh SoftHSM2 token:
// every RPC, bad input, policy, lifecycle and concurrency.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/health_check_service_interface.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "keyhold/v1/agent_service.grpc.pb.h"
#include "keyhold/v1/key_service.grpc.pb.h"
#include "tests/integration/agent_process.h"
#include "tests/status_matchers.h"
#include "tokens/openssl_ptr.h"

namespace keyhold {
namespace {

namespace v1 = ::keyhold::v1;
using ::keyhold::testing::AgentOptions;
using ::keyhold::testing::AgentProcess;
using ::testing::HasSubstr;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return ctx;
}

EvpPkeyPtr ParsePublicKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return EvpPkeyPtr(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
}

std::string Sha256(const std::string& data) {
  unsigned char out[32];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

bool VerifyDigest(EVP_PKEY* pub, const std::string& digest, const std::string& sig) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pub, nullptr));
  return EVP_PKEY_verify_init(ctx.get()) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
         EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                         sig.size(), reinterpret_cast<const unsigned char*>(digest.data()),
                         digest.size()) == 1;
}

class AgentTest : public ::testing::Test {
 protected:
  void Start(AgentOptions options = {}) {
    ASSERT_OK_AND_ASSIGN(agent_, AgentProcess::Start(std::move(options)));
    keys_ = v1::KeyService::NewStub(agent_->Channel());
    status_ = v1::AgentService::NewStub(agent_->Channel());
  }
  void SetUp() override {
    AgentOptions options;
    options.extra_config =
        "[[key]]\nlabel = \"signer\"\npurpose = \"sign\"\n"
        "[[key]]\nlabel = \"tls\"\npurpose = \"tls-client\"\n";
    Start(std::move(options));
  }

  grpc::Status Generate(const std::string& label, v1::KeyType type, v1::KeyPurpose purpose,
                        v1::Key* out = nullptr) {
    v1::GenerateKeyRequest req;
    req.set_label(label);
    req.set_type(type);
    req.set_purpose(purpose);
    v1::Key key;
    return keys_->GenerateKey(Ctx().get(), req, out != nullptr ? out : &key);
  }

  grpc::Status SignDigest(const std::string& label, const std::string& digest, std::string* sig) {
    v1::SignRequest req;
    req.mutable_key()->set_label(label);
    req.set_digest_algorithm(v1::DIGEST_ALGORITHM_SHA256);
    req.set_digest(digest);
    v1::SignResponse resp;
    grpc::Status s = keys_->Sign(Ctx().get(), req, &resp);
    if (sig != nullptr) *sig = resp.signature();
    return s;
  }

  void ExpectHealthy() {
    v1::StatusResponse resp;
    EXPECT_TRUE(status_->Status(Ctx().get(), {}, &resp).ok()) << "agent unhealthy";
  }

  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<v1::KeyService::Stub> keys_;
  std::unique_ptr<v1::AgentService::Stub> status_;
};

TEST_F(AgentTest, StatusReportsTokenAndVersion) {
  v1::StatusResponse resp;
  ASSERT_TRUE(status_->Status(Ctx().get(), {}, &resp).ok());
  EXPECT_FALSE(resp.version().empty());
  EXPECT_EQ(resp.token().label(), "keyhold-agent");
  EXPECT_TRUE(resp.token().logged_in());
  EXPECT_THAT(resp.token().mechanisms(), ::testing::Contains("CKM_ECDSA"));
  EXPECT_EQ(resp.token().key_count(), 0u);
}

TEST_F(AgentTest, HealthServiceAnswersServing) {
  auto channel = agent_->Channel();
  grpc::GenericStub generic(channel);
  // Use the generated health stub through reflection-free raw call: the
  // standard service is grpc.health.v1.Health/Check with an empty service.
  grpc::ByteBuffer request;  // empty HealthCheckRequest
  grpc::Slice empty("", 0);
  request = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer response;
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto call = generic.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
}

TEST_F(AgentTest, GeneratesListsShowsAndDeletesKeys) {
  v1::Key made;
  ASSERT_TRUE(Generate("app-key", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN, &made).ok());
  EXPECT_EQ(made.id().size(), 16u);
  EXPECT_EQ(made.purpose(), v1::KEY_PURPOSE_SIGN);
  EXPECT_TRUE(made.protection().sensitive());
  EXPECT_FALSE(made.protection().extractable());
  EXPECT_NE(ParsePublicKey(made.public_key_pem()), nullptr);

  v1::ListKeysResponse list;
  ASSERT_TRUE(keys_->ListKeys(Ctx().get(), {}, &list).ok());
  ASSERT_EQ(list.keys_size(), 1);
  EXPECT_EQ(list.keys(0).label(), "app-key");

  v1::GetKeyRequest get;
  get.mutable_key()->set_id(made.id());
  v1::Key shown;
  ASSERT_TRUE(keys_->GetKey(Ctx().get(), get, &shown).ok());
  EXPECT_EQ(shown.label(), "app-key");
  EXPECT_TRUE(shown.protection().never_extractable());

  v1::DeleteKeyRequest del;
  del.mutable_key()->set_label("app-key");
  v1::DeleteKeyResponse deleted;
  ASSERT_TRUE(keys_->DeleteKey(Ctx().get(), del, &deleted).ok());
  EXPECT_EQ(keys_->GetKey(Ctx().get(), get, &shown).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(AgentTest, BadInputGetsTheDocumentedStatusAndTheAgentStaysHealthy) {
  EXPECT_EQ(Generate("", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Generate("x", v1::KEY_TYPE_UNSPECIFIED, v1::KEY_PURPOSE_SIGN).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Generate("x", static_cast<v1::KeyType>(99), v1::KEY_PURPOSE_SIGN).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Generate("x", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_UNSPECIFIED).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Generate(std::string(10000, 'a'), v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Generate("bad/label", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Oversize message: refused by the transport before any handler runs.
  EXPECT_EQ(Generate(std::string(300 * 1024, 'a'), v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN)
                .error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(Generate("k", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN).ok());
  EXPECT_EQ(Generate("k", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  v1::ImportCertificateRequest imp;
  imp.mutable_key()->set_label("k");
  imp.set_certificate("this is not a certificate");
  v1::Key out;
  grpc::Status s = keys_->ImportCertificate(Ctx().get(), imp, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("certificate"));
  imp.set_certificate(std::string(100 * 1024, '\x30'));
  EXPECT_EQ(keys_->ImportCertificate(Ctx().get(), imp, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::SignRequest sign;
  sign.mutable_key()->set_label("k");
  sign.set_digest_algorithm(v1::DIGEST_ALGORITHM_SHA256);
  sign.set_digest("short");
  v1::SignResponse sig;
  grpc::Status short_digest = keys_->Sign(Ctx().get(), sign, &sig);
  EXPECT_EQ(short_digest.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(short_digest.error_message(), HasSubstr("32 bytes"));
  sign.set_digest(std::string(70 * 1024, 'x'));
  EXPECT_EQ(keys_->Sign(Ctx().get(), sign, &sig).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  sign.clear_key();
  EXPECT_EQ(keys_->Sign(Ctx().get(), sign, &sig).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ExpectHealthy();
}

TEST_F(AgentTest, CertificateForAnotherKeyIsRefused) {
  ASSERT_TRUE(Generate("k", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN).ok());
  EvpPkeyPtr other(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), other.get());
  X509_sign(cert.get(), other.get(), EVP_sha256());
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  v1::ImportCertificateRequest imp;
  imp.mutable_key()->set_label("k");
  imp.set_certificate(std::string(reinterpret_cast<char*>(der), len));
  OPENSSL_free(der);
  v1::Key out;
  grpc::Status s = keys_->ImportCertificate(Ctx().get(), imp, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("not the public key"));
}

TEST_F(AgentTest, SignKeySignaturesVerify) {
  v1::Key key;
  ASSERT_TRUE(Generate("signer", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN, &key).ok());
  const std::string digest = Sha256("payload");
  std::string sig;
  ASSERT_TRUE(SignDigest("signer", digest, &sig).ok());
  EvpPkeyPtr pub = ParsePublicKey(key.public_key_pem());
  EXPECT_TRUE(VerifyDigest(pub.get(), digest, sig));
  EXPECT_FALSE(VerifyDigest(pub.get(), Sha256("other"), sig));
  EXPECT_THAT(agent_->ReadAuditLog(), HasSubstr("\"op\":\"KeyService.Sign\""));
}

TEST_F(AgentTest, CaKeyNeverSignsRawDigests) {
  ASSERT_TRUE(Generate("root", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_CA).ok());
  grpc::Status s = SignDigest("root", Sha256("x"), nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("CA key"));
  EXPECT_THAT(agent_->ReadAuditLog(), HasSubstr("\"result\":\"denied\""));
}

TEST_F(AgentTest, TlsClientKeySignsRawOnlyWhenAllowed) {
  ASSERT_TRUE(Generate("tls", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_UNSPECIFIED).ok());
  EXPECT_EQ(SignDigest("tls", Sha256("x"), nullptr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AgentTest, ConfigPurposeCannotBeOverridden) {
  grpc::Status s = Generate("signer", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_CA);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("purpose sign"));
}

TEST_F(AgentTest, SocketIsMode0660) {
  struct stat st {};
  ASSERT_EQ(stat(agent_->socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660);
}

TEST_F(AgentTest, SigtermDrainsRemovesTheSocketAndRestartKeepsKeys) {
  ASSERT_TRUE(Generate("durable", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN).ok());
  ASSERT_OK_AND_ASSIGN(int code, agent_->Stop());
  EXPECT_EQ(code, 0);
  EXPECT_FALSE(std::filesystem::exists(agent_->socket_path()));
  ASSERT_THAT(agent_->Restart(), ::keyhold::testing::IsOk());
  keys_ = v1::KeyService::NewStub(agent_->Channel());
  v1::GetKeyRequest get;
  get.mutable_key()->set_label("durable");
  v1::Key key;
  ASSERT_TRUE(keys_->GetKey(Ctx().get(), get, &key).ok());
  EXPECT_EQ(key.purpose(), v1::KEY_PURPOSE_SIGN);  // the catalog survived too
}

TEST_F(AgentTest, ThirtyTwoClientsSignConcurrently) {
  v1::Key key;
  ASSERT_TRUE(Generate("signer", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN, &key).ok());
  EvpPkeyPtr pub = ParsePublicKey(key.public_key_pem());
  std::atomic<int> errors{0};
  std::atomic<int> verified{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 32; ++c) {
    clients.emplace_back([&, c] {
      // Each client its own connection.
      grpc::ChannelArguments args;
      args.SetInt("grpc.use_local_subchannel_pool", 1);
      auto channel = grpc::CreateCustomChannel("unix:" + agent_->socket_path(),
                                               grpc::InsecureChannelCredentials(), args);
      auto stub = v1::KeyService::NewStub(channel);
      for (int i = 0; i < 500; ++i) {
        v1::SignRequest req;
        req.mutable_key()->set_label("signer");
        req.set_digest_algorithm(v1::DIGEST_ALGORITHM_SHA256);
        const std::string digest = Sha256(std::to_string(c * 1000 + i));
        req.set_digest(digest);
        v1::SignResponse resp;
        if (!stub->Sign(Ctx().get(), req, &resp).ok() ||
            !VerifyDigest(pub.get(), digest, resp.signature())) {
          ++errors;
        } else {
          ++verified;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(verified.load(), 32 * 500);
  ExpectHealthy();
}

// A slow token (a network HSM, or one that hangs) must not take the agent's
// gRPC threads with it (ADR 0006): while Signs wait on the token, calls
// that need no signature still answer at once.
class SlowTokenTest : public AgentTest {
 protected:
  void SetUp() override {
    delay_file_ = absl::StrCat(::testing::TempDir(), "/keyhold-sign-delay-", getpid());
    std::filesystem::remove(delay_file_);
    // Inherited by keyholdd, read by the module on every C_Sign.
    setenv("KEYHOLD_TEST_SIGN_DELAY_FILE", delay_file_.c_str(), 1);
    AgentOptions options;
    options.module = KEYHOLD_SLOW_TOKEN_MODULE;
    options.extra_config = "[[key]]\nlabel = \"signer\"\npurpose = \"sign\"\n";
    Start(std::move(options));
  }
  void TearDown() override {
    unsetenv("KEYHOLD_TEST_SIGN_DELAY_FILE");
    std::filesystem::remove(delay_file_);
  }
  void SetSignDelay(int millis) { std::ofstream(delay_file_) << millis << "\n"; }

  std::string delay_file_;
};

TEST_F(SlowTokenTest, SignaturesWaitingOnTheTokenDoNotStallOtherCalls) {
  v1::Key key;
  ASSERT_TRUE(Generate("signer", v1::KEY_TYPE_EC_P256, v1::KEY_PURPOSE_SIGN, &key).ok());
  EvpPkeyPtr pub = ParsePublicKey(key.public_key_pem());
  ASSERT_NE(pub, nullptr);
  const std::string digest = Sha256("slow token");
  // Fast at first: the agent learns that this key signs quickly, and signs
  // with it on the gRPC thread that read the request.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(SignDigest("signer", digest, nullptr).ok());

  // Then the token turns slow, under more concurrent Signs than gRPC has
  // callback threads.
  constexpr int kSlowMillis = 3000;
  constexpr int kSlowCalls = 20;  // gRPC 1.51 has at most 16 callback threads
  SetSignDelay(kSlowMillis);
  const absl::Time start = absl::Now();
  std::atomic<int> verified{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < kSlowCalls; ++i) {
    slow.emplace_back([&] {
      std::string sig;
      if (SignDigest("signer", digest, &sig).ok() && VerifyDigest(pub.get(), digest, sig)) {
        verified.fetch_add(1);
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(300));  // all of them at the token by now

  // A Sign that fails before any signature (a callback handler, like the
  // TLS tunnels) and a sync call both answer while the others wait.
  const absl::Time probe = absl::Now();
  EXPECT_EQ(SignDigest("absent", digest, nullptr).error_code(), grpc::StatusCode::NOT_FOUND);
  ExpectHealthy();
  EXPECT_LT(absl::Now() - probe, absl::Milliseconds(kSlowMillis / 2));

  for (std::thread& t : slow) t.join();
  EXPECT_EQ(verified.load(), kSlowCalls);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(kSlowMillis)) << "the delay did not apply";

  // Fast again: signatures still work (now on workers until the agent's
  // estimate of this key comes back down, which it cannot see from here).
  SetSignDelay(0);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(SignDigest("signer", digest, nullptr).ok());
  ExpectHealthy();
}

TEST(AgentSocketActivationTest, ServesOnTheSocketSystemdPasses) {
  if (access("/usr/bin/systemd-socket-activate", X_OK) != 0) {
    GTEST_SKIP() << "systemd-socket-activate missing";
  }
  AgentOptions options;
  options.socket_activation = true;
  ASSERT_OK_AND_ASSIGN(auto agent, AgentProcess::Start(std::move(options)));
  auto keys = v1::KeyService::NewStub(agent->Channel());
  v1::GenerateKeyRequest req;
  req.set_label("activated");
  req.set_type(v1::KEY_TYPE_EC_P256);
  req.set_purpose(v1::KEY_PURPOSE_SIGN);
  v1::Key key;
  EXPECT_TRUE(keys->GenerateKey(Ctx().get(), req, &key).ok());
  EXPECT_THAT(agent->ReadAgentLog(), HasSubstr("socket(s) from systemd"));
  ASSERT_OK_AND_ASSIGN(int code, agent->Stop());
  EXPECT_EQ(code, 0);
}

TEST(AgentConfigTest, ConfigErrorNamesTheLineAndTheAgentRefusesToStart) {
  AgentOptions options;
  options.extra_config = "[[key]]\nlabel = \"x\"\npurpose = \"bogus\"\n";
  auto result = AgentProcess::Start(std::move(options));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("bogus"));
  EXPECT_THAT(std::string(result.status().message()), ::testing::ContainsRegex(":[0-9]+"));
}

}  // namespace
}  // namespace keyhold
