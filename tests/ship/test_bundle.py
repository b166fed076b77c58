"""Code bundles: what goes in, the content digest, the deterministic zip, and the verifying extraction
that every worker and container goes through (hostile zips, tampered cache entries, bounds)."""

from __future__ import annotations

import io
import os
import stat
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedflow.shipping import unpack
from typedflow.shipping.bundle import BundleError, Limits, build, module_root
from typedflow.shipping.select import select
from typedflow.util.boundary import BoundaryError


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)


def test_what_is_not_code_stays_out(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(
        root,
        {
            "flows.py": "x = 1\n",
            "pkg/__init__.py": "",
            "pkg/helpers.py": "y = 2\n",
            "pkg/templates/query.sql": "select 1\n",
            "tests/test_flows.py": "",
            "test_other.py": "",
            "data/train.csv": "a,b\n",
            "big.parquet": "PAR1",
            "pkg/__pycache__/helpers.cpython-311.pyc": b"\0",
            "myenv/pyvenv.cfg": "home = /usr\n",
            "myenv/lib/site.py": "",
            "notes/secret.txt": "ignored by git\n",
            "pkg/local.py": "ignored below\n",
            ".gitignore": "notes/\n",
            "pkg/.gitignore": "local.py\n",
            ".typedflowignore": "!big.parquet\n",
        },
    )
    os.symlink("/etc/hostname", root / "pkg" / "link.py")
    sel = select(root)
    assert sel.files == (
        ".gitignore",
        "big.parquet",
        "flows.py",
        "pkg/.gitignore",
        "pkg/__init__.py",
        "pkg/helpers.py",
        "pkg/templates/query.sql",
    )
    why = {s.path: s.why for s in sel.skipped}
    assert why["tests/"] == "excluded by built-in rules"
    assert why["data/"] == "excluded by built-in rules"
    assert why["notes/"] == "excluded by .gitignore"
    assert why["pkg/local.py"] == "excluded by pkg/.gitignore"
    assert why["myenv/"] == "a virtual environment"
    assert why["pkg/link.py"].startswith("a symbolic link")


def test_the_enclosing_repository_gitignore_applies(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(
        tmp_path, {".gitignore": "src/gen/\n*.local.py\n", "src/app.py": "", "src/gen/out.py": "", "src/x.local.py": ""}
    )
    assert select(tmp_path / "src").files == ("app.py",)


def test_digest_is_over_normalized_content_and_the_zip_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, {"m.py": "x = 1\r\ny = 2\r\n", "pkg/__init__.py": "", "q.sql": "select 1\r\n"})
    write(b, {"pkg/__init__.py": "", "m.py": "x = 1\ny = 2\n", "q.sql": "select 1\r\n"})
    os.utime(b / "m.py", (1, 1))
    os.chmod(b / "q.sql", 0o600)
    ba, bb = build(a), build(b)
    assert ba.digest == bb.digest
    assert ba.zip_bytes() == bb.zip_bytes() == ba.zip_bytes()
    (b / "q.sql").write_bytes(b"select 1\n")  # only Python sources are normalized
    assert build(b).digest != ba.digest


def test_size_guard_names_the_largest_files(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "x" * 3000, "model.txt": "y" * 9000, "b.py": "z"})
    with pytest.raises(BundleError, match=r"model\.txt.*\.typedflowignore"):
        build(tmp_path, Limits(total=10_000, file=8_000))
    with pytest.raises(BundleError, match="3 files to bundle, more than 2"):
        build(tmp_path, Limits(files=2))


def test_module_root_is_where_the_module_was_imported_from(tmp_path: Path) -> None:
    assert module_root("pkg.flows", str(tmp_path / "src/pkg/flows.py")) == (tmp_path / "src").resolve()
    assert module_root("pkg", str(tmp_path / "src/pkg/__init__.py")) == (tmp_path / "src").resolve()
    assert module_root("flows", str(tmp_path / "flows.py")) == tmp_path.resolve()
    assert module_root("__main__", str(tmp_path / "x/run.py")) == (tmp_path / "x").resolve()


# ----------------------------------------------------------------------------- extraction


def test_round_trip_through_the_cache(tmp_path: Path) -> None:
    write(tmp_path / "p", {"m.py": "x = 1\n", "pkg/__init__.py": "", "pkg/h.py": "y = 2\n"})
    bundle = build(tmp_path / "p")
    cache = tmp_path / "cache"
    folder = unpack.extract(io.BytesIO(bundle.zip_bytes()), bundle.digest, cache)
    assert folder == cache / bundle.hex
    assert (folder / "pkg" / "h.py").read_text() == "y = 2\n"
    assert unpack.tree_digest(folder) == bundle.digest
    assert stat.S_IMODE(os.stat(folder / "m.py").st_mode) == 0o444
    assert [p.name for p in cache.iterdir()] == [bundle.hex]  # no temporary folder left
    assert unpack.extract(io.BytesIO(b"not used"), bundle.digest, cache) == folder  # cached: not read again


