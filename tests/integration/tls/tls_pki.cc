#include "tests/integration/tls/tls_pki.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace keyhold::testing {
namespace {

constexpr char kRootLabel[] = "root-ca";

}  // namespace

absl::StatusOr<std::unique_ptr<TlsPki>> TlsPki::Create(const std::string& extra_config) {
  AgentOptions options;
  options.extra_config = absl::StrCat(kTlsKeysConfig, "\n", extra_config);
  absl::StatusOr<CaAgent> agent = CaAgent::Start(std::move(options));
  if (!agent.ok()) return agent.status();
  absl::StatusOr<TempDirectory> dir = TempDirectory::Create();
  if (!dir.ok()) return dir.status();
  auto pki = std::unique_ptr<TlsPki>(new TlsPki{*std::move(agent), *std::move(dir)});

  absl::StatusOr<v1::CaCertificate> root = pki->agent.client->InitCa(InitCaRequest(
      kRootLabel, v1::KEY_TYPE_EC_P256, absl::StrCat(kExampleSubject, "/CN=Keyhold Test Root CA")));
  if (!root.ok()) return root.status();
  if (absl::Status s = WriteFile(pki->File("root.pem"), root->certificate_pem()); !s.ok()) {
    return s;
  }
  if (absl::Status s = pki->IssueForFileKey("server", "ec:P-256", "localhost", "server",
                                            {"DNS:localhost", "IP:127.0.0.1"});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = pki->IssueForFileKey("localhost-only", "ec:P-256", "localhost", "server",
                                            {"DNS:localhost"});
      !s.ok()) {
    return s;
  }
  for (const auto& [label, type] :
       {std::pair{"client", v1::KEY_TYPE_EC_P256}, std::pair{"client2", v1::KEY_TYPE_RSA_2048},
        std::pair{"fenced", v1::KEY_TYPE_EC_P256}}) {
    if (absl::Status s = pki->IssueForTokenKey(label, type); !s.ok()) return s;
  }
  absl::StatusOr<CommandResult> other =
      RunOpenssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", pki->File("other-root.key"), "-out", pki->File("other-root.pem"),
                  "-subj", absl::StrCat(kExampleSubject, "/CN=Unrelated Root CA"), "-days", "2"});
  if (!other.ok()) return other.status();
  if (other->exit_code != 0) {
    return absl::InternalError(absl::StrCat("openssl req -x509: ", Describe(*other)));
  }
  return pki;
}

ServerFiles TlsPki::Server() const {
  return ServerFiles{File("server.pem"), File("server.key"), File("root.pem")};
}

absl::Status TlsPki::IssueForTokenKey(const std::string& label, v1::KeyType type) {
  client::AgentClient& client = *agent.client;
  absl::StatusOr<std::string> csr =
      CsrForNewTokenKey(client, label, type, v1::KEY_PURPOSE_TLS_CLIENT,
                        absl::StrCat(kExampleSubject, "/CN=", label));
  if (!csr.ok()) return csr.status();
  absl::StatusOr<v1::SignCsrResponse> issued =
      client.SignCsr(SignRequest(kRootLabel, "client", *csr));
  if (!issued.ok()) return issued.status();
  absl::StatusOr<v1::Key> stored = client.ImportCertificate(label, issued->certificate_pem());
  if (!stored.ok()) return stored.status();
  return WriteFile(File(label + ".pem"), issued->certificate_pem());
}

CliResult TlsPki::Keyhold(const std::vector<std::string>& args) const {
  std::vector<std::string> all = {"--socket", agent.process->socket_path()};
  all.insert(all.end(), args.begin(), args.end());
  return RunKeyhold(dir, all);
}

absl::Status TlsPki::IssueForFileKey(const std::string& name, const std::string& key_spec,
                                     const std::string& cn, const std::string& profile,
                                     const std::vector<std::string>& sans) {
  std::vector<std::string> args = {"req",
                                   "-new",
                                   "-nodes",
                                   "-keyout",
                                   File(name + ".key"),
                                   "-out",
                                   File(name + ".csr"),
                                   "-subj",
                                   absl::StrCat(kExampleSubject, "/CN=", cn)};
  if (absl::StartsWith(key_spec, "ec:")) {
    args.insert(args.end(), {"-newkey", "ec", "-pkeyopt",
                             absl::StrCat("ec_paramgen_curve:", key_spec.substr(3))});
  } else {
    args.insert(args.end(), {"-newkey", key_spec});
  }
  absl::StatusOr<CommandResult> made = RunOpenssl(args);
  if (!made.ok()) return made.status();
  if (made->exit_code != 0) {
    return absl::InternalError(absl::StrCat("openssl req: ", Describe(*made)));
  }
  v1::SignCsrRequest request = SignRequest(kRootLabel, profile, ReadWholeFile(File(name + ".csr")));
  for (const std::string& san : sans) request.add_subject_alt_names(san);
  absl::StatusOr<v1::SignCsrResponse> issued = agent.client->SignCsr(request);
  if (!issued.ok()) return issued.status();
  return WriteFile(File(name + ".pem"), issued->certificate_pem());
}

}  // namespace keyhold::testing
