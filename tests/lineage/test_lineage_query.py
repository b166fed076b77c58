"""Queries: runs, one run, and the upstream trace of an artifact over a 3-step lineage."""

from __future__ import annotations

import json

from typedflow.lineage.query import iter_records, list_runs, render_run, render_runs, render_trace, show_run, trace


def test_list_runs(three_step) -> None:
    runs = list_runs(iter_records(three_step.log))
    assert [(r.run_id, r.workflow, r.status, r.count) for r in runs] == [
        (three_step.run_id, "churn", "succeeded", 5),
        (three_step.other_run_id, "other", "unrecorded", 1),  # task records only, as a cloud runtime writes
    ]
    assert runs[0].started_at is not None and runs[0].started_at.endswith("20.000000Z")
    assert runs[0].ended_at is not None and runs[0].ended_at.endswith("26.000000Z")
    text = render_runs(runs)
    assert text.splitlines()[0].split() == ["RUN_ID", "WORKFLOW", "STATUS", "STARTED", "ENDED", "RECORDS"]
    assert json.loads(render_runs(runs, "json"))[0]["run_id"] == three_step.run_id


def test_show_run(three_step) -> None:
    detail = show_run(list(iter_records(three_step.log)), three_step.run_id)
    assert detail is not None
    assert [(n.node_id, n.status, n.duration_s) for n in detail.nodes] == [
        ("ingest", "succeeded", 1.0),
        ("featurize", "succeeded", 1.0),
        ("train", "succeeded", 2.0),
    ]
    assert detail.duration_s == 6.0 and detail.status == "succeeded"
    train = detail.nodes[-1]
    assert train.code_digest == "sha256:" + "3" * 64 and train.parameters == {"lr": 0.1, "epochs": 3}
    assert "train [succeeded]" in render_run(detail)
    assert json.loads(render_run(detail, "json"))["nodes"][0]["node_id"] == "ingest"
    assert show_run(list(iter_records(three_step.log)), "nope") is None


def _chain(t) -> list[str]:
    return [n.data["node_id"] for n in t.nodes.values() if n.type == "task"]


def test_trace_by_local_path_hashes_the_file(three_step) -> None:
    t = trace(list(iter_records(three_step.log)), str(three_step.model))
    assert t.found
    assert _chain(t) == ["train", "featurize", "ingest"]
    train = next(n for n in t.nodes.values() if n.type == "task" and n.data["node_id"] == "train")
    assert train.data["parameters"] == {"lr": 0.1, "epochs": 3}
    assert train.data["code_digest"] == "sha256:" + "3" * 64
    sources = sorted(n.data["name"] for n in t.nodes.values() if n.data.get("source"))
    assert sources == ["lr", "url"]
    assert {(e.label) for e in t.edges} == {"used", "generated"}
    assert len(t.edges) == 7


def test_trace_by_uri_digest_and_sha(three_step) -> None:
    records = list(iter_records(three_step.log))
    model_ref = next(r for r, _ in records if r.node_id == "train").outputs[0]
    for artifact in (model_ref.uri, model_ref.digest, model_ref.sha256, "sha256:" + str(model_ref.sha256)):
        assert _chain(trace(records, str(artifact))) == ["train", "featurize", "ingest"], artifact
    assert _chain(trace(records, str(three_step.features))) == ["featurize", "ingest"]


def test_trace_of_a_moved_file_still_found_by_content(three_step, tmp_path) -> None:
    moved = tmp_path / "copy.pkl"
    moved.write_bytes(three_step.model.read_bytes())
    assert _chain(trace(list(iter_records(three_step.log)), str(moved))) == ["train", "featurize", "ingest"]


def test_trace_unknown_artifact(three_step, tmp_path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"unrelated")
    t = trace(list(iter_records(three_step.log)), str(other))
    assert not t.found and render_trace(t) == f"no lineage for {other}"


def test_trace_renderings(three_step) -> None:
    t = trace(list(iter_records(three_step.log)), str(three_step.model))
    text = render_trace(t, "text")
    assert text.splitlines()[0].startswith("model sha256:")
    assert "produced by churn.ingest" in text and "(source)" in text
    data = json.loads(render_trace(t, "json"))
    assert len(data["nodes"]) == 8 and len(data["edges"]) == 7
    dot = render_trace(t, "dot")
    assert dot.startswith("digraph lineage {") and dot.count("->") == 7
    mermaid = render_trace(t, "mermaid")
    assert mermaid.startswith("flowchart BT") and mermaid.count("-->") == 7


