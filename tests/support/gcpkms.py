"""A local Cloud KMS endpoint for the two REST methods lineage signing calls, with real keys.

It answers ``GET /v1/{version}/publicKey`` and ``POST /v1/{version}:asymmetricSign`` the way Cloud KMS does
(proto3 JSON, CRC32C checks both ways, Google error bodies), signing with private keys made by
``cryptography``. The SDK's own client talks to it through its REST transport; verifiers never see it:
tests check signatures with the public key derived from the private key here, not with anything it answers.
It has no IAM, no key rotation, no version states but a disabled switch, no quotas: docs/lineage.md says
what that leaves unproven.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google_crc32c
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

_VERSION = r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+/cryptoKeyVersions/[^/:]+"
_PUBLIC = re.compile(rf"/v1/({_VERSION})/publicKey")
_SIGN = re.compile(rf"/v1/({_VERSION}):asymmetricSign")


def _crc(data: bytes) -> str:
    return str(google_crc32c.value(data))  # int64 fields are strings in proto3 JSON


class CloudKms:
    """The endpoint, its keys (version name -> (algorithm, private key)) and the requests it served."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.corrupt_signatures = False  # flip a signature byte after computing its CRC32C (a bad wire)
        self.disabled: set[str] = set()  # versions whose state is DISABLED: signing is refused
        kms = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                kms.requests.append(("GET", self.path))
                m = _PUBLIC.fullmatch(self.path.partition("?")[0])
                self._reply(*(kms.public_key(m.group(1)) if m else _error(404, "NOT_FOUND", self.path)))

            def do_POST(self) -> None:
                kms.requests.append(("POST", self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                m = _SIGN.fullmatch(self.path.partition("?")[0])
                self._reply(*(kms.sign(m.group(1), json.loads(body or b"{}")) if m else _error(404, "NOT_FOUND", "")))

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_key(self, name: str, algorithm: str) -> Any:
        """A new key version; returns its private key (the test derives the auditor's public key from it)."""
        if algorithm == "EC_SIGN_P256_SHA256":
            key: Any = ec.generate_private_key(ec.SECP256R1())
        elif algorithm == "EC_SIGN_ED25519":
            key = ed25519.Ed25519PrivateKey.generate()
        elif algorithm == "RSA_SIGN_PKCS1_2048_SHA256":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(algorithm)
        self.keys[name] = (algorithm, key)
        return key

    def client(self) -> Any:
        """The SDK's real client, REST transport, pointed here."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import kms_v1

        return kms_v1.KeyManagementServiceClient(
            credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": self.url}
        )

    def public_key(self, name: str) -> tuple[int, dict[str, Any]]:
        if name not in self.keys:
            return _error(404, "NOT_FOUND", f"CryptoKeyVersion {name} not found.")
        algorithm, key = self.keys[name]
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return 200, {
            "pem": pem.decode(),
            "algorithm": algorithm,
            "pemCrc32c": _crc(pem),
            "name": name,
            "protectionLevel": "SOFTWARE",
        }

    def sign(self, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if name not in self.keys:
            return _error(404, "NOT_FOUND", f"CryptoKeyVersion {name} not found.")
        if name in self.disabled:
            return _error(400, "FAILED_PRECONDITION", f"{name} is not enabled, current state is: DISABLED.")
        algorithm, key = self.keys[name]
        if algorithm == "EC_SIGN_ED25519":
            if "data" not in body or "digest" in body:
                return _error(400, "INVALID_ARGUMENT", "EC_SIGN_ED25519 signs data, not a digest")
            payload, crc, verified = base64.b64decode(body["data"]), body.get("dataCrc32c"), "verifiedDataCrc32c"
            signature = key.sign(payload)
        else:
            digest = body.get("digest", {}).get("sha256")
            if digest is None or "data" in body:
                return _error(400, "INVALID_ARGUMENT", f"{algorithm} signs a SHA-256 digest")
            payload, crc, verified = base64.b64decode(digest), body.get("digestCrc32c"), "verifiedDigestCrc32c"
            if len(payload) != 32:
                return _error(400, "INVALID_ARGUMENT", "digest length does not match the algorithm")
            if algorithm == "EC_SIGN_P256_SHA256":
                signature = key.sign(payload, ec.ECDSA(Prehashed(hashes.SHA256())))
            else:
                from cryptography.hazmat.primitives.asymmetric import padding

                signature = key.sign(payload, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        if crc is not None and str(crc) != _crc(payload):
            return _error(400, "INVALID_ARGUMENT", "The checksum in field digest_crc32c did not match the data")
        sent = _crc(signature)
        if self.corrupt_signatures:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        return 200, {
            "signature": base64.b64encode(signature).decode(),
            "signatureCrc32c": sent,
            verified: crc is not None,
            "name": name,
            "protectionLevel": "SOFTWARE",
        }


def _error(code: int, status: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"error": {"code": code, "message": message, "status": status}}
