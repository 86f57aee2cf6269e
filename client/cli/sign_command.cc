// keyhold sign: hashes a file here, has the agent sign the digest with a
// token key, and writes the raw signature, in the form `openssl dgst
// -verify` reads (RSA: the signature block; ECDSA: DER ECDSA-Sig-Value).
// Ed25519 signs the message itself (PureEdDSA), so the whole file goes to
// the agent, which takes at most 64 KiB.
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>  // CLI11's parts are not self-contained headers

#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/local_files.h"
#include "client/cli/output.h"
#include "tokens/openssl_error.h"
#include "tokens/openssl_ptr.h"

namespace keyhold::cli {

namespace {

// The agent's limit for SignRequest.digest (an Ed25519 message).
constexpr size_t kMaxEd25519MessageBytes = 64 * 1024;

struct SignOptions {
  std::string label;
  std::string digest = "sha256";
  std::string in;
  std::string out;
  bool pss = false;
};

struct DigestChoice {
  const char* name;  // CLI spelling and OpenSSL name
  v1::DigestAlgorithm proto;
};

constexpr DigestChoice kDigests[] = {
    {"sha256", v1::DIGEST_ALGORITHM_SHA256},
    {"sha384", v1::DIGEST_ALGORITHM_SHA384},
    {"sha512", v1::DIGEST_ALGORITHM_SHA512},
};

std::vector<std::string> DigestNames() {
  std::vector<std::string> names;
  for (const DigestChoice& choice : kDigests) names.push_back(choice.name);
  return names;
}

absl::StatusOr<std::string> DigestFile(const std::string& path, const char* digest_name) {
  EvpMdPtr md(EVP_MD_fetch(nullptr, digest_name, nullptr));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!md || !ctx || EVP_DigestInit_ex2(ctx.get(), md.get(), nullptr) != 1) {
    return OpenSslError(absl::StrCat("cannot set up ", digest_name));
  }
  absl::Status read = ReadFileInChunks(path, [&](absl::string_view chunk) {
    if (EVP_DigestUpdate(ctx.get(), chunk.data(), chunk.size()) != 1) {
      return OpenSslError(absl::StrCat("hashing ", path));
    }
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out, &size) != 1) {
    return OpenSslError(absl::StrCat("hashing ", path));
  }
  return std::string(reinterpret_cast<const char*>(out), size);
}

bool IsRsa(v1::KeyType type) {
  return type == v1::KEY_TYPE_RSA_2048 || type == v1::KEY_TYPE_RSA_3072 ||
         type == v1::KEY_TYPE_RSA_4096;
}

// Fills request.scheme and the digest (or, for Ed25519, the message) from
// the key's type and the options.
absl::Status BuildRequest(const SignOptions& options, v1::KeyType type,
                          v1::SignRequest& request, std::string& scheme_name) {
  if (options.pss && !IsRsa(type)) {
    return UsageError(absl::StrCat("--pss applies to RSA keys only; key \"", options.label,
                                   "\" is ", KeyTypeName(type).value_or("of an unknown type")));
  }
  if (type == v1::KEY_TYPE_ED25519) {
    absl::StatusOr<std::string> message =
        ReadSmallFile(options.in, kMaxEd25519MessageBytes, "input file (Ed25519 signs it whole)");
    if (!message.ok()) return message.status();
    request.set_scheme(v1::SIGNATURE_SCHEME_ED25519);
    request.set_digest(*std::move(message));
    scheme_name = "ed25519";
    return absl::OkStatus();
  }
  const DigestChoice* digest = &kDigests[0];
  for (const DigestChoice& choice : kDigests) {
    if (options.digest == choice.name) digest = &choice;
  }
  absl::StatusOr<std::string> hash = DigestFile(options.in, digest->name);
  if (!hash.ok()) return hash.status();
  request.set_digest_algorithm(digest->proto);
  request.set_digest(*std::move(hash));
  if (options.pss) {
    // Salt length 0 asks the agent for salt = digest length, which every
    // token accepts and `openssl dgst -verify` detects on its own.
    request.set_scheme(v1::SIGNATURE_SCHEME_RSA_PSS);
    scheme_name = "rsa-pss";
  } else if (IsRsa(type)) {
    request.set_scheme(v1::SIGNATURE_SCHEME_RSA_PKCS1);
    scheme_name = "rsa-pkcs1";
  } else if (type == v1::KEY_TYPE_EC_P256 || type == v1::KEY_TYPE_EC_P384) {
    request.set_scheme(v1::SIGNATURE_SCHEME_ECDSA);
    scheme_name = "ecdsa";
  } else {
    scheme_name = "default";  // a type this CLI predates: the agent chooses
  }
  return absl::OkStatus();
}

absl::Status RunSign(const CommandContext& context, const SignOptions& options) {
  absl::StatusOr<std::unique_ptr<client::AgentClient>> agent = ConnectToAgent(context);
  if (!agent.ok()) return agent.status();
  // The key's type decides between digest and message, and the scheme.
  absl::StatusOr<v1::Key> key = (*agent)->GetKey(options.label);
  if (!key.ok()) return key.status();

  v1::SignRequest request;
  request.mutable_key()->set_label(options.label);
  std::string scheme_name;
  if (absl::Status s = BuildRequest(options, key->type(), request, scheme_name); !s.ok()) return s;
  absl::StatusOr<std::string> signature = (*agent)->Sign(request);
  if (!signature.ok()) return signature.status();
  if (absl::Status s = WriteFileAtomically(options.out, *signature); !s.ok()) return s;

  const bool ed25519 = key->type() == v1::KEY_TYPE_ED25519;
  nlohmann::json object = {
      {"label", key->label()},
      {"type", KeyTypeName(key->type()) ? nlohmann::json(*KeyTypeName(key->type()))
                                        : nlohmann::json(nullptr)},
      {"scheme", scheme_name},
      {"digest_algorithm", ed25519 ? nlohmann::json(nullptr) : nlohmann::json(options.digest)},
      {"digest", ed25519 ? nlohmann::json(nullptr) : nlohmann::json(HexEncode(request.digest()))},
      {"input", options.in},
      {"signature_file", options.out},
      {"signature_bytes", signature->size()},
      {"signature", HexEncode(*signature)},
  };
  std::string text = absl::StrCat(
      "signed ", options.in, " with key \"", key->label(), "\" (", scheme_name,
      ed25519 ? "" : absl::StrCat(", ", options.digest), "): ", signature->size(),
      "-byte signature written to ", options.out, "\n");
  Emit(context.global, object, text);
  return absl::OkStatus();
}

}  // namespace

void AddSignCommand(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<SignOptions>();
  CLI::App* sign = app.add_subcommand(
      "sign", "Sign a file's digest with a key of purpose sign (raw signature out)");
  sign->add_option("LABEL", options->label, "The signing key's label")->required();
  sign->add_option("--digest", options->digest,
                   "Digest algorithm, computed here over --in; ignored for Ed25519 keys")
      ->check(CLI::IsMember(DigestNames()))
      ->capture_default_str();
  sign->add_option("--in", options->in,
                   "The file to sign (any size; at most 64 KiB for Ed25519 keys)")
      ->required()
      ->check(CLI::ExistingFile);
  sign->add_option("--out", options->out,
                   "Where to write the raw signature (replaced whole, never partly written)")
      ->required();
  sign->add_flag("--pss", options->pss,
                 "RSA keys: RSA-PSS (MGF1 with the same digest, salt = digest length) "
                 "instead of PKCS#1 v1.5");
  sign->callback([&context, options] { context.result = RunSign(context, *options); });
}

}  // namespace keyhold::cli