def test_trace_prefers_the_run_that_computed_a_value(make_record, write_log, tmp_path) -> None:
    from typedflow.lineage import ValueRef

    out = ValueRef("y", "sha256:" + "7" * 64)
    inp_a, inp_b = ValueRef("x", "sha256:" + "1" * 64), ValueRef("x", "sha256:" + "2" * 64)
    log = tmp_path / "log.jsonl"
    write_log(
        log,
        [
            make_record(0, node_id="first", inputs=(inp_a,), outputs=(out,)),
            make_record(1, node_id="again", inputs=(inp_b,), outputs=(out,), status="cached"),
        ],
    )
    assert _chain(trace(list(iter_records(log)), out.digest)) == ["first"]


def test_trace_diamond_expands_each_producer_once(make_record, write_log, tmp_path) -> None:
    from typedflow.lineage import ValueRef

    def v(name: str) -> ValueRef:
        return ValueRef(name, "sha256:" + name * 64)

    log = tmp_path / "log.jsonl"
    write_log(
        log,
        [
            make_record(0, node_id="a", inputs=(v("0"),), outputs=(v("a"),)),
            make_record(1, node_id="b", inputs=(v("a"),), outputs=(v("b"),)),
            make_record(2, node_id="c", inputs=(v("a"),), outputs=(v("c"),)),
            make_record(3, node_id="d", inputs=(v("b"), v("c")), outputs=(v("d"),)),
        ],
    )
    t = trace(list(iter_records(log)), v("d").digest)
    assert sorted(_chain(t)) == ["a", "b", "c", "d"]
    assert sum(1 for e in t.edges if e.label == "generated") == 4
    assert "(see above)" in render_trace(t)


def test_trace_links_equal_plain_values_only_within_a_run(make_record, write_log, tmp_path) -> None:
    from typedflow.lineage import ValueRef

    one = "sha256:" + "1" * 64  # the digest of 1.0: an accuracy in one run, a hyperparameter in another
    two = "sha256:" + "2" * 64
    model = ValueRef("model", "sha256:" + "9" * 64, "file:///m", "9" * 64)
    log = tmp_path / "log.jsonl"
    write_log(
        log,
        [
            make_record(0, run_id="a" * 32, node_id="evaluate", outputs=(ValueRef("accuracy", one),)),
            make_record(1, run_id="b" * 32, node_id="split", outputs=(ValueRef("eval_fraction", two),)),
            make_record(
                2,
                run_id="b" * 32,
                node_id="train",
                inputs=(ValueRef("C", one), ValueRef("min_fraction", two), ValueRef("other", two)),
                outputs=(model,),
            ),
        ],
    )
    t = trace(list(iter_records(log)), model.digest)
    assert sorted(_chain(t)) == ["split", "train"]  # not run a's evaluate
    values = {n.data["name"]: n for n in t.nodes.values() if n.type == "value"}
    assert values["C"].data.get("source") is True
    # one value (split's output), used twice by train, each use under the parameter's own name
    used = sorted((e.input, e.source) for e in t.edges if e.label == "used" and e.target.startswith("t:"))
    split_out = values["eval_fraction"].id
    assert ("min_fraction", split_out) in used and ("other", split_out) in used
    assert not values["eval_fraction"].data.get("source")
    text = render_trace(t)
    assert "min_fraction = eval_fraction" in text and "other = eval_fraction" in text


def test_trace_links_files_across_runs(make_record, write_log, tmp_path) -> None:
    from typedflow.lineage import ValueRef

    data = ValueRef("data", "sha256:" + "d" * 64, "file:///d", "d" * 64)
    model = ValueRef("model", "sha256:" + "e" * 64, "file:///m", "e" * 64)
    log = tmp_path / "log.jsonl"
    write_log(
        log,
        [
            make_record(0, run_id="a" * 32, node_id="prepare", outputs=(data,)),
            make_record(1, run_id="b" * 32, node_id="train", inputs=(data,), outputs=(model,)),
        ],
    )
    assert _chain(trace(list(iter_records(log)), model.digest)) == ["train", "prepare"]


def test_run_status_without_a_run_end(make_record, write_log, tmp_path) -> None:
    retried, broken, local = "c" * 32, "d" * 32, "e" * 32
    log = tmp_path / "log.jsonl"
    write_log(
        log,
        [
            # a cloud run whose task failed once and then succeeded on its retry
            make_record(0, run_id=retried, node_id="a", attempt=1, status="failed"),
            make_record(1, run_id=retried, node_id="a", attempt=2),
            # a cloud run whose task failed on its last attempt
            make_record(2, run_id=broken, node_id="a", attempt=1),
            make_record(3, run_id=broken, node_id="b", attempt=1, status="failed"),
            # a local run that was interrupted: it has its run_start
            make_record(
                4,
                run_id=local,
                kind="run_start",
                status="started",
                node_id=None,
                task=None,
                code_digest=None,
                inputs=(),
                outputs=(),
                parameters={},
            ),
            make_record(5, run_id=local, node_id="a"),
        ],
    )
    status = {r.run_id: r.status for r in list_runs(iter_records(log))}
    assert status == {retried: "unrecorded", broken: "failed?", local: "running"}
