"""Verify a typedflow lineage bundle (or log) with the Python standard library.

Usage: python verify_bundle.py BUNDLE_DIR_OR_ZIP_OR_LOG [--public-key PUB ...] [--trusted-head HASH]

Checks that every line is the canonical JSON of its record, that seq runs on without gaps, that
each prev_hash is the sha256 of the previous line (the first one equals the manifest's
first_prev_hash), that the last line's hash is the manifest's head_hash and that every file
matches the digest the manifest gives it (records, checkpoints, this verifier).

Without an anchor this shows only that the bundle is consistent with itself: whoever can rewrite
the records can rewrite the manifest too. Anchor it with what you already hold:

* ``--public-key PUB``: every record must be covered by a checkpoint signed with this key that
  matches the chain, and the manifest must be signed with it (checking signatures needs the
  ``cryptography`` package; without it the check fails rather than passing). Repeat it, or give
  a file of several PEM keys or a directory of key files, for records signed across a key
  rotation: each checkpoint must then be signed by one of the keys;
* ``--trusted-head HASH``: a head recorded earlier; the chain must reach exactly that record
  (records after it must be covered by signed checkpoints).

Prints "OK: N records, head H" (exit 0) or "FAIL: ..." naming the first bad record (exit 1);
exit 2 for bad usage. typedflow's own ``typedflow lineage verify`` runs this same code. Keep your
own copy: the one inside a bundle can be replaced along with the bundle (its sha256 is in the
signed manifest). Runs on Python 3.8 or later.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import stat
import struct
import sys
import zipfile
import zlib
from typing import IO, TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

BUNDLE_FORMATS = ("typedflow-lineage-bundle/1", "typedflow-lineage-bundle/2")
CHECKPOINT_TYPE = "typedflow-lineage-checkpoint/1"
SIGNATURE_TYPE = "typedflow-lineage-manifest-signature/1"
MANIFEST_DOMAIN = b"typedflow-lineage-manifest/1\n"
ALGORITHMS = ("ed25519", "ecdsa-p256-sha256")
GENESIS = "0" * 64

RECORDS = "records.jsonl"
MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints.jsonl"
SIGNATURE = "manifest.sig"
VERIFIER = "verify_bundle.py"
MEMBERS = (RECORDS, MANIFEST, CHECKPOINTS, SIGNATURE, VERIFIER)

MAX_LINE = 1 << 24  # a record line longer than this is refused (records hold digests, not data)
MAX_SMALL = 1 << 20  # manifest, signature, verifier
MAX_CHECKPOINTS = 1 << 28
MAX_RATIO = 200  # records compress about 3-6x; a member that inflates more is refused as a zip bomb
RATIO_FLOOR = 1 << 20  # small members may compress well
BLOCK = 1 << 22

_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sBBBBHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")
_ATTR = 0o100644 << 16  # a regular file, rw-r--r--

PREV_MARK = b'"prev_hash":"'
SEQ_MARK = b',"seq":'
RECORD_MARK = b'"record_id":"'
_P0 = len(PREV_MARK)
_P1 = _P0 + 64
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Failure(NamedTuple):
    """The first problem found and where: the record's line (1-based; 0 for the whole bundle)."""

    reason: str
    line: int
    seq: int | None
    record_id: str | None
    detail: str

    def describe(self) -> str:
        if self.line <= 0 and self.seq is None:
            return f"{self.reason}: {self.detail}"
        where = f"line {self.line}"
        if self.seq is not None:
            where += f", seq {self.seq}"
        if self.record_id:
            where += f", record {self.record_id}"
        return f"{self.reason} ({where}): {self.detail}"


class Result:
    """The verdict: the records seen, the head they end at, the first failure, warnings, and what
    anchored them beyond themselves (``anchor``, "" when nothing did)."""

    __slots__ = ("anchor", "count", "failure", "first_seq", "head_hash", "ok", "warnings")

    def __init__(
        self,
        ok: bool,
        count: int,
        head_hash: str,
        first_seq: int,
        failure: Failure | None,
        warnings: tuple[str, ...],
        anchor: str,
    ) -> None:
        self.ok = ok
        self.count = count
        self.head_hash = head_hash
        self.first_seq = first_seq
        self.failure = failure
        self.warnings = warnings
        self.anchor = anchor

    def summary(self) -> str:
        if self.failure is not None:
            return "FAIL: " + self.failure.describe()
        text = f"OK: {self.count} records, head {self.head_hash}"
        return text + ("; " + self.anchor if self.anchor else "")


class Broken(Exception):
    """Verification stops here with ``failure``."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.describe())
        self.failure = failure


def _malformed(what: str, detail: str) -> Broken:
    return Broken(Failure("malformed", 0, None, None, f"{what}: {detail}"))


# -- canonical JSON and signed messages ----------------------------------------------------------


def _json(data: bytes) -> Any:
    """Parsed JSON; nesting too deep for the parser is a ValueError like any other bad input."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def canonical(obj: Any) -> bytes:
    """Sorted keys, no whitespace, ASCII only, no NaN: the bytes every digest and signature covers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def signed_message(fields: dict[str, Any]) -> bytes:
    """What a checkpoint's signature covers: its canonical JSON without ``sig``."""
    return canonical({k: v for k, v in fields.items() if k != "sig"})


def manifest_message(manifest_bytes: bytes) -> bytes:
    """What a manifest signature covers: a domain tag and the exact bytes of manifest.json."""
    return MANIFEST_DOMAIN + manifest_bytes


# -- public keys and signatures ------------------------------------------------------------------


class CryptoUnavailable(Exception):
    """The ``cryptography`` package is needed to check a signature and is not installed."""


class PublicKey:
    """A trusted public key (SubjectPublicKeyInfo, PEM or DER) and its id, the sha256 of its DER."""

    def __init__(self, data: bytes) -> None:
        self.der = _der(data)
        self.key_id = hashlib.sha256(self.der).hexdigest()
        self._key: Any = None

    def verify(self, alg: str, signature: bytes, message: bytes) -> bool:
        try:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives.asymmetric import ec, ed25519
            from cryptography.hazmat.primitives.hashes import SHA256
            from cryptography.hazmat.primitives.serialization import load_der_public_key
        except ImportError as exc:
            raise CryptoUnavailable(str(exc)) from exc
        if self._key is None:
            self._key = load_der_public_key(self.der)
        key = self._key
        try:
            if alg == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, message)
                return True
            if alg == "ecdsa-p256-sha256" and isinstance(key, ec.EllipticCurvePublicKey):
                if key.curve.name != "secp256r1":
                    return False
                key.verify(signature, message, ec.ECDSA(SHA256()))
                return True
        except InvalidSignature:
            return False
        return False


