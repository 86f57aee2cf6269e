#include "agent/tls/tls_error.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/tls/dialer.h"
#include "tokens/openssl_error.h"

namespace keyhold::agent::tls {
namespace {

// The SSL ex_data slot holding the connection's AlertLog.
int AlertLogIndex() {
  static const int index =
      SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

void OnInfo(const SSL* ssl, int where, int value) {
  if ((where & SSL_CB_ALERT) == 0) return;
  if ((value & 0xff) == SSL_AD_CLOSE_NOTIFY) return;
  auto* log = static_cast<AlertLog*>(SSL_get_ex_data(ssl, AlertLogIndex()));
  if (log == nullptr) return;
  if ((where & SSL_CB_READ) != 0) {
    log->received = value;
  } else {
    log->sent = value;
  }
}

std::string AlertName(int value) { return SSL_alert_desc_string_long(value); }

// Alerts after which retrying the same handshake cannot succeed: the
// server disliked our certificate, our version, or our offer.
bool IsRefusal(int description) {
  switch (description) {
    case SSL_AD_HANDSHAKE_FAILURE:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED:
    case SSL_AD_INSUFFICIENT_SECURITY:
    case SSL_AD_CERTIFICATE_REQUIRED:
    case SSL_AD_NO_APPLICATION_PROTOCOL:
    case SSL_AD_ILLEGAL_PARAMETER:
    case SSL_AD_DECODE_ERROR:
      return true;
    default:
      return false;
  }
}

absl::Status ReceivedAlert(int value, absl::string_view when,
                           const FailureContext& context) {
  const int description = value & 0xff;
  if (description == SSL_AD_PROTOCOL_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrCat("TLS protocol version mismatch with ", context.target,
                     ": the server sent alert: ", AlertName(value),
                     " (this client allows ", context.version_range, ")"));
  }
  const std::string message =
      absl::StrCat("the server sent alert: ", AlertName(value), " (during ",
                   when, " with ", context.target, ")");
  return IsRefusal(description) ? absl::FailedPreconditionError(message)
                                : absl::UnavailableError(message);
}

absl::Status VerificationFailure(long result, const FailureContext& context) {
  std::string message = absl::StrCat("server certificate verification failed: ",
                                     X509_verify_cert_error_string(result));
  if (result == X509_V_ERR_HOSTNAME_MISMATCH ||
      result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    absl::StrAppend(&message, " (the certificate is not valid for \"",
                    context.expected_name, "\")");
  }
  absl::StrAppend(&message, " (server ", context.target, ")");
  return absl::FailedPreconditionError(message);
}

bool IsVersionError(int reason) {
  switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_WRONG_SSL_VERSION:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
      return true;
    default:
      return false;
  }
}

// Failures without an alert from the server, a verification result or a
// socket error: OpenSSL's own diagnosis (including a signer that failed
// inside the provider), named by its error queue.
absl::Status LocalFailure(absl::string_view when, const AlertLog& alerts,
                          const FailureContext& context) {
  const int reason = ERR_GET_REASON(ERR_peek_error());
  std::string what = absl::StrCat(when, " with ", context.target, " failed");
  if (alerts.sent >= 0) {
    absl::StrAppend(&what, " (keyhold sent alert: ", AlertName(alerts.sent),
                    ")");
  }
  if (IsVersionError(reason)) {
    return OpenSslError(
        absl::StrCat("TLS protocol version mismatch: ", what,
                     " (this client allows ", context.version_range, ")"),
        absl::StatusCode::kFailedPrecondition);
  }
  if (reason == SSL_R_WRONG_VERSION_NUMBER ||
      reason == SSL_R_PACKET_LENGTH_TOO_LONG) {
    return OpenSslError(absl::StrCat(what, ": the peer does not speak TLS"),
                        absl::StatusCode::kUnavailable);
  }
  return OpenSslError(what, absl::StatusCode::kUnavailable);
}

absl::Status SyscallFailure(int saved_errno, absl::string_view when,
                            const FailureContext& context) {
  ERR_clear_error();
  if (saved_errno == 0) {
    return absl::UnavailableError(
        absl::StrCat("the server closed the connection during ", when, " (",
                     context.target, ")"));
  }
  return SocketFailure(saved_errno,
                       absl::StrCat(when, " with ", context.target));
}

}  // namespace

void RecordAlerts(SSL* ssl, AlertLog* log) {
  SSL_set_ex_data(ssl, AlertLogIndex(), log);
  SSL_set_info_callback(ssl, &OnInfo);
}

bool IsUnexpectedEof(int ssl_error) {
  if (ssl_error != SSL_ERROR_SSL) return false;
  const unsigned long error = ERR_peek_error();
  return ERR_GET_LIB(error) == ERR_LIB_SSL &&
         ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

absl::Status HandshakeFailure(SSL* ssl, int ssl_error, int saved_errno,
                              const AlertLog& alerts,
                              const FailureContext& context) {
  constexpr absl::string_view kWhen = "the TLS handshake";
  if (const long result = SSL_get_verify_result(ssl); result != X509_V_OK) {
    ERR_clear_error();
    return VerificationFailure(result, context);
  }
  if (alerts.received >= 0) {
    ERR_clear_error();
    return ReceivedAlert(alerts.received, kWhen, context);
  }
  if (ssl_error == SSL_ERROR_SYSCALL || IsUnexpectedEof(ssl_error)) {
    return SyscallFailure(saved_errno, kWhen, context);
  }
  return LocalFailure(kWhen, alerts, context);
}

absl::Status ConnectionFailure(int ssl_error, int saved_errno,
                               const AlertLog& alerts,
                               const FailureContext& context) {
  constexpr absl::string_view kWhen = "the TLS connection";
  if (alerts.received >= 0) {
    ERR_clear_error();
    return ReceivedAlert(alerts.received, kWhen, context);
  }
  if (ssl_error == SSL_ERROR_SYSCALL) {
    return SyscallFailure(saved_errno, kWhen, context);
  }
  return LocalFailure(kWhen, alerts, context);
}

}  // namespace keyhold::agent::tls
