"""Signing lineage checkpoints: a local Ed25519 key file, an AWS KMS or a GCP Cloud KMS key, chosen in one place.

``configured_signer()`` is the only function that decides which key a process signs with (today
``$TYPEDFLOW_LINEAGE_KEY``: a key file written by ``typedflow lineage keygen``, ``awskms:<key id or ARN>``
or ``gcpkms:projects/…/cryptoKeyVersions/N``). A signer's ``key_id`` is the sha256 of its public key's DER
SubjectPublicKeyInfo, which is what verifiers compute from the public key an auditor holds.
``cryptography`` is imported only when a key is used.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import os
import re
import stat
from pathlib import Path
from typing import Any, Final, Protocol

from typedflow.errors import InputError
from typedflow.ir.canonical import canonical_bytes
from typedflow.lineage.verify_bundle import CHECKPOINT_TYPE, SIGNATURE_TYPE, manifest_message
from typedflow.util.timestamps import utcnow

__all__ = [
    "ENV_KEY",
    "AwsKmsSigner",
    "Ed25519Signer",
    "GcpKmsSigner",
    "Signer",
    "SigningError",
    "checkpoint_line",
    "configured_signer",
    "keygen",
    "load_key_file",
    "manifest_signature",
    "signer_from_spec",
]

ENV_KEY: Final = "TYPEDFLOW_LINEAGE_KEY"
KEY_FILE: Final = "lineage.key"
PUB_FILE: Final = "lineage.pub"
AWS_KMS: Final = "awskms:"
GCP_KMS: Final = "gcpkms:"
_KMS_SPECS: Final = (AWS_KMS, GCP_KMS)
_GCP_VERSION: Final = re.compile(
    r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+/cryptoKeyVersions/[^/]+"
)


class SigningError(InputError):
    """A signing key cannot be created, loaded or used."""


class Signer(Protocol):
    """Signs checkpoint and manifest messages with one key."""

    @property
    def key_id(self) -> str: ...

    @property
    def alg(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...

    def public_key_pem(self) -> bytes: ...


def _key_id(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN PUBLIC KEY-----\n" + b"\n".join(lines) + b"\n-----END PUBLIC KEY-----\n"


class Ed25519Signer:
    """A private key held in a file (PKCS#8 PEM)."""

    alg = "ed25519"

    def __init__(self, private_key: Any) -> None:
        from cryptography.hazmat.primitives import serialization

        self._key = private_key
        self._pem: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        der: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id: str = _key_id(der)

    def sign(self, message: bytes) -> bytes:
        return bytes(self._key.sign(message))

    def public_key_pem(self) -> bytes:
        return self._pem


class AwsKmsSigner:
    """An asymmetric AWS KMS key (``ECC_NIST_P256``, ``SIGN_VERIFY``) through boto3.

    KMS keeps the private key; each signature is one ``Sign`` call (``ECDSA_SHA_256`` over the raw
    message). KMS's Ed25519 keys are not used: the local stand-in the tests run against (moto)
    signs with ECC_NIST_P256 only, and P-256 is available in every region.
    """

    alg = "ecdsa-p256-sha256"
    SIGNING_ALGORITHM: Final = "ECDSA_SHA_256"

    def __init__(self, key: str, client: Any = None) -> None:
        self._client = client if client is not None else importlib.import_module("boto3").client("kms")
        try:
            resp = self._client.get_public_key(KeyId=key)
        except Exception as exc:
            raise SigningError(f"{AWS_KMS}{key}: cannot read the public key: {exc}") from exc
        # KeySpec; its deprecated twin CustomerMasterKeySpec is what older responses (and moto) carry.
        spec = resp.get("KeySpec") or resp.get("CustomerMasterKeySpec")
        usable = self.SIGNING_ALGORITHM in (resp.get("SigningAlgorithms") or ())
        if resp.get("KeyUsage") != "SIGN_VERIFY" or spec != "ECC_NIST_P256" or not usable:
            raise SigningError(
                f"{AWS_KMS}{key}: expected an ECC_NIST_P256 key for SIGN_VERIFY, "
                f"found {spec} for {resp.get('KeyUsage')}"
            )
        der: bytes = resp["PublicKey"]
        self._key = str(resp.get("KeyId") or key)
        self.key_id = _key_id(der)
        self._pem = _pem(der)

    def sign(self, message: bytes) -> bytes:
        resp = self._client.sign(
            KeyId=self._key, Message=message, MessageType="RAW", SigningAlgorithm=self.SIGNING_ALGORITHM
        )
        return bytes(resp["Signature"])

    def public_key_pem(self) -> bytes:
        return self._pem


def gcp_kms_client() -> Any:
    """The Cloud KMS client a ``gcpkms:`` key signs through (application default credentials)."""
    kms = importlib.import_module("google.cloud.kms_v1")
    return kms.KeyManagementServiceClient()


def _crc32c(data: bytes) -> int:
    return int(importlib.import_module("google_crc32c").value(data))


class GcpKmsSigner:
    """A GCP Cloud KMS asymmetric signing key version through google-cloud-kms.

    Cloud KMS keeps the private key; each signature is one ``AsymmetricSign`` call. ``EC_SIGN_P256_SHA256``
    keys sign the message's SHA-256 digest (ECDSA, ``ecdsa-p256-sha256``), ``EC_SIGN_ED25519`` keys the message
    itself. Every request and answer is checked the way Cloud KMS asks clients to (CRC32C both ways, the key
    version named in the answer), and each signature is verified against the public key read at start, so a
    checkpoint is never written that an auditor's verifier would reject.
    """

    ALGORITHMS: Final = {"EC_SIGN_P256_SHA256": "ecdsa-p256-sha256", "EC_SIGN_ED25519": "ed25519"}
    TIMEOUT: Final = 60.0

    def __init__(self, name: str, client: Any = None) -> None:
        if not _GCP_VERSION.fullmatch(name):
            raise SigningError(
                f"{GCP_KMS}{name}: expected a key version, "
                "projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N"
            )
        self._name = name
        try:
            self._client = client if client is not None else gcp_kms_client()
        except ImportError as exc:
            raise SigningError(f"{GCP_KMS}{name}: needs google-cloud-kms (pip install 'typedflow[vertex]')") from exc
        except Exception as exc:  # no application default credentials, a bad credentials file, …
            raise SigningError(f"{GCP_KMS}{name}: cannot create a Cloud KMS client: {exc}") from exc
        try:
            resp = self._client.get_public_key(request={"name": name}, timeout=self.TIMEOUT)
        except Exception as exc:
            raise SigningError(f"{GCP_KMS}{name}: cannot read the public key: {exc}") from exc
        algorithm = getattr(resp.algorithm, "name", str(resp.algorithm))
        if algorithm not in self.ALGORITHMS:
            raise SigningError(
                f"{GCP_KMS}{name}: expected an EC_SIGN_P256_SHA256 or EC_SIGN_ED25519 key version, found {algorithm}"
            )
        pem = str(resp.pem).encode("ascii")
        if resp.name != name or "pem_crc32c" not in resp or int(resp.pem_crc32c) != _crc32c(pem):
            raise SigningError(f"{GCP_KMS}{name}: the public key was corrupted in transit (name or CRC32C differ)")
        from typedflow.lineage.verify_bundle import PublicKey

        try:
            self._public = PublicKey(pem)
        except ValueError as exc:
            raise SigningError(f"{GCP_KMS}{name}: unusable public key: {exc}") from exc
        self.alg: str = self.ALGORITHMS[algorithm]
        self.key_id: str = self._public.key_id
        self._pem = _pem(self._public.der)

    def sign(self, message: bytes) -> bytes:
        if self.alg == "ed25519":
            payload, field = message, "data"
            request: dict[str, Any] = {"name": self._name, "data": message, "data_crc32c": _crc32c(message)}
        else:
            payload, field = hashlib.sha256(message).digest(), "digest"
            request = {"name": self._name, "digest": {"sha256": payload}, "digest_crc32c": _crc32c(payload)}
        try:
            resp = self._client.asymmetric_sign(request=request, timeout=self.TIMEOUT)
        except Exception as exc:
            raise SigningError(f"{GCP_KMS}{self._name}: AsymmetricSign failed: {exc}") from exc
        signature = bytes(resp.signature)
        verified = resp.verified_data_crc32c if field == "data" else resp.verified_digest_crc32c
        intact = "signature_crc32c" in resp and int(resp.signature_crc32c) == _crc32c(signature)
        if resp.name != self._name or not verified or not intact:
            raise SigningError(f"{GCP_KMS}{self._name}: the signature was corrupted in transit (name or CRC32C differ)")
        if not self._public.verify(self.alg, signature, message):
            raise SigningError(
                f"{GCP_KMS}{self._name}: the signature does not verify with the key version's public key"
            )
        return signature

    def public_key_pem(self) -> bytes:
        return self._pem


def keygen(directory: str | os.PathLike[str]) -> tuple[Path, Path, str]:
    """Write a new Ed25519 key pair as ``lineage.key`` (mode 0600) and ``lineage.pub``; returns
    (key path, public key path, key id). Existing files are never replaced."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = out / KEY_FILE, out / PUB_FILE
    for p in (key_path, pub_path):
        if p.exists():
            raise SigningError(f"{p} exists; not overwritten")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = Ed25519Signer(private)
    _write_new(key_path, pem, 0o600)
    try:
        _write_new(pub_path, signer.public_key_pem(), 0o644)
    except BaseException:
        key_path.unlink()
        raise
    return key_path, pub_path, signer.key_id


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_key_file(path: str | os.PathLike[str]) -> Ed25519Signer:
    """The Ed25519 private key in ``path``, which must not be readable by others."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    p = Path(path)
    try:
        mode = p.stat().st_mode
        data = p.read_bytes()
    except OSError as exc:
        raise SigningError(f"lineage key {p}: {exc.strerror or exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningError(f"lineage key {p} is accessible by others (mode {stat.S_IMODE(mode):04o}); chmod 600 it")
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"lineage key {p}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"lineage key {p}: expected an Ed25519 key, found {type(key).__name__}")
    return Ed25519Signer(key)


def signer_from_spec(spec: str, *, kms_client: Any = None) -> Signer:
    """``awskms:<key id, alias or ARN>``, ``gcpkms:<key version name>`` or the path of a key file."""
    if spec.startswith(AWS_KMS):
        return AwsKmsSigner(spec[len(AWS_KMS) :], kms_client)
    if spec.startswith(GCP_KMS):
        return GcpKmsSigner(spec[len(GCP_KMS) :], kms_client)
    return load_key_file(spec)


@functools.lru_cache(maxsize=8)
def _cached(spec: str, stamp: tuple[int, int, int]) -> Signer:
    return signer_from_spec(spec)


def configured_signer(spec: str | None = None) -> Signer | None:
    """The signer this process uses for lineage checkpoints: ``spec`` (a deploy option) if given,
    else ``$TYPEDFLOW_LINEAGE_KEY``; None when neither names one."""
    spec = (spec if spec is not None else os.environ.get(ENV_KEY, "")).strip()
    if not spec:
        return None
    stamp = (0, 0, 0)
    if not spec.startswith(_KMS_SPECS):
        try:
            st = os.stat(spec)
        except OSError as exc:
            raise SigningError(f"{ENV_KEY}={spec}: {exc.strerror or exc}") from exc
        stamp = (st.st_mtime_ns, st.st_size, st.st_mode)  # a replaced or re-protected key is reloaded
    return _cached(spec, stamp)


def checkpoint_line(signer: Signer, start: int, seq: int, head: str, time: str | None = None) -> bytes:
    """A signed checkpoint (canonical JSON, no newline): the signer appended records ``start..seq``
    and the chain ends at ``seq`` with the record whose hash is ``head``."""
    fields: dict[str, Any] = {
        "alg": signer.alg,
        "from": start,
        "head": head,
        "key_id": signer.key_id,
        "seq": seq,
        "time": time or utcnow(),
        "type": CHECKPOINT_TYPE,
    }
    fields["sig"] = base64.b64encode(signer.sign(canonical_bytes(fields))).decode("ascii")
    return canonical_bytes(fields)


def manifest_signature(signer: Signer, manifest: bytes) -> bytes:
    """The ``manifest.sig`` of a bundle whose ``manifest.json`` is exactly ``manifest``."""
    sig = base64.b64encode(signer.sign(manifest_message(manifest))).decode("ascii")
    return canonical_bytes({"alg": signer.alg, "key_id": signer.key_id, "sig": sig, "type": SIGNATURE_TYPE}) + b"\n"
