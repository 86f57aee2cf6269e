// keyhold-token-demo: the first README command. Creates (or reuses) a
// SoftHSM2 token in a local state directory, makes one key of each type on
// it, signs through OpenSSL with each (our provider turns the token key into
// an EVP_PKEY), verifies with OpenSSL's default provider, and says what it
// did. The private keys never leave the token.
//
// Usage: keyhold-token-demo [--state-dir DIR] [--module PATH]
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"
#include "tokens/provider/provider.h"
#include "tokens/token.h"

namespace keyhold {
namespace {

constexpr char kTokenLabel[] = "keyhold-demo";
constexpr char kMessage[] = "keyhold demo: this message was signed on the token";

struct Options {
  std::string state_dir;
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
};

absl::StatusOr<Options> ParseArgs(int argc, char** argv) {
  Options options;
  options.state_dir = std::filesystem::current_path() / ".keyhold";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--state-dir" || arg == "--module") && i + 1 < argc) {
      (arg == "--state-dir" ? options.state_dir : options.module) = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: keyhold-token-demo [--state-dir DIR] [--module PATH]\n";
      std::exit(0);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument ", arg));
    }
  }
  options.state_dir = std::filesystem::absolute(options.state_dir);
  return options;
}

// Writes `path` with a fresh random PIN (mode 0600) unless it exists.
absl::Status EnsurePinFile(const std::string& path) {
  if (std::filesystem::exists(path)) return absl::OkStatus();
  unsigned char raw[12];
  if (RAND_bytes(raw, sizeof(raw)) != 1) return OpenSslError("generating a PIN");
  std::string pin = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
  const mode_t old = umask(077);
  std::ofstream(path) << pin << "\n";
  umask(old);
  OPENSSL_cleanse(pin.data(), pin.size());
  OPENSSL_cleanse(raw, sizeof(raw));
  if (!std::filesystem::exists(path)) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

// The state directory holds the SoftHSM2 configuration and token files and
// the two PIN files; everything mode 0700/0600.
absl::Status PrepareStateDir(const Options& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir + "/tokens", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", options.state_dir, ": ", ec.message()));
  chmod(options.state_dir.c_str(), 0700);
  const std::string conf = options.state_dir + "/softhsm2.conf";
  if (!std::filesystem::exists(conf)) {
    std::ofstream(conf) << "directories.tokendir = " << options.state_dir
                        << "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n";
  }
  setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  if (absl::Status s = EnsurePinFile(options.state_dir + "/user.pin"); !s.ok()) return s;
  return EnsurePinFile(options.state_dir + "/so.pin");
}

absl::StatusOr<std::unique_ptr<Token>> OpenOrCreateToken(const Options& options,
                                                         bool& created) {
  TokenConfig config;
  config.module_path = options.module;
  config.uri = absl::StrCat("pkcs11:token=", kTokenLabel);
  config.pin = PinSource::File(options.state_dir + "/user.pin");
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(config);
  created = false;
  if (!absl::IsNotFound(token.status())) return token;
  absl::StatusOr<Secret> so = PinSource::File(options.state_dir + "/so.pin").Read();
  if (!so.ok()) return so.status();
  absl::StatusOr<Secret> user = config.pin.Read();
  if (!user.ok()) return user.status();
  if (absl::Status s = InitializeToken(options.module, kTokenLabel, *so, *user); !s.ok()) {
    return s;
  }
  created = true;
  return Token::Open(config);
}

struct Scheme {
  const char* name;
  const char* digest;  // nullptr: one-shot (Ed25519)
  int padding;         // RSA padding, 0 otherwise
};

std::vector<Scheme> SchemesFor(KeyType type) {
  switch (FamilyOf(type)) {
    case KeyFamily::kRsa:
      return {{"RSA PKCS#1 v1.5 / SHA-256", "SHA256", RSA_PKCS1_PADDING},
              {"RSA-PSS / SHA-256", "SHA256", RSA_PKCS1_PSS_PADDING}};
    case KeyFamily::kEc:
      return {{"ECDSA / SHA-256", "SHA256", 0}, {"ECDSA / SHA-384", "SHA384", 0}};
    case KeyFamily::kEd25519:
      return {{"Ed25519", nullptr, 0}};
  }
  return {};
}

absl::StatusOr<std::vector<unsigned char>> SignWith(OSSL_LIB_CTX* libctx, EVP_PKEY* key,
                                                    const Scheme& scheme) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), &pctx, scheme.digest, libctx, nullptr,
                                    key, nullptr) != 1) {
    return OpenSslError("EVP_DigestSignInit_ex");
  }
  if (scheme.padding != 0 && EVP_PKEY_CTX_set_rsa_padding(pctx, scheme.padding) != 1) {
    return OpenSslError("setting RSA padding");
  }
  const auto* msg = reinterpret_cast<const unsigned char*>(kMessage);
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, msg, sizeof(kMessage) - 1) != 1) {
    return OpenSslError("EVP_DigestSign (size)");
  }
  std::vector<unsigned char> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, msg, sizeof(kMessage) - 1) != 1) {
    return OpenSslError("EVP_DigestSign");
  }
  sig.resize(len);
  return sig;
}