def _der(data: bytes) -> bytes:
    text = data.strip()
    if text.startswith(b"-----BEGIN PUBLIC KEY-----"):
        end = text.find(b"-----END PUBLIC KEY-----")
        if end < 0:
            raise ValueError("PEM public key without its END line")
        body = b"".join(text[len(b"-----BEGIN PUBLIC KEY-----") : end].split())
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"PEM public key is not valid base64: {exc}") from exc
    elif text.startswith(b"-----BEGIN"):
        raise ValueError("not a public key (expected -----BEGIN PUBLIC KEY-----; is this the private key?)")
    else:
        der = data
    if len(der) < 16 or der[0] != 0x30:
        raise ValueError("not a public key: expected a PEM or DER SubjectPublicKeyInfo")
    return der


class Keyring:
    """The public keys an auditor trusts, by key id: one key, or the keys of a rotation."""

    def __init__(self, keys: Iterable[PublicKey]) -> None:
        self.keys: dict[str, PublicKey] = {}
        for key in keys:
            self.keys.setdefault(key.key_id, key)
        if not self.keys:
            raise ValueError("no public key given")

    def get(self, key_id: str) -> PublicKey | None:
        return self.keys.get(key_id)

    def __len__(self) -> int:
        return len(self.keys)


KEY_SUFFIXES = (".pub", ".pem", ".der")
_PEM_BEGIN = b"-----BEGIN PUBLIC KEY-----"
_PEM_END = b"-----END PUBLIC KEY-----"


def public_keys_in(data: bytes) -> list[PublicKey]:
    """The keys in a file's bytes: one DER key, or one or more PEM public keys one after another."""
    text = data.strip()
    if not text.startswith(b"-----BEGIN"):
        return [PublicKey(data)]
    keys = []
    while text:
        if not text.startswith(b"-----BEGIN"):
            raise ValueError("text between PEM public keys")
        if not text.startswith(_PEM_BEGIN):
            _der(text)  # names what the block is instead
        end = text.find(_PEM_END)
        if end < 0:
            raise ValueError("PEM public key without its END line")
        keys.append(PublicKey(text[: end + len(_PEM_END)]))
        text = text[end + len(_PEM_END) :].strip()
    return keys


def open_regular(path: str) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file; ValueError if it is not (a FIFO put in place of a
    log, a head, a bundle member or a key would make a reader wait for a writer forever)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def _read_key_file(path: str) -> bytes:
    try:
        f = open_regular(path)
    except ValueError:
        raise ValueError("not a regular file") from None
    with f:
        data = f.read(MAX_SMALL + 1)
    if len(data) > MAX_SMALL:
        raise ValueError("file is too large to be a public key")
    return data


def load_public_key(path: str) -> PublicKey:
    """The one key in ``path``; raises ValueError (or OSError) naming what is wrong."""
    keys = public_keys_in(_read_key_file(path))
    if len(keys) != 1:
        raise ValueError(f"holds {len(keys)} public keys, expected one")
    return keys[0]


