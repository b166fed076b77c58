"""The ``lineage`` command wired into an argparse parser the way the main CLI does."""

from __future__ import annotations

import argparse
import json
import zipfile

import pytest

from typedflow.lineage.cli import add_subparser, default_log_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="typedflow")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_default_log_is_under_typedflow_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TYPEDFLOW_HOME", str(tmp_path))
    assert default_log_path() == tmp_path / "lineage" / "log.jsonl"


def test_runs_and_show(capsys, three_step, monkeypatch) -> None:
    monkeypatch.setenv("TYPEDFLOW_HOME", str(three_step.log.parent.parent))
    code, out, _ = run(capsys, "lineage", "runs")
    assert code == 0 and three_step.run_id in out and three_step.other_run_id in out
    code, out, _ = run(capsys, "lineage", "show", three_step.run_id)
    assert code == 0 and "featurize [succeeded]" in out
    code, _, err = run(capsys, "lineage", "show", "nope")
    assert code == 1 and "no run nope" in err


def test_log_option_before_or_after_subcommand(capsys, three_step) -> None:
    code, out, _ = run(capsys, "lineage", "--log", str(three_step.log), "runs", "--format", "json")
    assert code == 0 and json.loads(out)[0]["run_id"] == three_step.run_id
    code, out, _ = run(capsys, "lineage", "runs", "--log", str(three_step.log))
    assert code == 0 and three_step.run_id in out


def test_trace_formats(capsys, three_step) -> None:
    for fmt, marker in (("text", "produced by"), ("json", '"edges"'), ("dot", "digraph"), ("mermaid", "flowchart")):
        code, out, _ = run(
            capsys, "lineage", "--log", str(three_step.log), "trace", str(three_step.model), "--format", fmt
        )
        assert code == 0 and marker in out, fmt
    code, _, err = run(capsys, "lineage", "--log", str(three_step.log), "trace", "sha256:" + "0" * 64)
    assert code == 1 and "no lineage" in err


def test_verify_log_and_bundle(capsys, three_step, tmp_path) -> None:
    log = str(three_step.log)
    code, out, _ = run(capsys, "lineage", "--log", log, "verify")
    assert code == 0 and out.startswith("OK: 6 records, head ") and len(out.strip().splitlines()) == 1
    bundle = tmp_path / "b.zip"
    code, out, _ = run(
        capsys, "lineage", "--log", log, "export", three_step.run_id, "--format", "bundle", "-o", str(bundle)
    )
    assert code == 0 and zipfile.is_zipfile(bundle)
    code, out, _ = run(capsys, "lineage", "verify", str(bundle))
    assert code == 0 and out.startswith("OK: 6 records")
    lines = three_step.log.read_bytes().split(b"\n")
    lines[2], lines[3] = lines[3], lines[2]
    three_step.log.write_bytes(b"\n".join(lines))
    code, out, _ = run(capsys, "lineage", "--log", log, "verify")
    assert code == 1 and out.startswith("FAIL: reordered (line 3, seq 3, record ")


def test_export_openlineage_and_prov(capsys, three_step, tmp_path) -> None:
    log = str(three_step.log)
    ol = tmp_path / "ol.json"
    code, _, _ = run(capsys, "lineage", "--log", log, "export", "--all", "--format", "openlineage", "-o", str(ol))
    assert code == 0 and len(json.loads(ol.read_text())) == 10
    code, out, _ = run(
        capsys,
        "lineage",
        "--log",
        log,
        "export",
        three_step.other_run_id,
        "--format",
        "openlineage",
        "--jsonl",
        "-o",
        "-",
    )
    assert code == 0 and len(out.splitlines()) == 2
    pj = tmp_path / "prov.json"
    code, _, _ = run(
        capsys, "lineage", "--log", log, "export", three_step.run_id, "--format", "prov-json", "-o", str(pj)
    )
    assert code == 0 and "activity" in json.loads(pj.read_text())


def test_export_needs_a_selection(capsys, three_step) -> None:
    code, _, err = run(capsys, "lineage", "--log", str(three_step.log), "export", "--format", "bundle", "-o", "x")
    assert code == 2 and "--all" in err


def test_export_of_named_runs_and_all_at_once_is_refused(capsys, three_step, tmp_path) -> None:
    out = tmp_path / "one.zip"
    log = str(three_step.log)
    code, _, err = run(
        capsys, "lineage", "--log", log, "export", three_step.run_id, "--all", "--format", "bundle", "-o", str(out)
    )
    assert code == 2 and err == "name RUN_IDs or pass --all, not both\n" and not out.exists()


def test_missing_log(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "lineage", "--log", str(tmp_path / "none.jsonl"), "runs")
    assert code == 1 and "no lineage log" in err
    code, out, _ = run(capsys, "lineage", "verify", str(tmp_path / "none.jsonl"))
    assert code == 1 and out.startswith("FAIL")


def test_subcommand_is_required(capsys) -> None:
    with pytest.raises(SystemExit):
        run(capsys, "lineage")


def test_unreadable_inputs_are_reported_not_raised(capsys, small_log, tmp_path) -> None:
    with open(small_log, "ab") as f:
        f.write(b'{"not": "a record"}\n')
    code, _, err = run(capsys, "lineage", "--log", str(small_log), "runs")
    assert code == 1 and "unreadable record" in err
    code, out, _ = run(capsys, "lineage", "verify", str(tmp_path))
    assert code == 1 and out.startswith("FAIL")