// Verifies in the default library context with the public key only.
absl::Status Verify(EVP_PKEY* public_key, const Scheme& scheme,
                    const std::vector<unsigned char>& sig) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), &pctx, scheme.digest, nullptr,
                                      nullptr, public_key, nullptr) != 1) {
    return OpenSslError("EVP_DigestVerifyInit_ex");
  }
  if (scheme.padding != 0) EVP_PKEY_CTX_set_rsa_padding(pctx, scheme.padding);
  if (EVP_DigestVerify(ctx.get(), sig.data(), sig.size(),
                       reinterpret_cast<const unsigned char*>(kMessage),
                       sizeof(kMessage) - 1) != 1) {
    return OpenSslError("signature did not verify");
  }
  return absl::OkStatus();
}

absl::Status Run(const Options& options) {
  if (absl::Status s = PrepareStateDir(options); !s.ok()) return s;
  bool created = false;
  absl::StatusOr<std::unique_ptr<Token>> token = OpenOrCreateToken(options, created);
  if (!token.ok()) return token.status();
  const TokenInfo& info = (*token)->info();
  std::cout << "keyhold token demo\n"
            << "  state dir   " << options.state_dir << "\n"
            << "  token       " << info.label << " (" << info.manufacturer << ", "
            << info.model << ", serial " << info.serial << ") "
            << (created ? "created" : "reused") << "\n"
            << "  mechanisms  " << absl::StrJoin((*token)->mechanisms().Names(), " ")
            << "\n\n";

  OsslLibCtxPtr libctx(OSSL_LIB_CTX_new());
  absl::StatusOr<KeyholdProvider> provider = LoadKeyholdProvider(libctx.get());
  if (!provider.ok()) return provider.status();

  int signatures = 0;
  for (KeyType type : AllKeyTypes()) {
    const std::string label = absl::StrCat("demo-", KeyTypeName(type));
    absl::StatusOr<KeyInfo> key = (*token)->FindKeyByLabel(label);
    const char* how = "found";
    if (absl::IsNotFound(key.status())) {
      key = (*token)->GenerateKey(label, type);
      how = "generated";
    }
    if (absl::IsFailedPrecondition(key.status())) {
      std::cout << "  " << label << ": skipped, " << key.status().message() << "\n";
      continue;
    }
    if (!key.ok()) return key.status();
    absl::StatusOr<KeyProtection> protection = (*token)->Protection(*key);
    if (!protection.ok()) return protection.status();
    std::cout << "  " << label << "  " << how << " on the token, id " << key->IdHex()
              << "\n    sensitive=" << (protection->sensitive ? "yes" : "NO")
              << " extractable=" << (protection->extractable ? "YES" : "no")
              << " never-extractable=" << (protection->never_extractable ? "yes" : "NO")
              << " secret readable=" << (protection->secret_readable ? "YES" : "no") << "\n";
    if (!protection->sensitive || protection->extractable || protection->secret_readable) {
      return absl::InternalError(absl::StrCat(label, " is not protected as required"));
    }
    absl::StatusOr<std::unique_ptr<Signer>> signer = (*token)->NewSigner(*key);
    if (!signer.ok()) return signer.status();
    std::shared_ptr<Signer> shared(std::move(*signer));
    absl::StatusOr<EvpPkeyPtr> pkey = MakeSignerPkey(libctx.get(), shared);
    if (!pkey.ok()) return pkey.status();
    for (const Scheme& scheme : SchemesFor(type)) {
      absl::StatusOr<std::vector<unsigned char>> sig = SignWith(libctx.get(), pkey->get(), scheme);
      if (!sig.ok()) return sig.status();
      if (absl::Status s = Verify(shared->PublicKey(), scheme, *sig); !s.ok()) {
        return absl::InternalError(absl::StrCat(label, " ", scheme.name, ": ", s.message()));
      }
      std::cout << "    " << scheme.name << ": signed through OpenSSL on the token ("
                << sig->size() << "-byte signature), verified with the public key\n";
      ++signatures;
    }
  }
  std::cout << "\n" << signatures
            << " signatures made on the token and verified; no private key left it.\n"
            << "Run again to reuse the token; remove " << options.state_dir
            << " to start over.\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace keyhold

int main(int argc, char** argv) {
  absl::StatusOr<keyhold::Options> options = keyhold::ParseArgs(argc, argv);
  absl::Status status = options.ok() ? keyhold::Run(*options) : options.status();
  if (!status.ok()) {
    std::cerr << "keyhold-token-demo: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
