"""Edge cases of the checks on the data, each a way a file used to be judged wrongly (a good file
refused, a bad one accepted) or to fail with a traceback instead of a SchemaError."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedflow.formats import CSV
from typedflow.tables import Columns, SchemaError
from typedflow.tables.check import check_file
from typedflow.tables.io import read_table
from typedflow.tables.schema import schema_of

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FUNCTION_SCOPED = [HealthCheck.function_scoped_fixture]


class Seen(Columns):
    id: int
    seen: dt.datetime | None


@settings(max_examples=20, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(st.lists(st.booleans(), min_size=1, max_size=6), st.booleans())
def test_csv_datetime_zone_is_taken_from_the_first_value_not_the_first_row(
    tmp_path: Path, present: list[bool], zoned: bool
) -> None:
    # Leading rows may be null: the column is zoned or naive by its first value.
    suffix = "+02:00" if zoned else ""
    lines = [f"{i},{f'2020-01-0{i + 1}T00:00:00{suffix}' if p else ''}" for i, p in enumerate(present)]
    path = tmp_path / "t.csv"
    path.write_text("id,seen\n" + "\n".join(lines) + "\n")
    check_file(path, "csv", schema_of(Seen))
    got = read_table(path, CSV[Seen]).column("seen").to_pylist()
    assert [v is not None for v in got] == present
    assert all((v.tzinfo is not None) == zoned for v in got if v is not None)
    # A naive value after a zoned one (or the reverse) is still refused, at its row.
    if sum(present) >= 2:
        second = [i for i, p in enumerate(present) if p][1]
        other = "" if zoned else "+02:00"
        lines[second] = f"{second},2020-01-09T00:00:00{other}"
        path.write_text("id,seen\n" + "\n".join(lines) + "\n")
        with pytest.raises(SchemaError, match=f"at row {second + 1} .*UTC offset in every row"):
            check_file(path, "csv", schema_of(Seen))