def test_a_tampered_cache_entry_is_discarded_and_fetched_again(tmp_path: Path) -> None:
    write(tmp_path / "p", {"m.py": "x = 1\n"})
    bundle = build(tmp_path / "p")
    cache = tmp_path / "cache"
    folder = unpack.extract(io.BytesIO(bundle.zip_bytes()), bundle.digest, cache)
    unpack._VERIFIED.clear()  # a new process
    os.chmod(folder / "m.py", 0o644)
    (folder / "m.py").write_text("import os; os.system('evil')\n")
    assert unpack.cached(bundle.digest, cache) is None
    assert not folder.exists()
    again = unpack.extract(io.BytesIO(bundle.zip_bytes()), bundle.digest, cache)
    assert (again / "m.py").read_text() == "x = 1\n"
    unpack._VERIFIED.clear()
    (again / "__pycache__").mkdir()  # bytecode planted next to a verified source is a change too
    (again / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    assert unpack.cached(bundle.digest, cache) is None


def _zip(members: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def _digest_of(members: list[tuple[str, bytes, int]]) -> str:
    import hashlib

    from typedflow.shipping.bundle import manifest_digest

    return manifest_digest((n, hashlib.sha256(d).hexdigest()) for n, d, _ in members)


REG = 0o100644


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("/etc/passwd", b"x", REG)], "absolute path"),
        ([("../escape.py", b"x", REG)], ".."),
        ([("a/../../escape.py", b"x", REG)], ".."),
        ([("link.py", b"/etc/passwd", 0o120777)], "not a regular file"),
        ([("pkg/", b"", 0o040755)], "not normalized"),
        ([("m.py", b"x", REG), ("m.py", b"y", REG)], "unique"),
        ([("M.py", b"x", REG), ("m.py", b"y", REG)], "unique"),
        ([("a//b.py", b"x", REG)], "not normalized"),
    ],
)
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_hostile_members_are_refused(tmp_path: Path, members: list[tuple[str, bytes, int]], message: str) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(BoundaryError, match=message):
        unpack.extract(io.BytesIO(_zip(members)), _digest_of(members), cache)
    assert list(cache.iterdir()) == []


def test_a_zip_bomb_stops_at_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unpack, "MAX_FILE", 1 << 20)
    members = [("bomb.py", b"\0" * (4 << 20), REG)]
    data = _zip(members)
    assert len(data) < 10_000
    cache = tmp_path / "cache"
    with pytest.raises(BoundaryError, match="decompressed"):
        unpack.extract(io.BytesIO(data), _digest_of(members), cache)
    assert list(cache.iterdir()) == []


def test_content_that_does_not_match_the_digest_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "p", {"m.py": "x = 1\n"})
    good = build(tmp_path / "p")
    write(tmp_path / "p", {"m.py": "x = 2\n"})
    other = build(tmp_path / "p")
    cache = tmp_path / "cache"
    with pytest.raises(BoundaryError, match="refusing to use it"):
        unpack.extract(io.BytesIO(other.zip_bytes()), good.digest, cache)
    with pytest.raises(BoundaryError, match="not a readable zip"):
        unpack.extract(io.BytesIO(good.zip_bytes()[:50]), good.digest, cache)
    with pytest.raises(BoundaryError, match="sha256"):
        unpack.extract(io.BytesIO(good.zip_bytes()), "sha256:../../etc", cache)
    assert list(cache.iterdir()) == []


def test_a_cache_inside_the_python_installation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BoundaryError, match="TYPEDFLOW_CODE_CACHE"):
        unpack.check_cache_location(Path(sys.prefix) / "typedflow-code")


_PATHS = st.lists(
    st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6}){0,2}\.(py|txt|sql)", fullmatch=True), min_size=1, max_size=8, unique=True
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paths=_PATHS, data=st.data())
def test_any_tree_round_trips(tmp_path_factory: pytest.TempPathFactory, paths: list[str], data: st.DataObject) -> None:
    root = tmp_path_factory.mktemp("tree")
    files: dict[str, bytes] = {}
    for p in paths:
        if any(q.startswith(p.rsplit(".", 1)[0] + "/") for q in paths):
            continue  # a file and a folder of one name
        files[p] = data.draw(st.binary(max_size=200))
    write(root, files)  # type: ignore[arg-type]
    bundle = build(root)
    assert sorted(p for p, _ in bundle.files) == sorted(files)
    folder = unpack.extract(io.BytesIO(bundle.zip_bytes()), bundle.digest, tmp_path_factory.mktemp("cache"))
    for p, content in files.items():
        from typedflow.shipping.bundle import normalize

        assert (folder / p).read_bytes() == normalize(p, content)
    assert unpack.tree_digest(folder) == bundle.digest
