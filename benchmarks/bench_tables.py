"""Typed tables: the cost of checking a table file against its column schema. Prints a Markdown table.

python benchmarks/bench_tables.py [--parquet-gb 1.0] [--csv-gb 1.0] [--repeat 5] [--quick] [--no-save]

Targets (issue 26): the run-time check of a 1 GB Parquet file costs no more than reading its footer
(``pyarrow.parquet.read_metadata``); checking a CSV adds no more than 10 % to reading it. The data
files are generated in a temporary directory and removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from typedflow.formats import CSV
from typedflow.tables import Check, Columns
from typedflow.tables.check import check_file
from typedflow.tables.io import read_table
from typedflow.tables.schema import schema_of

RESULTS = Path(__file__).parent / "results"
COUNTRIES = ["FR", "DE", "ES", "IT", "PL", "NL", "BE", "PT"]


class Events(Columns):
    """Every column type the data has, bounds the statistics can prove, one Optional column."""

    id: Annotated[int, Check(ge=0)]
    age: Annotated[float, Check(ge=0, le=130)]
    score: float
    country: str | None
    churned: bool
    day: dt.date


def _batch(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    country = pa.array(rng.integers(0, len(COUNTRIES), n)).cast(pa.int32())
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "age": pa.array(rng.uniform(0, 120, n)),
            "score": pa.array(rng.standard_normal(n)),
            "country": pa.DictionaryArray.from_arrays(country, pa.array(COUNTRIES)).cast(pa.string()),
            "churned": pa.array(rng.integers(0, 2, n).astype(bool)),
            "day": pa.array(np.datetime64("2020-01-01") + rng.integers(0, 1500, n).astype("timedelta64[D]")),
        }
    )


def make_parquet(path: Path, size: int, required: bool) -> int:
    """A Parquet file of at least ``size`` bytes, written a row group (1,048,576 rows) at a time;
    ``required``: the columns Events declares without nulls are written so (as write_table does),
    else every column may hold nulls (pyarrow's default)."""
    rng = np.random.default_rng(0)
    schema = _batch(rng, 0, 1).schema
    if required:
        schema = pa.schema([f.with_nullable(f.name == "country") for f in schema])
    rows = 0
    with pq.ParquetWriter(path, schema) as w:
        while True:
            w.write_table(_batch(rng, rows, 1 << 20).cast(schema))
            rows += 1 << 20
            if path.stat().st_size >= size:
                break
    return rows


def bytes_read(fn: Callable[[], Any]) -> int:
    """Bytes this process read through system calls (page cache included) while ``fn`` ran (Linux)."""

    def rchar() -> int:
        with open("/proc/self/io") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("rchar"))

    try:
        before = rchar()
    except OSError:
        return -1
    fn()
    return rchar() - before


def make_csv(path: Path, size: int) -> int:
    rng = np.random.default_rng(1)
    rows = 0
    with pcsv.CSVWriter(path, _batch(rng, 0, 1).schema) as w:
        while path.stat().st_size < size:
            w.write_table(_batch(rng, rows, 1 << 18))
            rows += 1 << 18
    return rows


