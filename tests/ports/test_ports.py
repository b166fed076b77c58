"""Every port in tests/ports: its results on the local interpreter equal the same logic in plain Python
(several inputs where the example branches), every workflow compiles to Step Functions (checked by
asl-validator) and to Vertex (strict protobuf parse and the structural checker), the ports that use the
new constructs run on moto's Step Functions engine and under kfp.local with the local interpreter's
outputs, and the ports pass both checkers (``typedflow check --mypy``)."""

from __future__ import annotations

import csv
import functools
import importlib
import io
import json
import math
import os
import pkgutil
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tests.ports as ports
from tests.ports import (
    flyte_chain,
    flyte_conditional,
    flyte_dynamic,
    flyte_file,
    flyte_folder,
    flyte_map_task,
    flyte_named_outputs,
    flyte_structured_dataset,
    flyte_subworkflow,
    flyte_workflow,
    kfp_collected_parameters,
    kfp_condition,
    kfp_exit_handler,
    kfp_exit_status,
    kfp_flip_coin,
    kfp_importer,
    kfp_loops,
    kfp_multiple_exit_handlers,
    kfp_nested_condition,
    kfp_parallelfor_artifacts,
    metaflow_hello_cloud,
    metaflow_playlist,
    metaflow_statistics,
)
from tests.support.aws import AslValidator, Aws
from tests.support.kfp import run_on_kfp_local
from tests.support.values import without_uris
from typedflow import TypedFile, Workflow, exit_handler, fail, task, when, workflow
from typedflow.ir.values import encode
from typedflow.runtime.running import RunOptions, RunResult, run_workflow

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
PORTS = sorted(m.name for m in pkgutil.iter_modules(ports.__path__) if not m.name.startswith("test_"))


@pytest.fixture(scope="module", autouse=True)
def _importable_ports() -> Iterator[None]:
    # kfp.local runs each task in a subprocess that imports the port by its module name
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([str(ROOT), *filter(None, (saved or "").split(os.pathsep))])
    )
    yield
    if saved is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = saved


def all_workflows() -> list[Workflow[Any, Any]]:
    found = []
    for name in PORTS:
        module = importlib.import_module(f"tests.ports.{name}")
        found += [v for v in vars(module).values() if isinstance(v, Workflow) and v.__module__ == module.__name__]
    return found


# ----------------------------------------------------------------------------- synthetic data

GENRES = ["Action", "Adventure", "Comedy", "Drama", "Music", "Musical", "Sci-Fi", "Thriller"]


def movies_csv(n: int = 40, seed: int = 7) -> str:
    """A small table of the shape of Metaflow's tutorial movies.csv (movie_title, title_year, genres,
    gross), with titles that need CSV quoting and genres of which one is a prefix of another."""
    rng = random.Random(seed)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["movie_title", "title_year", "genres", "gross"])
    for i in range(n):
        title = rng.choice([f"Movie {i}", f"Movie {i}: The Sequel", f'"Quoted", Movie {i}'])
        genres = "|".join(sorted(rng.sample(GENRES, rng.randint(1, 3))))
        writer.writerow([title, rng.randint(1970, 2020), genres, rng.randint(10_000, 900_000_000)])
    text = out.getvalue()
    # the original's quartile index is out of range for a genre of exactly two movies; keep clear of it
    rows = list(csv.DictReader(text.splitlines()))
    assert all(sum(g in r["genres"] for r in rows) != 2 for g in GENRES)
    return text


def measurements_csv(seed: int, rows: int = 12) -> str:
    """A CSV shaped like flytesnacks' biostats.csv (name, sex, age, height, weight)."""
    rng = random.Random(seed)
    lines = ["Name,Sex,Age,Heights (in),Weight (lbs)"]
    for i in range(rows):
        lines.append(f'"P{i}",{rng.choice("MF")},{rng.randint(20, 70)},{rng.randint(55, 80)},{rng.randint(90, 250)}')
    return "\n".join(lines) + "\n"


def eruptions_csv(seed: int, rows: int = 10) -> str:
    """A CSV shaped like flytesnacks' faithful.csv (index, eruption length, wait)."""
    rng = random.Random(seed)
    lines = ['"Index","Eruption length (mins)","Eruption wait (mins)"']
    for i in range(rows):
        lines.append(f"{i + 1},{rng.uniform(1.5, 5.2):.3f},{rng.randint(43, 96)}")
    return "\n".join(lines) + "\n"


