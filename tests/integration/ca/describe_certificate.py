#!/usr/bin/python3
"""Describes an X.509 certificate as one line of JSON, read with pyca/cryptography.

Usage: describe_certificate.py CERT.pem ISSUER.pem

A parser that shares no code with keyhold or OpenSSL's X509v3 layer: the
CA tests compare its reading of each extension with what the profile
promises. Run with Debian's /usr/bin/python3 (python3-cryptography).
"""
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID


def extension(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def signature_verifies(cert, issuer):
    key = issuer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)
        else:
            key.verify(cert.signature, cert.tbs_certificate_bytes)
    except Exception:  # InvalidSignature, or a mismatched algorithm
        return False
    return True


def describe(cert, issuer):
    out = {
        "version": cert.version.name,
        "serial_hex": format(cert.serial_number, "X"),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "signature_hash": cert.signature_hash_algorithm.name,
        "signature_verifies": signature_verifies(cert, issuer),
        "extension_oids": [e.oid.dotted_string for e in cert.extensions],
    }
    bc = extension(cert, x509.BasicConstraints)
    if bc is not None:
        out["basic_constraints"] = {"critical": bc.critical, "ca": bc.value.ca,
                                    "path_length": bc.value.path_length}
    ku = extension(cert, x509.KeyUsage)
    if ku is not None:
        v = ku.value
        out["key_usage"] = {
            "critical": ku.critical,
            "digital_signature": v.digital_signature,
            "key_encipherment": v.key_encipherment,
            "key_cert_sign": v.key_cert_sign,
            "crl_sign": v.crl_sign,
        }
    eku = extension(cert, x509.ExtendedKeyUsage)
    if eku is not None:
        names = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
                 ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"}
        out["extended_key_usage"] = {
            "critical": eku.critical,
            "usages": [names.get(oid, oid.dotted_string) for oid in eku.value],
        }
    ski = extension(cert, x509.SubjectKeyIdentifier)
    if ski is not None:
        expected = x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
        out["subject_key_identifier"] = {"critical": ski.critical,
                                         "hex": ski.value.digest.hex(),
                                         "is_sha1_of_key": ski.value.digest == expected.digest}
    aki = extension(cert, x509.AuthorityKeyIdentifier)
    if aki is not None:
        key_id = aki.value.key_identifier
        out["authority_key_identifier"] = {"critical": aki.critical,
                                           "hex": key_id.hex() if key_id else None}
    san = extension(cert, x509.SubjectAlternativeName)
    if san is not None:
        out["subject_alt_name"] = {
            "critical": san.critical,
            "dns": san.value.get_values_for_type(x509.DNSName),
            "ip": [str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)],
        }
    return out


def main():
    with open(sys.argv[1], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(sys.argv[2], "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    print(json.dumps(describe(cert, issuer)))


if __name__ == "__main__":
    main()