@pytest.mark.parametrize("fmt", ["openlineage", "prov-json", "bundle"])
@pytest.mark.parametrize("suffix", ["", ".head"])
def test_export_never_writes_over_the_log_it_exports(capsys, three_step, fmt, suffix) -> None:
    log = three_step.log
    before = {p.name: p.read_bytes() for p in log.parent.iterdir()}
    target = log.parent / ".." / log.parent.name / (log.name + suffix)  # the same file, named another way
    code, _, err = run(capsys, "lineage", "--log", str(log), "export", "--all", "--format", fmt, "-o", str(target))
    assert code == 2 and "is the lineage log" in err and len(err.splitlines()) == 1, err
    assert {p.name: p.read_bytes() for p in log.parent.iterdir()} == before
    code, out, _ = run(capsys, "lineage", "--log", str(log), "verify")
    assert code == 0 and out.startswith("OK: 6 records")


def test_export_to_a_hard_link_of_the_log_is_refused(capsys, three_step, tmp_path) -> None:
    link = tmp_path / "events.json"
    link.hardlink_to(three_step.log)
    before = three_step.log.read_bytes()
    code, _, err = run(
        capsys, "lineage", "--log", str(three_step.log), "export", "--all", "--format", "openlineage", "-o", str(link)
    )
    assert code == 2 and "is the lineage log" in err
    assert three_step.log.read_bytes() == before


def test_a_failed_export_leaves_the_file_it_would_replace(capsys, three_step, tmp_path, monkeypatch) -> None:
    from typedflow.lineage.export import openlineage

    out = tmp_path / "events.json"
    out.write_text("yesterday's events\n")

    def broken(events, f, *, jsonl=False):
        f.write("[")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(openlineage, "write_openlineage", broken)
    code, _, err = run(
        capsys, "lineage", "--log", str(three_step.log), "export", "--all", "--format", "openlineage", "-o", str(out)
    )
    assert code == 2 and "No space left on device" in err
    assert out.read_text() == "yesterday's events\n"


@pytest.mark.parametrize("line", [b'{"not": "a record"}', b"\xff\xfe", b"[" * 100_000])
def test_an_unreadable_record_is_one_line_in_every_query_and_export(capsys, small_log, line) -> None:
    with open(small_log, "ab") as f:
        f.write(line + b"\n")
    for args in (
        ["runs"],
        ["show", "x"],
        ["trace", "sha256:" + "0" * 64],
        ["export", "--all", "--format", "openlineage", "-o", "-"],
        ["export", "--all", "--format", "prov-json", "-o", "-"],
    ):
        code, out, err = run(capsys, "lineage", "--log", str(small_log), *args)
        assert code == 1 and out == "" and "unreadable record" in err and len(err.splitlines()) == 1, (args, err)


@pytest.mark.parametrize("ended", [True, False], ids=["line", "fragment"])
def test_a_line_longer_than_any_record_is_refused_without_reading_it_whole(capsys, small_log, ended) -> None:
    import tracemalloc

    from typedflow.lineage.verify_bundle import MAX_LINE

    size = 10 * MAX_LINE  # a hole: written at once, read from the page cache
    with open(small_log, "r+b") as f:
        end = f.seek(0, 2)
        f.write(b'{"x":"')
        if ended:  # a whole line, then a record line after it
            f.seek(end + size)
            f.write(b'"}\n' + small_log.read_bytes().split(b"\n")[0] + b"\n")
        else:  # an unterminated fragment: no torn write is longer than a record
            f.truncate(end + size)
    for args in (
        ["runs"],
        ["show", "x"],
        ["trace", "sha256:" + "0" * 64],
        ["export", "--all", "--format", "prov-json", "-o", "-"],
    ):
        tracemalloc.start()
        try:
            code, out, err = run(capsys, "lineage", "--log", str(small_log), *args)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert code == 2 and out == "" and len(err.splitlines()) == 1, (args, err)
        assert f"{small_log}: line 21 is longer than {MAX_LINE:,} bytes" in err, err
        assert peak < 5 * MAX_LINE, (args, peak)  # a block and the part of a line before it, not the file
    code, out, _ = run(capsys, "lineage", "--log", str(small_log), "verify", "--deep")
    assert code == 1 and out == f"FAIL: malformed (line 21): line longer than {MAX_LINE} bytes\n"


def test_a_zip_bundle_never_writes_through_a_file_next_to_it(capsys, three_step, tmp_path) -> None:
    mine, other = tmp_path / "b.zip.tmp", tmp_path / "precious.txt"
    mine.write_text("someone's notes\n")
    other.write_text("keep me\n")
    (tmp_path / "c.zip.tmp").symlink_to(other)
    for name in ("b.zip", "c.zip"):
        out = tmp_path / name
        code, _, err = run(
            capsys, "lineage", "--log", str(three_step.log), "export", "--all", "--format", "bundle", "-o", str(out)
        )
        assert code == 0, err
        code, verified, _ = run(capsys, "lineage", "verify", str(out))
        assert code == 0 and verified.startswith("OK: ")
    assert mine.read_text() == "someone's notes\n" and other.read_text() == "keep me\n"
    assert (tmp_path / "c.zip.tmp").is_symlink()


def test_a_bundle_that_cannot_go_where_it_is_asked_is_exit_2(capsys, three_step, tmp_path) -> None:
    full, blocker, folder = tmp_path / "full", tmp_path / "a-file", tmp_path / "folder.zip"
    full.mkdir()
    (full / "x").write_text("")
    blocker.write_text("")
    folder.mkdir()
    for out, says in (
        (full, "exists and is not empty"),
        (blocker / "b.zip", "File exists"),
        (folder, "Is a directory"),
    ):
        code, _, err = run(
            capsys, "lineage", "--log", str(three_step.log), "export", "--all", "--format", "bundle", "-o", str(out)
        )
        assert code == 2 and len(err.splitlines()) == 1 and str(out) in err and says in err, err
    assert list(folder.iterdir()) == [] and [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