BIOSTATS = ["Name", "Sex", "Age", "Heights (in)", "Weight (lbs)"]
FAITHFUL = ["Index", "Eruption length (mins)", "Eruption wait (mins)"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("port-data")
    (d / "movies.csv").write_text(movies_csv(), encoding="utf-8")
    (d / "biostats.csv").write_text(measurements_csv(1), encoding="utf-8")
    (d / "faithful.csv").write_text(eruptions_csv(2), encoding="utf-8")
    (d / "dataset2.txt").write_text("A second, run-time chosen text.\n", encoding="utf-8")
    return d


# ----------------------------------------------------------------------------- comparing values


def same(actual: Any, expected: Any, where: str = "value") -> None:
    """Equal, floats within 1e-9 relative (the reference may add in another order)."""
    if isinstance(expected, float) and isinstance(actual, int | float):
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, tuple) and hasattr(expected, "_fields"):
        assert type(actual) is type(expected), f"{where}: {type(actual).__name__} != {type(expected).__name__}"
        for f in expected._fields:
            same(getattr(actual, f), getattr(expected, f), f"{where}.{f}")
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple) and len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            same(a, e, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), f"{where}: keys {sorted(actual)}"
        for k in expected:
            same(actual[k], expected[k], f"{where}[{k!r}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def csv_rows(text: str) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text, newline=""))]


@attrs.frozen
class Raised:
    """The reference fails with this message (the port must fail with typedflow.Fail and the same)."""

    message: str


@attrs.frozen
class Case:
    wf: Workflow[Any, Any]
    inputs: Callable[[Path], dict[str, Any]]  # the data folder -> the workflow's inputs (Python values)
    expected: Callable[[Path], Any]  # the data folder -> the reference's result, or Raised
    view: Callable[[Any], Any] = lambda v: v  # the port's value as the reference gives it (files read)
    id: str = ""


def case(wf: Any, inputs: dict[str, Any], ref: Callable[..., Any], view: Callable[[Any], Any] | None = None) -> Case:
    def expected(_: Path) -> Any:
        try:
            return ref(**inputs)
        except flyte_conditional.Failed as exc:
            return Raised(str(exc))

    name = ",".join(f"{k}={v}" for k, v in inputs.items())
    return Case(wf, lambda _: dict(inputs), expected, view or (lambda v: v), f"{wf.name}({name})")


def file_case(
    wf: Any, inputs: Callable[[Path], dict[str, Any]], expected: Callable[[Path], Any], view: Callable[[Any], Any]
) -> Case:
    return Case(wf, inputs, expected, view, f"{wf.name}(files)")


fc = flyte_conditional
RADII = [0.05, 0.3, 0.6, 0.95, 5.0, 20.0]
SEEDS = [0, 1, 2, 3]

CASES: list[Case] = [
    # Flyte: workflow, named outputs, sub-workflows
    *(
        case(wf, {"x": x, "y": y}, functools.partial(lambda x, y, i: flyte_workflow.reference(x, y)[i], i=i))
        for wf, i in ((flyte_workflow.simple_wf, 1), (flyte_workflow.simple_wf_with_partial, 0))
        for x, y in (([-3, 0, 3], [7, 4, -2]), ([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]))
    ),
    case(flyte_named_outputs.simple_wf_with_named_outputs, {}, flyte_named_outputs.reference),
    case(
        flyte_named_outputs.simple_wf_with_named_outputs,
        {"x": [0, 1, 2], "y": [1, 3, 8]},
        flyte_named_outputs.reference,
    ),
    case(flyte_subworkflow.regression_line_wf, {}, flyte_subworkflow.ref_regression_line),
    case(
        flyte_subworkflow.regression_line_wf,
        {"val": -2, "x": [1, 2, 4], "y": [3, 1, 0]},
        flyte_subworkflow.ref_regression_line,
    ),
    case(flyte_subworkflow.nested_regression_line_wf, {}, flyte_subworkflow.ref_regression_line),
    case(flyte_subworkflow.nested_regression_line_lp, {}, functools.partial(flyte_subworkflow.ref_regression_line, 7)),
    # Flyte: conditionals (every branch, and the failing ones)
    *(case(fc.shape_properties, {"radius": r}, fc.ref_shape_properties) for r in RADII),
    *(
        case(fc.shape_properties_with_multiple_branches, {"radius": r}, fc.ref_shape_properties_with_multiple_branches)
        for r in RADII
    ),
    *(
        case(
            fc.shape_properties_accept_conditional_output,
            {"radius": r},
            fc.ref_shape_properties_accept_conditional_output,
        )
        for r in (0.3, 5.0, 11.0)
    ),
    *(case(fc.nested_conditions, {"radius": r}, fc.ref_nested_conditions) for r in RADII),
    *(case(fc.boolean_wf, {"seed": s}, fc.ref_boolean_wf) for s in SEEDS),
    *(case(fc.boolean_input_wf, {"boolean_input": b}, fc.ref_boolean_input_wf) for b in (True, False)),
    *(case(fc.consume_task_output, {"radius": 0.4, "seed": s}, fc.ref_consume_task_output) for s in SEEDS),
    *(case(fc.noop_in_conditional, {"radius": 0.4, "seed": s}, fc.ref_noop_in_conditional) for s in SEEDS),
    # Flyte: dynamic workflows, by a computed map and by a fixed-depth unroll
    *(
        case(flyte_dynamic.count_characters, {"s1": a, "s2": b}, flyte_dynamic.ref_count_characters)
        for a, b in (("Pear", "Earth"), ("", "abc"), ("Mississippi", "misSISsippi"))
    ),
    *(
        case(wf, {"numbers": ns, "run_local_at_count": k}, flyte_dynamic.ref_merge_sort)
        for wf in (flyte_dynamic.merge_sort, flyte_dynamic.merge_sort_unrolled)
        for ns, k in (
            ([1813, 3105, 3260, 2634, 383, 7037, 3291, 2403, 315, 7164], 5),
            ([5, 1, 4], 5),
            ([9, 3, 7, 1, 8, 2, 6, 4, 5, 0, 11, 10, 13, 12, 3], 2),
        )
    ),
    # Flyte: map tasks
    case(flyte_map_task.map_workflow, {}, flyte_map_task.ref_map_workflow),
    case(flyte_map_task.map_workflow, {"data": [11, 12, -4]}, flyte_map_task.ref_map_workflow),
    case(flyte_map_task.multiple_inputs_map_workflow, {}, flyte_map_task.ref_multiple_inputs_map_workflow),
    case(
        flyte_map_task.map_workflow_partial_with_task_output,
        {"s": 2.5},
        flyte_map_task.ref_map_workflow_partial_with_task_output,
    ),
    case(flyte_map_task.map_workflow_with_lists, {}, flyte_map_task.ref_map_workflow_with_lists),
    # KFP: conditions, loops, collected parameters, parallel-for over artifacts
    *(
        case(kfp_condition.condition, {"force_flip_result": f, "seed2": s}, kfp_condition.reference)
        for f, s in (("heads", 1), ("heads", 2), ("tails", 1), ("", 0), ("", 3))
    ),
    *(
        case(kfp_nested_condition.my_pipeline, {"seed1": a, "seed2": b, "seed3": c}, kfp_nested_condition.reference)
        for a, b, c in ((1, 2, 3), (1, 2, 2), (5, 6, 7))
    ),
    *(
        case(kfp_flip_coin.flipcoin_pipeline, {"flip_seed": f, "num_seed": n}, kfp_flip_coin.reference)
        for f, n in ((0, 0), (0, 1), (1, 0), (1, 1))  # the four leaves
    ),
    case(kfp_loops.loop_parameter, {}, kfp_loops.ref_loop_parameter),
    case(kfp_loops.loop_static, {"greeting": "hi"}, kfp_loops.ref_loop_static),
    case(kfp_loops.loop_output, {}, kfp_loops.ref_loop_output),
    case(kfp_loops.loop_parallelism, {}, kfp_loops.ref_loop_parallelism),
    case(
        kfp_collected_parameters.collecting_parameters,
        {"model_ids": "a,b"},
        kfp_collected_parameters.ref_collecting_parameters,
    ),
    case(kfp_collected_parameters.collected_param_pipeline, {}, kfp_collected_parameters.ref_collected_param_pipeline),
    case(kfp_parallelfor_artifacts.my_pipeline, {}, kfp_parallelfor_artifacts.reference),
    case(kfp_parallelfor_artifacts.my_pipeline, {"texts": ["a", "bc"]}, kfp_parallelfor_artifacts.reference),
    case(
        kfp_parallelfor_artifacts.make_datasets,
        {"texts": ["x", "yz"]},
        lambda texts: texts,
        view=lambda files: [f.read_text() for f in files],
    ),
    # Flyte: files, folders, typed tables
    file_case(
        flyte_file.normalize_csv_file,
        lambda d: {
            "csv_file": d / "biostats.csv",
            "column_names": BIOSTATS,
            "columns_to_normalize": ["Age", "Weight (lbs)"],
        },
        lambda d: flyte_file.reference((d / "biostats.csv").read_text(), BIOSTATS, ["Age", "Weight (lbs)"]),
        lambda f: csv_rows(f.read_text()),
    ),
    file_case(
        flyte_folder.download_and_normalize_csv_files,
        lambda d: {
            "csv_files": [TypedFile.from_path(d / "biostats.csv"), TypedFile.from_path(d / "faithful.csv")],
            "columns_metadata": [BIOSTATS, FAITHFUL],
            "columns_to_normalize_metadata": [["Age"], ["Eruption length (mins)"]],
        },
        lambda d: flyte_folder.reference(
            [(d / "biostats.csv").read_text(), (d / "faithful.csv").read_text()],
            [BIOSTATS, FAITHFUL],
            [["Age"], ["Eruption length (mins)"]],
        ),
        lambda folder: [csv_rows(f.read_text()) for f in sorted(folder.files(), key=lambda f: f.local_path().name)],
    ),
    case(
        flyte_structured_dataset.simple_sd_wf,
        {"a": 40},
        flyte_structured_dataset.ref_simple_sd_wf,
        view=lambda f: f.read_table().to_pydict(),
    ),
    case(
        flyte_structured_dataset.pandas_to_csv_wf,
        {},
        flyte_structured_dataset.ref_pandas_to_csv_wf,
        view=lambda f: f.read_table().to_pydict(),
    ),
    file_case(
        kfp_importer.my_pipeline,
        lambda d: {"dataset2": d / "dataset2.txt"},
        lambda d: kfp_importer.reference((HERE / "data" / "corpus1.txt").read_text(), (d / "dataset2.txt").read_text()),
        lambda r: r,
    ),
    # Metaflow: statistics (foreach + join over a typed table), playlist (parallel branches)
    file_case(
        metaflow_statistics.movie_stats,
        lambda d: {"movie_data": d / "movies.csv"},
        lambda d: metaflow_statistics.reference((d / "movies.csv").read_text()),
        lambda stats: {k: {"quartiles": s.quartiles, "dataframe": s.dataframe._asdict()} for k, s in stats.items()},
    ),
    *(
        file_case(
            metaflow_playlist.playlist,
            functools.partial(
                lambda d, g, n, s: {"movie_data": d / "movies.csv", "genre": g, "recommendations": n, "seed": s},
                g=g,
                n=n,
                s=s,
            ),
            functools.partial(
                lambda d, g, n, s: metaflow_playlist.reference((d / "movies.csv").read_text(), g, n, s), g=g, n=n, s=s
            ),
            lambda p: p,
        )
        for g, n, s in (("Sci-Fi", 5, 0), ("music", 3, 4), ("Drama", 50, 1))
    ),
]


def _run(wf: Any, inputs: dict[str, Any], tmp: Path) -> RunResult:
    return run_workflow(wf, inputs, RunOptions(store=tmp / "store"))


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_port_gives_what_the_reference_gives(c: Case, data: Path, tmp_path: Path) -> None:
    result = _run(c.wf, c.inputs(data), tmp_path)
    expected = c.expected(data)
    if isinstance(expected, Raised):
        assert not result.ok, f"the reference fails with {expected.message!r}; the port gave {result.outputs}"
        assert [(f.error_type, f.message) for f in result.failures] == [("typedflow.Fail", expected.message)]
    else:
        assert result.ok, result.failures
        same(c.view(result.value), expected)


def test_the_cases_reach_every_branch() -> None:
    """The inputs above take every branch of the branching examples (so a comparison covers each)."""
    assert {type(c.expected(Path())).__name__ for c in CASES if c.wf is fc.nested_conditions} == {"float", "Raised"}
    # tiny, mid, the outlier, large and out of range: every leaf of the nested chain
    assert len({c.expected(Path()) for c in CASES if c.wf is fc.nested_conditions}) == 5
    assert {c.expected(Path()) for c in CASES if c.wf is fc.boolean_wf} == {0, -1}
    assert {
        c.expected(Path()).split(" and ")[0] + str(">" in c.expected(Path()))
        for c in CASES
        if c.wf is kfp_flip_coin.flipcoin_pipeline
    } == {
        "headsTrue",
        "headsFalse",
        "tailsTrue",
        "tailsFalse",
    }
    nested = [c.expected(Path()) for c in CASES if c.wf is kfp_nested_condition.my_pipeline]
    assert {p.flip4 is None for p in nested} == {True, False}
    assert {c.expected(Path()).flip2 is None for c in CASES if c.wf is kfp_condition.condition} == {True, False}


@settings(max_examples=12, deadline=None)
@given(numbers=st.lists(st.integers(-1000, 1000), max_size=30), k=st.integers(1, 8))
def test_merge_sort_patterns_sort_like_the_recursion(
    numbers: list[int], k: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("sort")
    expected = flyte_dynamic.ref_merge_sort(numbers, k)
    assert expected == sorted(numbers)
    for wf in (flyte_dynamic.merge_sort, flyte_dynamic.merge_sort_unrolled):
        r = _run(wf, {"numbers": numbers, "run_local_at_count": k}, tmp)
        assert r.ok and r.value == expected, wf.name


LETTERS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", max_size=12)


@settings(max_examples=10, deadline=None)
@given(s1=LETTERS, s2=LETTERS)
def test_count_characters_counts_like_the_dynamic_original(
    s1: str, s2: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    r = _run(flyte_dynamic.count_characters, {"s1": s1, "s2": s2}, tmp_path_factory.mktemp("count"))
    assert r.ok and r.value == flyte_dynamic.ref_count_characters(s1, s2)


# ----------------------------------------------------------------------------- ordering and exit handlers


def _marks(log: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(log.iterdir())}


def _log(tmp: Path, name: str) -> Path:
    d = tmp / name
    d.mkdir()
    return d


# kfp.local costs a second or two a task: the Vertex runs are kept to the cases that differ in shape
EVERY = ("local", "stepfunctions", "vertex")
NO_KFP = ("local", "stepfunctions")
ORDERED = [
    (flyte_chain.chain_tasks_wf, flyte_chain.reference_chain_tasks, NO_KFP),
    (flyte_chain.chain_workflows_wf, flyte_chain.reference_chain_workflows, EVERY),
    (metaflow_hello_cloud.hello_cloud, metaflow_hello_cloud.reference, EVERY),
]


@pytest.mark.parametrize(("wf", "ref", "targets"), ORDERED, ids=lambda v: getattr(v, "name", None) or "")
def test_ordering_without_data_on_every_target(
    wf: Any, ref: Any, targets: tuple[str, ...], aws: Aws, tmp_path: Path
) -> None:
    expected_log = _log(tmp_path, "reference")
    expected = ref(str(expected_log))
    for target in targets:
        log = _log(tmp_path, target)
        if target == "local":
            r = _run(wf, {"log": str(log)}, tmp_path)
            assert r.ok, r.failures
            value = r.value
        elif target == "stepfunctions":
            remote = aws.run(wf.ir, {"log": str(log)})
            assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
            value = (remote.outputs or {}).get("out")
        else:
            outs = kfp_local(wf, {"log": str(log)}, tmp_path / "kfp")
            value = outs.get("out")
        assert value == expected, target
        assert _marks(log) == _marks(expected_log), target


EXIT_HANDLERS = [
    (kfp_exit_handler.pipeline_exit_handler, kfp_exit_handler.reference, EVERY),
    (kfp_multiple_exit_handlers.my_pipeline, kfp_multiple_exit_handlers.reference, NO_KFP),
]


@pytest.mark.parametrize(("wf", "ref", "targets"), EXIT_HANDLERS, ids=lambda v: getattr(v, "__module__", "")[12:])
def test_exit_handlers_run_however_the_block_ends(
    wf: Any, ref: Any, targets: tuple[str, ...], aws: Aws, tmp_path: Path
) -> None:
    printed, failed = ref()
    assert failed
    for target in targets:
        log = _log(tmp_path, target)
        if target == "local":
            r = _run(wf, {"log": str(log)}, tmp_path)
            assert not r.ok and r.failures[0].error_type == "SystemExit", target
        elif target == "stepfunctions":
            remote = aws.run(wf.ir, {"log": str(log)})
            assert remote.status == "FAILED", target
        else:
            with pytest.raises(Exception):  # noqa: B017 - kfp.local raises its own error for a failed run
                kfp_local(wf, {"log": str(log)}, tmp_path / "kfp")
        assert set(_marks(log).values()) == printed, target


@task(cache=False)
def _mark(log: str, name: str) -> None:
    Path(log, name).write_text(name, encoding="utf-8")


@task(cache=False)
def _boom() -> None:
    raise ValueError("the first block fails")


@task(cache=False)
def _slow(log: str) -> None:
    time.sleep(1.5)
    Path(log, "body2").write_text("body2", encoding="utf-8")


@workflow
def _two_blocks(log: str) -> None:
    """kfp_multiple_exit_handlers' shape, with the second block still running when the first fails."""
    with exit_handler(_mark, log=log, name="handler1"):
        _boom()
    with exit_handler(_mark, log=log, name="handler2"):
        _slow(log)


def test_a_failed_block_leaves_a_sibling_blocks_handler_running_locally(tmp_path: Path) -> None:
    log = _log(tmp_path, "local")
    assert not _run(_two_blocks, {"log": str(log)}, tmp_path).ok
    assert sorted(_marks(log)) == ["body2", "handler1", "handler2"]


def test_a_failed_block_leaves_a_sibling_blocks_handler_running_on_moto(aws: Aws, tmp_path: Path) -> None:
    log = _log(tmp_path, "stepfunctions")
    remote = aws.run(_two_blocks.ir, {"log": str(log)})
    assert (remote.status, remote.error) == ("FAILED", "ValueError")
    deadline = time.monotonic() + 5  # the stopped branch's task may still finish on the worker
    while "body2" not in _marks(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(_marks(log)) == ["body2", "handler1", "handler2"]


@workflow
def _fail_beside_a_block(log: str, x: int) -> None:
    """A fail(...) in a branch of its own, beside an exit_handler block still running."""
    with when(x > 3):
        fail("x is too big")
    with exit_handler(_mark, log=log, name="handler2"):
        _slow(log)


def test_a_fail_beside_a_block_leaves_its_handler_running(aws: Aws, tmp_path: Path) -> None:
    local_log, remote_log = _log(tmp_path, "local"), _log(tmp_path, "stepfunctions")
    local = _run(_fail_beside_a_block, {"log": str(local_log), "x": 5}, tmp_path)
    assert not local.ok and local.failures[0].message == "x is too big"
    remote = aws.run(_fail_beside_a_block.ir, {"log": str(remote_log), "x": 5})
    assert (remote.status, remote.error) == ("FAILED", "typedflow.Fail")
    assert remote.cause == f"x is too big\n(typedflow: failed node {local.failures[0].key})"
    for log in (local_log, remote_log):
        assert sorted(_marks(log)) == ["body2", "handler2"]
    ok = aws.run(_fail_beside_a_block.ir, {"log": str(_log(tmp_path, "ok")), "x": 1})
    assert ok.status == "SUCCEEDED", (ok.error, ok.cause)


@pytest.mark.parametrize(("message", "targets"), [("hello", NO_KFP), ("", EVERY)])
def test_exit_handler_gets_the_final_status(message: str, targets: tuple[str, ...], aws: Aws, tmp_path: Path) -> None:
    wf = kfp_exit_status.pipeline_with_exit_handler
    value, recorded = kfp_exit_status.reference(message)
    for target in targets:
        log = _log(tmp_path, target)
        inputs = {"log": str(log), "message": message}
        if target == "local":
            r = _run(wf, inputs, tmp_path)
            got = r.value if r.ok else None
        elif target == "stepfunctions":
            remote = aws.run(wf.ir, inputs)
            got = (remote.outputs or {}).get("out") if remote.status == "SUCCEEDED" else None
        else:
            try:
                got = kfp_local(wf, inputs, tmp_path / f"kfp-{message}").get("out")
            except Exception:
                got = None
        assert got == value, target
        seen = (log / "exit").read_text()
        if target == "vertex" and value is None:  # Vertex hands the handler the task's state, not the message
            assert seen.startswith("exit:FAILED"), seen
        else:
            assert seen == recorded, target


# ----------------------------------------------------------------------------- the cloud targets


def typed_inputs(wf: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: encode(v, wf.annotations[k]) for k, v in inputs.items()}


def kfp_local(wf: Any, inputs: dict[str, Any], root: Path) -> dict[str, Any]:
    return run_on_kfp_local(wf, inputs, root, pipeline_root="run")


# ports that use the new constructs (one_of, orwhen, fail, options per call, partial, literal records,
# NamedTuple unpacking of a sub-workflow) on moto's engine and under kfp.local
REMOTE = [
    (fc.nested_conditions, {"radius": 0.3}, True),
    (kfp_flip_coin.flipcoin_pipeline, {"flip_seed": 1, "num_seed": 0}, True),
    (flyte_map_task.map_workflow_partial_with_task_output, {}, True),
    (flyte_subworkflow.regression_line_wf, {}, True),
    (kfp_loops.loop_parallelism, {}, True),
    (kfp_collected_parameters.collected_param_pipeline, {}, False),
    # KFP's dsl.Collected of artifacts: an artifact list on Vertex
    (kfp_parallelfor_artifacts.my_pipeline, {"texts": ["Hello", "world!"]}, True),
    (
        flyte_dynamic.merge_sort_unrolled,
        {"numbers": [9, 3, 7, 1, 8, 2, 6, 4, 5, 0, 11], "run_local_at_count": 2},
        False,
    ),
]


@pytest.mark.parametrize(("wf", "inputs", "on_kfp"), REMOTE, ids=lambda v: getattr(v, "name", None) or json.dumps(v))
def test_on_moto_and_kfp_local_as_locally(
    wf: Any, inputs: dict[str, Any], on_kfp: bool, aws: Aws, tmp_path: Path
) -> None:
    local = _run(wf, inputs, tmp_path)
    assert local.ok, local.failures
    typed = typed_inputs(wf, inputs)
    remote = aws.run(wf.ir, typed)
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert without_uris(remote.outputs) == without_uris(local.outputs)
    if on_kfp:
        assert kfp_local(wf, typed, tmp_path / "kfp") == local.outputs


@pytest.mark.parametrize("radius", [0.95, 20.0])
def test_a_failing_branch_fails_on_moto_with_its_message(radius: float, aws: Aws) -> None:
    remote = aws.run(fc.nested_conditions.ir, {"radius": radius})
    expected = fc.ref_nested_conditions
    with pytest.raises(fc.Failed) as raised:
        expected(radius)
    assert (remote.status, remote.error) == ("FAILED", "typedflow.Fail")
    message, named, node = (remote.cause or "").partition("\n(typedflow: failed node ")
    assert (message, named) == (str(raised.value), "\n(typedflow: failed node ") and node.endswith(")")


def test_files_and_tables_on_moto_as_locally(aws: Aws, data: Path, tmp_path: Path) -> None:
    """Typed files, folders and tables in and out: the same content on moto as locally."""
    runs: list[tuple[Any, dict[str, Any]]] = [
        (
            flyte_file.normalize_csv_file,
            {"csv_file": data / "biostats.csv", "column_names": BIOSTATS, "columns_to_normalize": ["Age"]},
        ),
        (flyte_structured_dataset.simple_sd_wf, {"a": 3}),
        (metaflow_statistics.movie_stats, {"movie_data": data / "movies.csv"}),
        (kfp_parallelfor_artifacts.my_pipeline, {"texts": ["Hello", "world!"]}),
    ]
    for wf, inputs in runs:
        local = _run(wf, inputs, tmp_path)
        assert local.ok, local.failures
        files = {k: TypedFile.from_path(v) for k, v in inputs.items() if isinstance(v, Path)}
        remote = aws.run(wf.ir, typed_inputs(wf, {**inputs, **files}))
        assert remote.status == "SUCCEEDED", (wf.name, remote.error, remote.cause)
        assert without_uris(remote.outputs) == without_uris(local.outputs), wf.name


def test_importer_constant_file_on_moto(aws: Aws, data: Path, tmp_path: Path) -> None:
    wf = kfp_importer.my_pipeline
    local = _run(wf, {"dataset2": data / "dataset2.txt"}, tmp_path)
    assert local.ok, local.failures
    remote = aws.run(wf.ir, typed_inputs(wf, {"dataset2": TypedFile.from_path(data / "dataset2.txt")}))
    assert remote.status == "SUCCEEDED", (remote.error, remote.cause)
    assert remote.outputs == local.outputs


def test_importer_constant_file_under_kfp_local(data: Path, tmp_path: Path) -> None:
    """The constant is uploaded under the pipeline root by its digest (as deploy does) and read there."""
    from typedflow.backends.vertex.constants import publish_constant_files

    from typedflow.formats import format_key
    from typedflow.runtime.store import file_sha256
    from typedflow.shipping.codestore import LocalCode

    wf = kfp_importer.my_pipeline
    local = _run(wf, {"dataset2": data / "dataset2.txt"}, tmp_path)
    assert local.ok, local.failures
    root = tmp_path / "kfp" / "run"
    uploaded = publish_constant_files(wf.ir, LocalCode(root))
    sha = file_sha256(HERE / "data" / "corpus1.txt")
    assert uploaded == [f"typedflow/store/objects/{sha[:2]}/{sha}"]
    given = root / "inputs" / "dataset2.txt"  # a Vertex task reads its file inputs under the pipeline root
    given.parent.mkdir(parents=True)
    given.write_bytes((data / "dataset2.txt").read_bytes())
    dataset2 = {"uri": str(given), "sha256": file_sha256(given), "format": format_key(kfp_importer.TextDataset)}
    outs = kfp_local(wf, {"dataset2": dataset2}, tmp_path / "kfp")
    assert outs == local.outputs
    assert outs["first"] == "My model trained using data: " + (HERE / "data" / "corpus1.txt").read_text()


# ----------------------------------------------------------------------------- compiling every port

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/typedflow-tasks"


@pytest.mark.parametrize("wf", all_workflows(), ids=lambda w: f"{w.__module__.rsplit('.', 1)[1]}.{w.name}")
def test_compiles_to_both_targets(wf: Any, asl: AslValidator) -> None:
    from typedflow.backends.stepfunctions.compiler import compile_definition
    from typedflow.backends.stepfunctions.options import Options
    from typedflow.backends.vertex.compiler import compile_spec

    from tests.support.vertex_spec import check, check_strict

    definition = compile_definition(wf.ir, Options(queue_url=QUEUE, bucket="s3://typedflow-tests/tf", map_size=10))
    asl.check(definition)
    assert definition["States"]
    spec = compile_spec(wf.ir)
    assert check_strict(spec) == [] and check(spec) == []
    assert json.dumps(compile_spec(wf.ir), sort_keys=True) == json.dumps(spec, sort_keys=True)


def test_every_port_is_here() -> None:
    """Each example named in issue 27 has its port (and the module list above is the folder's)."""
    assert PORTS == sorted(
        [
            "flyte_chain",
            "flyte_conditional",
            "flyte_dynamic",
            "flyte_file",
            "flyte_folder",
            "flyte_map_task",
            "flyte_named_outputs",
            "flyte_structured_dataset",
            "flyte_subworkflow",
            "flyte_workflow",
            "kfp_collected_parameters",
            "kfp_condition",
            "kfp_exit_handler",
            "kfp_exit_status",
            "kfp_flip_coin",
            "kfp_importer",
            "kfp_loops",
            "kfp_multiple_exit_handlers",
            "kfp_nested_condition",
            "kfp_parallelfor_artifacts",
            "metaflow_hello_cloud",
            "metaflow_playlist",
            "metaflow_statistics",
        ]
    )
    assert len(all_workflows()) >= 45


def test_ports_pass_both_checkers() -> None:
    """`typedflow check --mypy` (the definition-time checker and mypy --strict with the plugin) finds nothing."""
    files = [str(HERE / f"{name}.py") for name in PORTS]
    r = subprocess.run(
        [sys.executable, "-m", "typedflow", "check", "--mypy", *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(f"Success: {len(all_workflows())} workflows and "), r.stdout
    assert "(definition-time checks and mypy)" in r.stdout
