#include "tests/integration/ca/ca_fixture.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/cli/cli_fixture.h"

namespace keyhold::testing {

namespace {

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<CommandResult> RunProgram(const std::vector<std::string>& args) {
  if (args.empty()) return absl::InvalidArgumentError("RunProgram: no program");
  // Built before fork: the child may only make async-signal-safe calls.
  std::vector<std::string> storage = args;
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  const int null_input = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_input < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return ErrnoError("open /dev/null");
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::dup2(null_input, STDIN_FILENO) < 0 || ::dup2(fds[1], STDOUT_FILENO) < 0 ||
        ::dup2(fds[1], STDERR_FILENO) < 0) {
      ::_exit(126);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(null_input);
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    return ErrnoError("fork");
  }
  CommandResult result;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      result.output.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError("waitpid");
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string Describe(const CommandResult& result) {
  return absl::StrCat("exit ", result.exit_code, ", output:\n", result.output);
}

absl::StatusOr<CaAgent> CaAgent::Start(AgentOptions options) {
  CaAgent agent;
  absl::StatusOr<std::unique_ptr<AgentProcess>> process = AgentProcess::Start(std::move(options));
  if (!process.ok()) return process.status();
  agent.process = *std::move(process);
  if (absl::Status s = agent.Reconnect(); !s.ok()) return s;
  return agent;
}

absl::Status CaAgent::Reconnect() {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> connected =
      client::AgentClient::Connect(process->socket_path());
  if (!connected.ok()) return connected.status();
  client = *std::move(connected);
  return absl::OkStatus();
}

absl::Status CaAgent::Restart() {
  client.reset();
  if (absl::Status s = process->Restart(); !s.ok()) return s;
  return Reconnect();
}

v1::InitCaRequest InitCaRequest(const std::string& label, v1::KeyType type,
                                const std::string& subject, const std::string& parent) {
  v1::InitCaRequest request;
  request.set_label(label);
  request.set_generate(type);
  request.set_subject(subject);
  request.set_parent(parent);
  return request;
}

v1::SignCsrRequest SignRequest(const std::string& ca, const std::string& profile,
                               const std::string& csr) {
  v1::SignCsrRequest request;
  request.set_ca(ca);
  request.set_profile(profile);
  request.set_csr(csr);
  return request;
}

absl::StatusOr<std::string> CsrForNewTokenKey(client::AgentClient& client, const std::string& label,
                                              v1::KeyType type, v1::KeyPurpose purpose,
                                              const std::string& subject,
                                              const std::vector<std::string>& sans) {
  absl::StatusOr<v1::Key> key = client.GenerateKey(label, type, purpose);
  if (!key.ok()) return key.status();
  v1::CreateCsrRequest request;
  request.mutable_key()->set_label(label);
  request.set_subject(subject);
  for (const std::string& san : sans) request.add_subject_alt_names(san);
  absl::StatusOr<v1::CreateCsrResponse> csr = client.CreateCsr(request);
  if (!csr.ok()) return csr.status();
  return csr->csr_pem();
}

absl::StatusOr<std::string> OpensslCsr(const TempDirectory& dir, const std::string& key_spec,
                                       const std::string& subject,
                                       const std::vector<std::string>& extra_args) {
  static std::atomic<int> counter{0};
  const int n = ++counter;
  const std::string key_path = dir.File(absl::StrCat("file-key-", n, ".pem"));
  const std::string csr_path = dir.File(absl::StrCat("file-key-", n, ".csr"));
  std::vector<std::string> args = {"req",  "-new",   "-nodes", "-keyout", key_path,
                                   "-out", csr_path, "-subj",  subject};
  if (absl::StartsWith(key_spec, "ec:")) {
    args.insert(args.end(), {"-newkey", "ec", "-pkeyopt",
                             absl::StrCat("ec_paramgen_curve:", key_spec.substr(3))});
  } else {
    args.insert(args.end(), {"-newkey", key_spec});
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<CommandResult> made = RunOpenssl(args);
  if (!made.ok()) return made.status();
  if (made->exit_code != 0) {
    return absl::InternalError(absl::StrCat("openssl req failed: ", Describe(*made)));
  }
  return ReadWholeFile(csr_path);
}

absl::StatusOr<size_t> CertificateCount(client::AgentClient& client, const std::string& ca) {
  v1::ListCertificatesRequest request;
  request.set_ca(ca);
  absl::StatusOr<v1::ListCertificatesResponse> list = client.ListCertificates(request);
  if (!list.ok()) return list.status();
  return static_cast<size_t>(list->certificates_size());
}

absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError("BIO_new_mem_buf");
  std::vector<X509Ptr> out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(cert);
  }
  ERR_clear_error();  // the read that ends the loop leaves "no start line"
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat("no certificate in: ", pem));
  return out;
}

absl::StatusOr<X509CrlPtr> ParseCrl(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError("BIO_new_mem_buf");
  X509CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) return absl::InvalidArgumentError(absl::StrCat("not a PEM CRL: ", pem));
  return crl;
}

std::string SerialHex(const X509* certificate) {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr));
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()));
  return absl::AsciiStrToUpper(absl::BytesToHexString(bytes));
}

absl::StatusOr<nlohmann::json> DescribeWithPython(const std::string& cert_path,
                                                  const std::string& issuer_path) {
  absl::StatusOr<CommandResult> run =
      RunProgram({kPythonBinary, absl::StrCat(CA_TEST_SOURCE_DIR, "/describe_certificate.py"),
                  cert_path, issuer_path});
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return absl::InternalError(absl::StrCat("describe_certificate.py: ", Describe(*run)));
  }
  nlohmann::json parsed = nlohmann::json::parse(run->output, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InternalError(absl::StrCat("describe_certificate.py printed: ", run->output));
  }
  return parsed;
}

absl::StatusOr<CommandResult> RunSqlite(const std::string& db, const std::string& sql) {
  return RunProgram({kSqliteBinary, db, sql});
}

}  // namespace keyhold::testing