def race(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, dict[str, Any]]:
    """Wall and CPU time of each function, called in turn, ``rounds`` times after a warm-up round:
    the variants being compared share whatever else the machine is doing at each moment."""
    out: dict[str, dict[str, Any]] = {k: {"wall": [], "cpu": []} for k in fns}
    for r in range(rounds + 1):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            if r:
                out[k]["wall"].append(time.perf_counter() - t0)
                out[k]["cpu"].append(time.process_time() - c0)
    for v in out.values():
        v["seconds"], v["cpu_seconds"] = min(v["wall"]), min(v["cpu"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parquet-gb", type=float, default=1.0, help="0: no Parquet part")
    p.add_argument("--csv-gb", type=float, default=1.0, help="0: no CSV part")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="small files, fewer repetitions; results not saved")
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.parquet_gb, args.csv_gb, args.repeat = 0.1, 0.05, 3
    schema = schema_of(Events)
    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-tables-"))
    rows: list[dict[str, Any]] = []
    try:
        # ------------------------------------------------------------------ Parquet
        pq_path = tmp / "events.parquet"
        pq_size = n_pq = 0
        for required in (True, False) if args.parquet_gb > 0 else ():
            t0 = time.perf_counter()
            n_pq = make_parquet(pq_path, int(args.parquet_gb * 1e9), required)
            how = "non-Optional columns required, as write_table writes them" if required else "every column nullable"
            print(
                f"wrote {pq_path.stat().st_size / 1e9:.2f} GB Parquet ({n_pq:,} rows, {how}) in "
                f"{time.perf_counter() - t0:.1f}s",
                file=sys.stderr,
            )
            timed = race(
                {
                    "footer": lambda: pq.read_metadata(pq_path),
                    "check": lambda: check_file(pq_path, "parquet", schema),
                    "full": lambda: pq.read_metadata(pq_path).to_dict(),
                },
                args.repeat * 40,
            )
            io_footer = bytes_read(lambda: pq.read_metadata(pq_path))
            io_check = bytes_read(lambda: check_file(pq_path, "parquet", schema))
            footer, check, full = timed["footer"], timed["check"], timed["full"]
            rows += [
                {
                    "what": f"Parquet ({how}): read the footer (pyarrow.parquet.read_metadata)",
                    **footer,
                    "bytes_read": io_footer,
                },
                {
                    "what": f"Parquet ({how}): the run-time check (types, nulls, bounds: all from the footer)",
                    **check,
                    "ratio": check["seconds"] / footer["seconds"],
                    "cpu_ratio": check["cpu_seconds"] / footer["cpu_seconds"],
                    "bytes_read": io_check,
                    "target": "<= 1.0x the footer",
                },
                {
                    "what": f"Parquet ({how}): read the footer in full (read_metadata().to_dict(): every statistic)",
                    **full,
                    "ratio": full["seconds"] / footer["seconds"],
                    "cpu_ratio": full["cpu_seconds"] / footer["cpu_seconds"],
                },
            ]
            if not required:
                full = race({"read": lambda: pq.read_table(pq_path)}, max(1, args.repeat // 2))["read"]
                rows.append({"what": "Parquet: read the whole table (pyarrow.parquet.read_table), for scale", **full})
            pq_size = pq_path.stat().st_size
            pq_path.unlink()

        # ------------------------------------------------------------------ CSV
        csv_path = tmp / "events.csv"
        t0 = time.perf_counter()
        n_csv = make_csv(csv_path, int(args.csv_gb * 1e9))
        print(
            f"wrote {csv_path.stat().st_size / 1e9:.2f} GB CSV ({n_csv:,} rows) in {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )
        types = {
            "id": pa.int64(),
            "age": pa.float64(),
            "score": pa.float64(),
            "country": pa.string(),
            "churned": pa.bool_(),
            "day": pa.date32(),
        }
        opts = pcsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False
        )
        timed = race(
            {
                "plain": lambda: pcsv.read_csv(csv_path),
                "typed": lambda: pcsv.read_csv(csv_path, convert_options=opts),
                "checked": lambda: read_table(csv_path, CSV[Events]),
                "whole": lambda: check_file(csv_path, "csv", schema),
            },
            max(2, args.repeat),
        )
        header = race({"header": lambda: check_file(csv_path, "csv", schema, rows=False)}, args.repeat * 40)["header"]
        plain, typed, checked, whole = (timed[k] for k in ("plain", "typed", "checked", "whole"))
        rows += [
            {"what": "CSV: read the file (pyarrow.csv.read_csv, types inferred)", **plain},
            {"what": "CSV: read it with the declared column types, no check", **typed},
            {
                "what": "CSV: read_table() through the schema (typed read + nulls + bounds)",
                **checked,
                "ratio": checked["seconds"] / plain["seconds"],
                "cpu_ratio": checked["cpu_seconds"] / plain["cpu_seconds"],
                "ratio_typed": checked["seconds"] / typed["seconds"],
                "target": "<= 1.10x reading the file",
            },
            {
                "what": "CSV: the check when a task receives it (header)",
                **header,
                "ratio": header["seconds"] / plain["seconds"],
            },
            {
                "what": "CSV: the check when a task returns it (every row, streamed)",
                **whole,
                "ratio": whole["seconds"] / plain["seconds"],
                "cpu_ratio": whole["cpu_seconds"] / plain["cpu_seconds"],
            },
        ]
        csv_size = csv_path.stat().st_size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    machine = {
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "parquet_bytes": pq_size,
        "parquet_rows": n_pq,
        "csv_bytes": csv_size,
        "csv_rows": n_csv,
        "repeat": args.repeat,
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    md = render(rows, machine)
    print(md)
    if not (args.quick or args.no_save):
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "tables.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
        (RESULTS / "tables.md").write_text(md)
    return 0


def _t(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def render(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    out = [
        f"Parquet file: {machine['parquet_bytes'] / 1e9:.2f} GB, {machine['parquet_rows']:,} rows; "
        f"CSV file: {machine['csv_bytes'] / 1e9:.2f} GB, {machine['csv_rows']:,} rows "
        f"(Python {machine['python']}, pyarrow {machine['pyarrow']}, {machine['cpus']} CPUs, load average "
        f"{machine['load']}; the compared variants run in turn, best of {machine['repeat']}+ rounds).",
        "",
        "| what | wall (best) | wall (median) | CPU (best) | ratio: wall, CPU | bytes read | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        med = statistics.median(r["wall"])
        ratio = f"{r['ratio']:.3f}x" if "ratio" in r else ""
        if "cpu_ratio" in r:
            ratio += f", {r['cpu_ratio']:.3f}x"
        if "ratio_typed" in r:
            ratio += f" ({r['ratio_typed']:.3f}x the typed read without checks)"
        read = f"{r['bytes_read']:,}" if r.get("bytes_read", -1) >= 0 else ""
        out.append(
            f"| {r['what']} | {_t(r['seconds'])} | {_t(med)} | {_t(r['cpu_seconds'])} | {ratio} | {read} | "
            f"{r.get('target', '')} |"
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