def load_public_keys(path: str) -> list[PublicKey]:
    """The keys of one ``--public-key``: a key file (PEM or DER), a file of several PEM keys, or a
    directory, whose ``*.pub``, ``*.pem`` and ``*.der`` files are read (others are ignored).
    Raises ValueError (or OSError) naming the file and what is wrong."""
    if not os.path.isdir(path):
        return public_keys_in(_read_key_file(path))
    keys = []
    names = sorted(n for n in os.listdir(path) if n.endswith(KEY_SUFFIXES))
    for name in names:
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            continue
        try:
            keys += public_keys_in(_read_key_file(file))
        except (OSError, ValueError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ValueError(f"{name}: {detail}") from None
    if not keys:
        raise ValueError("directory holds no public key files ({})".format(", ".join("*" + s for s in KEY_SUFFIXES)))
    return keys


PUBLIC_KEY_HELP = (
    "a public key you hold (PEM or DER), a file of several PEM keys, or a directory of *.pub, *.pem and *.der "
    "files; repeat it for the keys of a rotation: every record must be covered by a checkpoint signed with one "
    "of them"
)


def load_keyring(paths: Iterable[str]) -> Keyring:
    """The keys of every ``--public-key`` given; ValueError naming the option and file that fails."""
    keys: list[PublicKey] = []
    for path in paths:
        try:
            keys += load_public_keys(path)
        except (OSError, ValueError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ValueError(f"--public-key {path}: {detail}") from None
    return Keyring(keys)


def keyring(key: PublicKey | Keyring | None) -> Keyring | None:
    """One key or several as a :class:`Keyring` (None stays None)."""
    if key is None or isinstance(key, Keyring):
        return key
    return Keyring([key])


def _short(key_ids: Iterable[str]) -> str:
    return ", ".join(k[:16] for k in key_ids)


def parse_trusted_head(text: str) -> str:
    value = text.strip().lower()
    if value.startswith("sha256:"):
        value = value[len("sha256:") :]
    if not HEX64.match(value):
        raise ValueError("expected the 64 hex digits of a record hash")
    return value


# -- reading bundles without trusting them -------------------------------------------------------


class _Source:
    """The files of a bundle (a directory or a zip), read with bounds."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.infos: dict[str, zipfile.ZipInfo] = {}
        if os.path.isdir(path):
            return
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
            raise _malformed("bundle", f"not a readable zip file ({exc})") from None
        self.zip = zf
        for info in zf.infolist():
            if info.filename in self.infos:
                raise _malformed("bundle", f"duplicate member {info.filename} (readers disagree on which copy counts)")
            self.infos[info.filename] = info
        for name, info in self.infos.items():
            if name not in MEMBERS:
                raise _malformed("bundle", f"unexpected member {name!r}")
            if info.flag_bits & 0x1:
                raise _malformed(name, "encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _malformed(name, f"unsupported compression method {info.compress_type}")
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise Broken(
                    Failure(
                        "zip-bomb",
                        0,
                        None,
                        None,
                        f"{name} inflates from {info.compress_size} to {info.file_size} bytes "
                        f"(more than {MAX_RATIO}x): refused",
                    )
                )

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()

    def check_layout(self) -> None:
        """A bundle zip of format 2 is exactly what typedflow writes: stored members with fixed
        metadata, one after another, then the central directory that repeats each local header,
        then its end record. Every byte is then either a member's content, which the manifest's
        digests and signature cover, or structure with one allowed value."""
        if self.zip is None:
            return
        with open(self.path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size < _END.size:
                raise _malformed("bundle", "too short for a zip file")
            f.seek(size - _END.size)
            sig, disk, cd_disk, n_disk, n, cd_size, cd_offset, comment = _END.unpack(f.read(_END.size))
            if (sig, disk, cd_disk, comment) != (b"PK\x05\x06", 0, 0, 0) or not n_disk == n == len(self.infos):
                raise _malformed("bundle", "unexpected end-of-central-directory record")
            if cd_offset + cd_size + _END.size != size or cd_size > 1 << 16:
                raise _malformed("bundle", "bytes outside the zip's entries and directory")
            f.seek(cd_offset)
            directory = f.read(cd_size)
            pos = 0
            offset = 0  # where the next local header must start
            for _ in range(n):
                fields = _CENTRAL.unpack_from(directory, pos) if pos + _CENTRAL.size <= cd_size else None
                if fields is None:
                    raise _malformed("bundle", "truncated central directory")
                sig, cver, csys, xver, xsys, flags, method, tm, dt, crc, csize, usize, nlen, elen, clen = fields[:15]
                disk_start, iattr, eattr, local = fields[15:]
                name = directory[pos + _CENTRAL.size : pos + _CENTRAL.size + nlen]
                pos += _CENTRAL.size + nlen + elen + clen
                expected = (b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0x21, 0, 0, 0, 0, _ATTR, offset, csize)
                actual = (sig, cver, csys, xver, xsys, flags, method, tm, dt, elen, clen, disk_start, iattr, eattr)
                if (*actual, local, usize) != expected:
                    raise _malformed("bundle", f"member {name!r} is not stored the way typedflow stores it")
                f.seek(local)
                header = f.read(_LOCAL.size + nlen)
                if len(header) < _LOCAL.size or _LOCAL.unpack_from(header) != (
                    b"PK\x03\x04",
                    20,
                    0,
                    0,
                    0,
                    0x21,
                    crc,
                    csize,
                    usize,
                    nlen,
                    0,
                ):
                    raise _malformed("bundle", f"local header of {name!r} differs from the central directory")
                if header[_LOCAL.size :] != name:
                    raise _malformed("bundle", f"local name of {name!r} differs from the central directory")
                offset = local + _LOCAL.size + nlen + csize
            if pos != cd_size or offset != cd_offset:
                raise _malformed("bundle", "bytes outside the zip's entries and directory")

    def has(self, name: str) -> bool:
        if self.zip is not None:
            return name in self.infos
        return os.path.isfile(os.path.join(self.path, name))

    def size(self, name: str) -> int:
        if self.zip is not None:
            return self.infos[name].file_size
        return os.path.getsize(os.path.join(self.path, name))

    def open(self, name: str) -> _Stream:
        if not self.has(name):
            raise _malformed("bundle", f"missing member {name}")
        try:
            if self.zip is not None:
                return _Stream(name, self.zip.open(self.infos[name]))
            return _Stream(name, open_regular(os.path.join(self.path, name)))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise _malformed(name, f"unreadable ({exc})") from None

    def read(self, name: str, limit: int) -> bytes:
        if not self.has(name):
            raise _malformed("bundle", f"missing member {name}")
        if self.size(name) > limit:
            raise _malformed(name, f"larger than {limit} bytes")
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise _malformed(name, f"larger than {limit} bytes")
        return data


class _Stream:
    """A member's bytes; decompression errors become a FAIL naming the member."""

    def __init__(self, name: str, raw: IO[bytes]) -> None:
        self.name = name
        self.raw = raw

    def read(self, n: int) -> bytes:
        try:
            return self.raw.read(n)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            raise _malformed(self.name, f"corrupt ({exc})") from None

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()


if TYPE_CHECKING:
    Opener = Callable[[], _Stream]


def _file_opener(path: str) -> Opener:
    def open_file() -> _Stream:
        return _Stream(os.path.basename(path), open_regular(path))

    return open_file


# -- the chain -------------------------------------------------------------------------------------


class _Scan:
    def __init__(self) -> None:
        self.count = 0
        self.last_hash = GENESIS
        self.bad_index: int | None = None
        self.bad_detail = ""
        self.fragment = b""
        self.watched: dict[int, str] = {}
        self.trusted_seq: int | None = None
        self.sha256 = ""


def _canonical_problem(line: bytes) -> str:
    try:
        data = _json(line)
    except ValueError as exc:
        return f"line does not parse: {exc}"
    if not isinstance(data, dict):
        return "line is not a JSON object"
    try:
        if canonical(data) != line:
            return "line is not the canonical JSON of its record"
    except ValueError as exc:
        return f"line is not canonical JSON: {exc}"
    return ""


def _scan(
    stream: _Stream,
    first_seq: int,
    first_prev: str,
    canonical_check: bool,
    watch: set[int],
    trusted: str | None,
    file_digest: bool,
) -> _Scan:
    """One pass over raw lines: hash each, check seq and prev_hash (optionally canonical form)."""
    sha = hashlib.sha256
    whole = sha()
    prev = first_prev.encode("ascii")
    seq = first_seq
    index = 0
    rest = b""
    result = _Scan()
    watched = result.watched
    while True:
        block = stream.read(BLOCK)
        if not block:
            break
        if file_digest:
            whole.update(block)
        if result.bad_index is not None:
            if not file_digest:
                break
            continue  # keep hashing the file for its digest; the diagnosis rereads it
        lines = (rest + block).split(b"\n") if rest else block.split(b"\n")
        rest = lines.pop()
        if len(rest) > MAX_LINE:
            raise Broken(Failure("malformed", index + len(lines) + 1, None, None, f"line longer than {MAX_LINE} bytes"))
        for line in lines:
            if len(line) > MAX_LINE:
                raise Broken(Failure("malformed", index + 1, None, None, f"line longer than {MAX_LINE} bytes"))
            i = line.rfind(PREV_MARK)
            if i < 0 or line[i + _P0 : i + _P1] != prev or line[i + _P1 : i + _P1 + 1] != b'"':
                result.bad_index, result.bad_detail = index, "prev_hash does not match the previous line"
                break
            j = line.rfind(SEQ_MARK)
            if j < 0 or not line.startswith(b',"seq":%d,' % seq, j):
                result.bad_index, result.bad_detail = index, f"expected seq {seq}"
                break
            if canonical_check:
                problem = _canonical_problem(line)
                if problem:
                    result.bad_index, result.bad_detail = index, problem
                    break
            digest = sha(line).hexdigest()
            if seq in watch:
                watched[seq] = digest
            if digest == trusted:
                result.trusted_seq = seq
            prev = digest.encode("ascii")
            seq += 1
            index += 1
    result.count = index
    result.last_hash = prev.decode("ascii")
    result.fragment = rest
    result.sha256 = whole.hexdigest() if file_digest else ""
    return result


def line_fields(line: bytes) -> tuple[int, str]:
    """(seq, prev_hash) of a canonical record line without parsing the whole JSON."""
    # Canonical JSON sorts keys and nothing after "prev_hash" or "seq" is an object, so the last
    # occurrence of these markers is the top-level field (inside strings every quote is escaped).
    i = line.rfind(PREV_MARK)
    j = line.rfind(SEQ_MARK)
    if i < 0 or j < 0:
        raise ValueError("not a lineage record line")
    start = i + _P0
    end = line.find(b'"', start)
    k = line.find(b",", j + len(SEQ_MARK))
    if end < 0 or k < 0:
        raise ValueError("not a lineage record line")
    return int(line[j + len(SEQ_MARK) : k]), line[start:end].decode("ascii")


def record_id_of(raw: bytes) -> str | None:
    # The last occurrence is the top-level key: only scalars follow it in canonical order.
    i = raw.rfind(RECORD_MARK)
    if i < 0:
        return None
    start = i + len(RECORD_MARK)
    end = raw.find(b'"', start)
    return raw[start:end].decode("utf-8", "replace") if end > 0 else None


class _Line(NamedTuple):
    seq: int | None
    prev: str | None
    hash: str
    record_id: str | None


def _iter_lines(stream: _Stream) -> Iterator[bytes]:
    rest = b""
    while True:
        block = stream.read(BLOCK)
        if not block:
            return
        parts = (rest + block).split(b"\n")
        rest = parts.pop()
        if len(rest) > MAX_LINE:
            return
        yield from parts


def _read_lines(open_records: Opener) -> list[_Line]:
    out: list[_Line] = []
    with open_records() as stream:
        for raw in _iter_lines(stream):
            seq: int | None
            prev: str | None
            try:
                seq, prev = line_fields(raw)
            except ValueError:
                seq, prev = None, None
            out.append(_Line(seq, prev, hashlib.sha256(raw).hexdigest(), record_id_of(raw)))
    return out


def _line_at(open_records: Opener, index: int) -> _Line | None:
    with open_records() as stream:
        for k, raw in enumerate(_iter_lines(stream)):
            if k == index:
                try:
                    seq: int | None = line_fields(raw)[0]
                except ValueError:
                    seq = None
                return _Line(seq, None, "", record_id_of(raw))
    return None


def _named(open_records: Opener, failure: Failure, count: int) -> Failure:
    """``failure`` with the seq and record id of the line it names, when that line exists."""
    if failure.record_id is None and 1 <= failure.line <= count:
        found = _line_at(open_records, failure.line - 1)
        if found is not None:
            return failure._replace(seq=found.seq, record_id=found.record_id)
    return failure


class Head(NamedTuple):
    seq: int
    hash: str
    records: int


def _diagnose(lines: list[_Line], i: int, first_seq: int, first_prev: str, head: Head | None, detail: str) -> Failure:
    """Classify the first broken link at index ``i`` using the whole file."""

    def fail(reason: str, k: int, why: str) -> Failure:
        ln = lines[k]
        return Failure(reason, k + 1, ln.seq, ln.record_id, why)

    def link_ok(k: int) -> bool:
        return lines[k].prev == (lines[k - 1].hash if k > 0 else first_prev)

    def successor_ok(k: int) -> bool:
        """Whether the record after line k (or the head) still names line k."""
        if k + 1 < len(lines):
            return lines[k + 1].prev == lines[k].hash
        return head is None or head.hash == lines[k].hash

    if i >= len(lines):
        return Failure("malformed", i + 1, None, None, detail)
    cur = lines[i]
    expected_seq = first_seq + i
    if cur.seq is None or cur.prev is None:
        return fail("edited", i, "line is not a lineage record (" + detail + ")")
    if link_ok(i):
        if cur.seq != expected_seq:
            return fail("edited", i, f"seq field changed: expected {expected_seq}, found {cur.seq}")
        return fail("edited", i, detail)  # the canonical check failed on an otherwise chained line
    by_hash = {ln.hash: k for k, ln in enumerate(lines)}
    if i > 0 and cur.prev == lines[i - 1].prev:
        # Two records claim the same predecessor: one was inserted; the genuine one is still
        # named by its successor.
        forged = i - 1 if successor_ok(i) else i
        return fail("inserted", forged, "record is not part of the chain (a forged record with its own hash)")
    target = by_hash.get(cur.prev)
    if target is not None:
        if target > i:
            return fail("reordered", i, f"its predecessor is line {target + 1}, found later in the file")
        if target < i - 1:
            return fail(
                "inserted",
                target + 1,
                f"line(s) {target + 2}..{i} sit between line {target + 1} and the record chained to it",
            )
    if cur.seq > expected_seq:
        missing = f"seq {expected_seq}" if cur.seq == expected_seq + 1 else f"seqs {expected_seq}..{cur.seq - 1}"
        return fail("deleted", i, f"{missing} missing before this record")
    if cur.seq < expected_seq:
        return fail("reordered", i, f"seq {cur.seq} appears where seq {expected_seq} belongs")
    if not successor_ok(i):
        return fail("edited", i, "record bytes changed (its hash is no longer what the chain names)")
    if i == 0:
        return fail("edited", i, "first record does not start from the expected anchor")
    return fail("edited", i - 1, "record bytes changed (its hash is no longer what the next record names)")


class _Chain(NamedTuple):
    scan: _Scan
    failure: Failure | None
    warnings: list[str]


def _check_chain(
    open_records: Opener,
    *,
    first_seq: int,
    first_prev: str,
    head: Head | None,
    canonical_check: bool,
    head_label: str,
    exact: bool,
    watch: set[int],
    trusted: str | None,
    file_digest: bool,
) -> _Chain:
    """Scan, then check the end against the head. ``exact`` (bundles): nothing may follow the head."""
    if head is not None:
        watch = watch | {head.seq}
    with open_records() as stream:
        scan = _scan(stream, first_seq, first_prev, canonical_check, watch, trusted, file_digest)
    if scan.bad_index is not None:
        lines = _read_lines(open_records)
        return _Chain(scan, _diagnose(lines, scan.bad_index, first_seq, first_prev, head, scan.bad_detail), [])
    last_seq = first_seq + scan.count - 1
    warnings: list[str] = []
    failure: Failure | None = None
    frag_id = record_id_of(scan.fragment)
    if head is None:
        if scan.count:
            failure = Failure(
                "head-missing",
                scan.count,
                last_seq,
                None,
                f"no {head_label}: a truncated tail cannot be ruled out",
            )
    elif head.records != head.seq - first_seq + 1:
        failure = Failure("head-mismatch", scan.count, head.seq, None, f"{head_label} is inconsistent")
    elif head.seq > last_seq:
        failure = Failure(
            "truncated",
            scan.count + 1,
            first_seq + scan.count,
            frag_id,
            f"{head.seq - last_seq} record(s) up to seq {head.seq} named by the {head_label} are missing",
        )
    elif head.seq == last_seq:
        if head.hash != scan.last_hash:
            failure = Failure("edited", scan.count, last_seq, None, f"last record does not match the {head_label}")
    elif scan.watched.get(head.seq) != head.hash:
        failure = Failure("edited", head.seq - first_seq + 1, head.seq, None, f"record does not match the {head_label}")
    elif exact:
        failure = Failure(
            "inserted",
            head.seq - first_seq + 2,
            head.seq + 1,
            None,
            f"records follow the last one the {head_label} names",
        )
    else:
        warnings.append(
            f"{head_label} is {last_seq - head.seq} record(s) behind the log (records committed since the "
            "last head update, or a crash before it; the next flush or close rolls it forward)"
        )
    if failure is None and scan.fragment and not _torn_record(scan.fragment):
        failure = Failure(
            "edited",
            scan.count + 1,
            None,
            None,
            f"the file ends with {len(scan.fragment)} bytes that are not the start of a record",
        )
    if failure is None and scan.fragment:
        if exact:
            failure = Failure(
                "truncated", scan.count + 1, first_seq + scan.count, frag_id, "records file ends inside a line"
            )
        else:
            warnings.append(
                f"trailing partial line of {len(scan.fragment)} bytes "
                "(an interrupted write; reopening the log sets it aside)"
            )
    if failure is not None:
        failure = _named(open_records, failure, scan.count)
    return _Chain(scan, failure, warnings)


def _torn_record(fragment: bytes) -> bool:
    """Whether an unterminated end can be a record's line cut short by a crash: it starts as every record
    does, or is the zeros a file system may leave where data it had not written yet was to go."""
    return fragment[:2] == b'{"'[: len(fragment[:2])] or not fragment.strip(b"\0")


# -- checkpoints -------------------------------------------------------------------------------------


class Checkpoint(NamedTuple):
    """A signed statement that the records ``start..seq`` were appended by the signer and that the
    chain up to ``seq`` ends with the record whose hash is ``head``."""

    line: int  # 1-based line in the checkpoints file
    start: int  # "from": the first record the signer appended (start == seq + 1: none)
    seq: int
    head: str
    key_id: str
    alg: str
    signature: bytes
    message: bytes
    time: str


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_checkpoint(data: object) -> Checkpoint | str:
    """The checkpoint in a parsed JSON line, or why it is not one."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("type") != CHECKPOINT_TYPE:
        return f"type is not {CHECKPOINT_TYPE}"
    keys = {"alg", "from", "head", "key_id", "seq", "sig", "time", "type"}
    if set(data) != keys:
        return "fields must be exactly {}".format(", ".join(sorted(keys)))
    start, seq = data["from"], data["seq"]
    if not (_int(start) and _int(seq) and 0 <= start <= seq + 1):
        return "from/seq must be integers with 0 <= from <= seq + 1"
    for name in ("head", "key_id"):
        if not (isinstance(data[name], str) and HEX64.match(data[name])):
            return f"{name} must be 64 hex digits"
    if data["alg"] not in ALGORITHMS:
        return "alg must be one of {}".format(", ".join(ALGORITHMS))
    if not isinstance(data["time"], str):
        return "time must be a string"
    try:
        sig = base64.b64decode(str(data["sig"]), validate=True)
    except (binascii.Error, ValueError):
        return "sig is not base64"
    return Checkpoint(0, start, seq, data["head"], data["key_id"], data["alg"], sig, signed_message(data), data["time"])


def parse_checkpoints(data: bytes, where: str, *, exact: bool) -> tuple[list[Checkpoint], list[str]]:
    """Every checkpoint of a checkpoints file. A torn last line is a warning in a live log
    (``exact`` False) and a failure in a bundle; any other bad line fails."""
    out: list[Checkpoint] = []
    warnings: list[str] = []
    lines = data.split(b"\n")
    tail = lines.pop()
    if tail:
        if exact:
            raise _malformed(where, "ends inside a line")
        warnings.append(f"{where}: trailing partial line of {len(tail)} bytes (an interrupted write)")
    for n, raw in enumerate(lines, start=1):
        try:
            data = _json(raw)
        except ValueError as exc:
            raise _malformed(where, f"line {n} does not parse ({exc})") from None
        parsed = parse_checkpoint(data)
        if isinstance(parsed, str):
            raise _malformed(where, f"line {n}: not a checkpoint: {parsed}")
        if canonical(data) != raw:
            raise _malformed(where, f"line {n}: not canonical JSON")
        out.append(parsed._replace(line=n))
    return out, warnings


class Repair(NamedTuple):
    line: int
    time: str
    kind: str
    seq: int
    checkpoints: int  # checkpoint lines written before the repair
    detail: str


def parse_repairs(data: bytes, where: str) -> tuple[list[Repair], list[str]]:
    out: list[Repair] = []
    warnings: list[str] = []
    lines = data.split(b"\n")
    if lines.pop():
        warnings.append(f"{where}: trailing partial line (an interrupted write)")
    for n, raw in enumerate(lines, start=1):
        try:
            d = _json(raw)
        except ValueError as exc:
            raise _malformed(where, f"line {n} does not parse ({exc})") from None
        if not (
            isinstance(d, dict)
            and _int(d.get("seq"))
            and _int(d.get("checkpoints"))
            and all(isinstance(d.get(k), str) for k in ("time", "kind", "detail"))
        ):
            raise _malformed(where, f"line {n}: not a repair entry")
        out.append(Repair(n, d["time"], d["kind"], d["seq"], d["checkpoints"], d["detail"]))
    return out, warnings


class _Anchors(NamedTuple):
    failure: Failure | None
    warnings: list[str]
    anchor: str
    counted: list[Checkpoint]  # matching the chain, and signed with a trusted key when keys are given


def _check_anchors(
    open_records: Opener,
    chain: _Chain,
    checkpoints: list[Checkpoint],
    *,
    first_seq: int,
    first_prev: str,
    key: Keyring | None,
    trusted: str | None,
    where: str,
) -> _Anchors:
    """Checkpoints against the chain, their signatures, and which records nothing anchors."""
    scan = chain.scan
    count = scan.count
    last_seq = first_seq + count - 1
    warnings: list[str] = []
    counted: list[Checkpoint] = []
    foreign: dict[str, list[Checkpoint]] = {}

    def at(seq: int, reason: str, detail: str) -> _Anchors:
        failure = _named(open_records, Failure(reason, seq - first_seq + 1, seq, None, detail), count)
        return _Anchors(failure, warnings, "", counted)

    for cp in checkpoints:
        label = f"{where} line {cp.line}"
        if cp.seq < first_seq:
            return _Anchors(
                Failure("malformed", 0, None, None, f"{label}: signs seq {cp.seq}, before the first record"),
                warnings,
                "",
                counted,
            )
        if cp.seq > last_seq:
            failure = Failure(
                "truncated",
                count + 1,
                last_seq + 1,
                record_id_of(scan.fragment),
                f"{label} signs records up to seq {cp.seq}, but the records end at seq {last_seq}: "
                f"{cp.seq - last_seq} signed record(s) are missing",
            )
            return _Anchors(failure, warnings, "", counted)
        if scan.watched.get(cp.seq) != cp.head:
            return at(
                cp.seq,
                "rewritten",
                f"record does not match the head signed by {label} (the chain up to here was rewritten)",
            )
        if key is not None:
            public = key.get(cp.key_id)
            if public is None:
                foreign.setdefault(cp.key_id, []).append(cp)
                continue
            if not public.verify(cp.alg, cp.signature, cp.message):
                return at(cp.seq, "forged", f"the signature of {label} does not verify with the trusted key")
        counted.append(cp)
    for key_id, cps in sorted(foreign.items()):
        warnings.append(f"{len(cps)} checkpoint(s) signed by another key ({key_id}) were not counted")

    trusted_seq: int | None = None
    if trusted is not None:
        if scan.trusted_seq is not None:
            trusted_seq = scan.trusted_seq
        elif trusted == first_prev:
            trusted_seq = first_seq - 1
        else:
            failure = Failure(
                "untrusted",
                0,
                None,
                None,
                f"the chain does not reach the trusted head {trusted} (history was rewritten or records are missing)",
            )
            return _Anchors(failure, warnings, "", counted)

    # Records covered: those a counted checkpoint's signer appended, and those the trusted head pins.
    spans = sorted((max(cp.start, first_seq), cp.seq) for cp in counted if cp.start <= cp.seq)
    if trusted_seq is not None and trusted_seq >= first_seq:
        spans.append((first_seq, trusted_seq))
        spans.sort()
    gaps: list[tuple[int, int]] = []
    nxt = first_seq
    for a, b in spans:
        if a > nxt:
            gaps.append((nxt, a - 1))
        nxt = max(nxt, b + 1)
    if nxt <= last_seq:
        gaps.append((nxt, last_seq))
    anchored = key is not None or trusted is not None
    if gaps:
        a, b = gaps[0]
        lines = f"line {a - first_seq + 1}" if a == b else f"lines {a - first_seq + 1}..{b - first_seq + 1}"
        total = sum(y - x + 1 for x, y in gaps)
        if anchored:
            by = []
            if key is not None:
                by.append("a checkpoint signed with " + ("the trusted key" if len(key) == 1 else "a trusted key"))
            if trusted is not None:
                by.append("the trusted head")
            detail = "not covered by {}: {} unanchored ({} record(s) in all)".format(" or ".join(by), lines, total)
            # A rotation the auditor was not told about: name the key that signed the first of them.
            signed = [c for cps in foreign.values() for c in cps if c.start <= a <= c.seq]
            if signed:
                cp = min(signed, key=lambda c: c.line)
                detail += (
                    f"; {where} line {cp.line} signs it with key {cp.key_id}, which is not among the "
                    "trusted keys (pass its public key too if it is yours)"
                )
            return at(a, "unanchored", detail)
        if checkpoints:
            warnings.append(
                f"{total} record(s) are not covered by any checkpoint, first at {lines} (with --public-key they fail)"
            )
    parts = []
    if key is not None:
        used: dict[str, int] = {}
        for cp in counted:
            used[cp.key_id] = used.get(cp.key_id, 0) + 1
        if len(used) <= 1:
            signer = next(iter(used), next(iter(key.keys)))
            parts.append(f"every record signed by key {signer[:16]} ({len(counted)} checkpoint(s))")
        else:
            by_key = ", ".join(f"{k[:16]} ({n} checkpoint(s))" for k, n in used.items())
            parts.append(f"every record signed by trusted keys {by_key}")
    if trusted_seq is not None:
        parts.append(f"trusted head at seq {trusted_seq}")
    return _Anchors(None, warnings, ", ".join(parts), counted)


# -- logs ------------------------------------------------------------------------------------------


def read_head_file(path: str) -> Head | None:
    """The head file of a log, or None; raises ValueError if it is unreadable."""
    try:
        with open_regular(path) as f:
            raw = f.read(MAX_SMALL)
    except FileNotFoundError:
        return None
    data = _json(raw)
    if not isinstance(data, dict):
        raise ValueError("head file is not a JSON object")
    seq, hash_, count = data.get("seq"), data.get("hash"), data.get("count")
    if not (isinstance(seq, int) and isinstance(hash_, str) and isinstance(count, int)):
        raise ValueError("head file lacks seq/hash/count")
    return Head(seq, hash_, count)


def _read_side_file(path: str, limit: int) -> bytes | None:
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return None
    if size > limit:
        raise _malformed(os.path.basename(path), f"larger than {limit} bytes")
    try:
        f = open_regular(path)
    except ValueError as exc:
        raise _malformed(os.path.basename(path), str(exc)) from None
    with f:
        return f.read(limit)


def verify_log(
    path: str,
    *,
    head: Head | None = None,
    canonical_check: bool = False,
    key: PublicKey | Keyring | None = None,
    trusted: str | None = None,
) -> Result:
    """Verify a log file against its head file (or ``head``), its checkpoints and its repairs;
    ``key``: the public key, or the keys of a rotation, every checkpoint must be signed with."""
    try:
        return _verify_log(path, head, canonical_check, keyring(key), trusted)
    except Broken as exc:
        return Result(False, 0, GENESIS, 0, exc.failure, (), "")
    except CryptoUnavailable as exc:
        return Result(False, 0, GENESIS, 0, _no_crypto(exc), (), "")
    except Exception as exc:  # whatever else untrusted bytes provoke is a verdict, never a traceback
        return Result(False, 0, GENESIS, 0, _unreadable(exc), (), "")


def _unreadable(exc: Exception) -> Failure:
    return Failure("malformed", 0, None, None, f"unreadable ({type(exc).__name__}: {exc})")


def _no_crypto(exc: Exception) -> Failure:
    return Failure(
        "unverifiable",
        0,
        None,
        None,
        f"checking signatures needs the Python package 'cryptography' ({exc}); install it with "
        "'pip install cryptography'. Nothing was passed unchecked",
    )


def _verify_log(
    path: str, head: Head | None, canonical_check: bool, key: Keyring | None, trusted: str | None
) -> Result:
    if head is None:
        try:
            head = read_head_file(path + ".head")
        except ValueError as exc:
            return Result(
                False, 0, GENESIS, 0, Failure("head-mismatch", 0, None, None, f"unreadable head: {exc}"), (), ""
            )
    warnings: list[str] = []
    cp_data = _read_side_file(path + ".checkpoints", MAX_CHECKPOINTS)
    checkpoints: list[Checkpoint] = []
    if cp_data is not None:
        checkpoints, more = parse_checkpoints(cp_data, os.path.basename(path) + ".checkpoints", exact=False)
        warnings += more
    rp_data = _read_side_file(path + ".repairs", MAX_CHECKPOINTS)
    repairs: list[Repair] = []
    if rp_data is not None:
        repairs, more = parse_repairs(rp_data, os.path.basename(path) + ".repairs")
        warnings += more
    opener = _file_opener(path)
    watch = {cp.seq for cp in checkpoints}
    chain = _check_chain(
        opener,
        first_seq=0,
        first_prev=GENESIS,
        head=head,
        canonical_check=canonical_check,
        head_label="head file",
        exact=False,
        watch=watch,
        trusted=trusted,
        file_digest=False,
    )
    scan = chain.scan
    warnings += chain.warnings
    failure = chain.failure
    if failure is not None and failure.reason != "head-missing":
        return Result(False, scan.count, scan.last_hash, 0, failure, tuple(warnings), "")
    anchors = _check_anchors(
        opener, chain, checkpoints, first_seq=0, first_prev=GENESIS, key=key, trusted=trusted, where="checkpoints"
    )
    warnings += anchors.warnings
    if anchors.failure is not None:
        return Result(False, scan.count, scan.last_hash, 0, anchors.failure, tuple(warnings), "")
    if failure is not None:  # no head file: an anchor covering the last record stands in for it
        if not (key is not None or trusted is not None):
            return Result(False, scan.count, scan.last_hash, 0, failure, tuple(warnings), "")
        warnings.append("no head file; the anchor covers the last record")
    for rp in repairs:
        covered = any(cp.line > rp.checkpoints and cp.seq >= rp.seq for cp in anchors.counted)
        if not covered:
            detail = (
                f"the log was repaired on open at {rp.time} ({rp.kind}): {rp.detail}; "
                "no later signed checkpoint covers the repaired state"
            )
            failure = _named(opener, Failure("repaired", rp.seq + 1, rp.seq, None, detail), scan.count)
            return Result(False, scan.count, scan.last_hash, 0, failure, tuple(warnings), "")
        warnings.append(f"repaired on open at {rp.time} ({rp.kind}), covered by a later signed checkpoint")
    return Result(True, scan.count, scan.last_hash, 0, None, tuple(warnings), anchors.anchor)


# -- bundles ---------------------------------------------------------------------------------------


def _field(manifest: dict[str, Any], name: str, check: Callable[[Any], bool], what: str) -> Any:
    value = manifest.get(name)
    if not check(value):
        raise _malformed(MANIFEST, f"field {name!r} must be {what}")
    return value


def _hex(value: object) -> bool:
    return isinstance(value, str) and HEX64.match(value) is not None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_bundle(path: str, *, key: PublicKey | Keyring | None = None, trusted: str | None = None) -> Result:
    """Verify a bundle directory or zip against its manifest and, when given, the anchors."""
    try:
        source = _Source(path)
    except Broken as exc:
        return Result(False, 0, GENESIS, 0, exc.failure, (), "")
    except Exception as exc:
        return Result(False, 0, GENESIS, 0, _unreadable(exc), (), "")
    try:
        return _verify_bundle(source, keyring(key), trusted)
    except Broken as exc:
        return Result(False, 0, GENESIS, 0, exc.failure, (), "")
    except CryptoUnavailable as exc:
        return Result(False, 0, GENESIS, 0, _no_crypto(exc), (), "")
    except Exception as exc:  # whatever else untrusted bytes provoke is a verdict, never a traceback
        return Result(False, 0, GENESIS, 0, _unreadable(exc), (), "")
    finally:
        source.close()


def _verify_bundle(source: _Source, key: Keyring | None, trusted: str | None) -> Result:
    manifest_bytes = source.read(MANIFEST, MAX_SMALL)
    try:
        manifest = _json(manifest_bytes)
    except ValueError as exc:
        raise _malformed(MANIFEST, f"does not parse ({exc})") from None
    if not isinstance(manifest, dict):
        raise _malformed(MANIFEST, "is not a JSON object")
    fmt = _field(manifest, "format", lambda v: v in BUNDLE_FORMATS or v is None, "a known bundle format")
    v2 = fmt == BUNDLE_FORMATS[1]
    count = _field(manifest, "count", lambda v: _int(v) and v >= 0, "an integer >= 0")
    first_seq = _field(manifest, "first_seq", lambda v: _int(v) and v >= 0, "an integer >= 0")
    last_seq = _field(manifest, "last_seq", lambda v: _int(v) and v >= -1, "an integer >= -1")
    first_prev = _field(manifest, "first_prev_hash", _hex, "64 hex digits")
    head_hash = _field(manifest, "head_hash", _hex, "64 hex digits")
    records_sha = _field(manifest, "records_sha256", _hex, "64 hex digits")
    warnings: list[str] = []
    checkpoints: list[Checkpoint] = []
    cp_bytes = b""
    if v2:
        cp_sha = _field(manifest, "checkpoints_sha256", _hex, "64 hex digits")
        verifier_sha = _field(manifest, "verifier_sha256", _hex, "64 hex digits")
        signer = _field(manifest, "key_id", lambda v: v is None or _hex(v), "64 hex digits or null")
        source.check_layout()
        if source.has(SIGNATURE) != (signer is not None):
            raise _malformed("bundle", f"{SIGNATURE} must be present exactly when the manifest names a key_id")
        cp_bytes = source.read(CHECKPOINTS, MAX_CHECKPOINTS)
        checkpoints, _ = parse_checkpoints(cp_bytes, CHECKPOINTS, exact=True)
    else:
        cp_sha = verifier_sha = signer = None
        if source.has(CHECKPOINTS) or source.has(SIGNATURE):
            raise _malformed(MANIFEST, f"format {fmt} has no checkpoints or signature")
    if count == 0:
        head = Head(first_seq - 1, first_prev, 0)
    else:
        head = Head(last_seq, head_hash, count)

    def open_records() -> _Stream:
        return source.open(RECORDS)

    chain = _check_chain(
        open_records,
        first_seq=first_seq,
        first_prev=first_prev,
        head=head,
        canonical_check=True,
        head_label="manifest",
        exact=True,
        watch={cp.seq for cp in checkpoints},
        trusted=trusted,
        file_digest=True,
    )
    scan = chain.scan

    def failed(failure: Failure) -> Result:
        return Result(False, scan.count, scan.last_hash, first_seq, failure, tuple(warnings), "")

    if chain.failure is not None:
        return failed(chain.failure)
    if scan.sha256 != records_sha:
        return failed(Failure("manifest-mismatch", 0, None, None, "records.jsonl does not match the manifest's sha256"))
    if cp_sha is not None and _sha(cp_bytes) != cp_sha:
        return failed(
            Failure("manifest-mismatch", 0, None, None, "checkpoints.jsonl does not match the manifest's sha256")
        )
    anchors = _check_anchors(
        open_records,
        chain,
        checkpoints,
        first_seq=first_seq,
        first_prev=first_prev,
        key=key,
        trusted=trusted,
        where=CHECKPOINTS,
    )
    warnings += anchors.warnings
    if anchors.failure is not None:
        return failed(anchors.failure)
    anchor = anchors.anchor
    if key is not None:
        problem = _manifest_signature(source, manifest_bytes, signer, key)
        if problem:
            return failed(Failure("manifest-forged", 0, None, None, problem))
        anchor += ", manifest signed"
    elif signer is not None:
        warnings.append(f"the manifest is signed by key {signer}: pass --public-key to check it")
    if verifier_sha is not None:
        bundled = source.read(VERIFIER, MAX_SMALL)
        if _sha(bundled) != verifier_sha:
            return failed(
                Failure(
                    "verifier-replaced",
                    0,
                    None,
                    None,
                    f"{VERIFIER} in the bundle is not the one the manifest names (sha256 {_sha(bundled)}, "
                    f"manifest says {verifier_sha}); verify with your own copy",
                )
            )
    else:
        warnings.append(f"the manifest names no verifier digest (format {fmt})")
    if key is None and trusted is None:
        warnings.append(
            "not anchored: without --public-key or --trusted-head this shows only that the bundle is "
            "consistent with itself"
        )
    return Result(True, scan.count, scan.last_hash, first_seq, None, tuple(warnings), anchor)


def _manifest_signature(source: _Source, manifest_bytes: bytes, signer: str | None, keys: Keyring) -> str:
    """Why the manifest's signature does not hold with one of ``keys``, or ''."""
    if signer is None or not source.has(SIGNATURE):
        return "the manifest is not signed, so nothing vouches for the record count, head and digests"
    key = keys.get(signer)
    if key is None:
        if len(keys) == 1:
            return f"the manifest is signed by key {signer}, not by the trusted key {next(iter(keys.keys))}"
        return f"the manifest is signed by key {signer}, which is not among the trusted keys ({_short(keys.keys)})"
    raw_sig = source.read(SIGNATURE, MAX_SMALL)
    try:
        sig = _json(raw_sig)
    except ValueError as exc:
        raise _malformed(SIGNATURE, f"does not parse ({exc})") from None
    if not isinstance(sig, dict) or canonical(sig) + b"\n" != raw_sig:
        raise _malformed(SIGNATURE, "not one line of canonical JSON")
    if not (
        isinstance(sig, dict)
        and sig.get("type") == SIGNATURE_TYPE
        and sig.get("key_id") == signer
        and sig.get("alg") in ALGORITHMS
        and isinstance(sig.get("sig"), str)
    ):
        raise _malformed(SIGNATURE, "not a manifest signature")
    try:
        raw = base64.b64decode(sig["sig"], validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(SIGNATURE, "sig is not base64") from None
    if not key.verify(sig["alg"], raw, manifest_message(manifest_bytes)):
        return (
            "the manifest's signature does not verify with the trusted key "
            "(its records, count, head or digests changed)"
        )
    return ""


def iter_record_lines(path: str) -> Iterator[bytes]:
    """The lines of a bundle's records.jsonl or of a log, read with the same bounds as verification."""
    if is_bundle(path):
        source = _Source(path)
        try:
            with source.open(RECORDS) as stream:
                yield from _iter_lines(stream)
        finally:
            source.close()
    else:
        with _file_opener(path)() as stream:
            yield from _iter_lines(stream)


def is_bundle(path: str) -> bool:
    if os.path.isdir(path):
        return os.path.exists(os.path.join(path, MANIFEST))
    if path.endswith(".zip"):
        return True
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def verify(path: str, *, key: PublicKey | Keyring | None = None, trusted: str | None = None) -> Result:
    """A bundle (directory or zip) or a log file."""
    if is_bundle(path):
        return verify_bundle(path, key=key, trusted=trusted)
    if not os.path.isfile(path):
        return Result(False, 0, GENESIS, 0, Failure("missing", 0, None, None, f"{path} is not a file"), (), "")
    return verify_log(path, key=key, trusted=trusted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_bundle.py",
        description="Verify a typedflow lineage bundle (directory or .zip) or log: the hash chain, the manifest, "
        "and signed checkpoints or a head you recorded earlier.",
    )
    parser.add_argument("target", metavar="BUNDLE_OR_LOG")
    parser.add_argument(
        "--public-key",
        metavar="PUB",
        action="append",
        help=PUBLIC_KEY_HELP + " (needs the 'cryptography' package)",
    )
    parser.add_argument(
        "--trusted-head",
        metavar="HASH",
        help="a record hash you recorded earlier: the chain must reach exactly that record",
    )
    args = parser.parse_args(argv)
    key = None
    trusted = None
    try:
        if args.public_key:
            key = load_keyring(args.public_key)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.trusted_head:
            trusted = parse_trusted_head(args.trusted_head)
    except ValueError as exc:
        print(f"error: --trusted-head {args.trusted_head}: {exc}", file=sys.stderr)
        return 2
    result = verify(args.target, key=key, trusted=trusted)
    for warning in result.warnings:
        print("warning: " + warning, file=sys.stderr)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
