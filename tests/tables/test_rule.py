"""The one rule between column schemas, as the definition-time checker applies it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow import TypedFile, WorkflowDefinitionError, ir, task, workflow
from typedflow.formats import CSV, Parquet
from typedflow.ir.types import assignable, columns_mismatch, type_ref
from typedflow.tables import Columns
from typedflow.tables.rule import Col, mismatches, satisfies

TYPES = ["bool", "int", "float", "str", "date", "datetime", "decimal", "bytes"]
columns = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3), st.tuples(st.sampled_from(TYPES), st.booleans()), max_size=6
).map(lambda d: [Col(n, t, null) for n, (t, null) in d.items()])


def _file(cols: list[Col], fmt: str = "Parquet") -> ir.TypeRef:
    schema = ir.Schema("m:S", tuple(ir.Column(c.name, c.type, c.nullable) for c in cols))
    key = f"typedflow.formats:{fmt}"
    return ir.TypeRef("file", name=key, lineage=(key, "typedflow.formats:Format"), schema=schema)


@settings(max_examples=200, deadline=None)
@given(columns, columns, st.randoms(use_true_random=False))
def test_rule_laws(a: list[Col], extra: list[Col], rnd) -> None:
    assert satisfies(a, a)  # reflexive
    shuffled = list(a)
    rnd.shuffle(shuffled)
    assert satisfies(shuffled, a) and satisfies(a, shuffled)  # order is irrelevant
    more = a + [c for c in extra if c.name not in {x.name for x in a}]
    assert satisfies(more, a)  # extra producer columns are fine
    if len(more) > len(a):
        assert not satisfies(a, more)  # a consumer's column the producer lacks
    nullable = [c._replace(nullable=True) for c in a]
    assert satisfies(a, nullable)  # no nulls satisfies Optional
    if any(not c.nullable for c in a):
        assert not satisfies(nullable, a)  # nulls do not satisfy a column without them
    assert satisfies(None, a) and satisfies(a, None)  # a format without a schema: any columns


@settings(max_examples=200, deadline=None)
@given(columns, columns)
def test_assignable_is_the_rule_and_formats_stay_nominal(a: list[Col], b: list[Col]) -> None:
    assert assignable(_file(a), _file(b)) == (not mismatches(a, b))
    assert not assignable(_file(a), _file(b, "CSV"))
    lists = ir.TypeRef("list", (_file(a),)), ir.TypeRef("list", (_file(b),))
    assert assignable(*lists) == (not mismatches(a, b) and not mismatches(b, a))  # invariant
    opt = ir.TypeRef("optional", (_file(b),))
    assert assignable(_file(a), opt) == (not mismatches(a, b))  # covariant
    if mismatches(a, b):
        assert columns_mismatch(_file(a), _file(b)) is not None


def test_no_numeric_widening_between_columns() -> None:
    assert mismatches([Col("x", "int", False)], [Col("x", "float", False)]) == ['column "x" is int, expected float']
    assert mismatches([Col("x", "datetime", False)], [Col("x", "date", False)])
    assert mismatches([Col("x", "float", True)], [Col("x", "float", False)]) == [
        'column "x" is float | None (may hold nulls), expected float'
    ]
    assert mismatches([], [Col("x", "decimal", True)]) == ['missing column "x"']


class Raw(Columns):
    id: int
    age: float
    country: str | None


class Wanted(Columns):
    age: int
    label: bool
    country: str


@task
def ingest(path: str) -> TypedFile[Parquet[Raw]]:
    return TypedFile.new(".parquet")


@task
def train(data: TypedFile[Parquet[Wanted]]) -> float:
    return 0.0


@task
def as_csv(data: TypedFile[CSV[Raw]]) -> float:
    return 0.0


def test_definition_time_error_names_parameter_and_columns() -> None:
    with pytest.raises(WorkflowDefinitionError) as info:

        @workflow
        def churn(path: str) -> float:
            return train(data=ingest(path=path))  # type: ignore[arg-type]  # the error under test

    (problem,) = info.value.problems
    assert problem.code == "arg-type" and problem.loc.line > 0 and problem.loc.file.endswith("test_rule.py")
    assert problem.message == (
        'Argument "data" to task "train" has incompatible type "TypedFile[Parquet[Raw]]" (from ingest()); '
        'expected "TypedFile[Parquet[Wanted]]": Raw does not have the columns of Wanted: column "age" is float, '
        'expected int; missing column "label"; column "country" is str | None (may hold nulls), expected str'
    )


def test_definition_time_format_error_has_no_column_detail() -> None:
    with pytest.raises(WorkflowDefinitionError) as info:

        @workflow
        def wrong(path: str) -> float:
            return as_csv(data=ingest(path=path))  # type: ignore[arg-type]  # the error under test

    (problem,) = info.value.problems
    assert problem.code == "arg-type" and "does not have the columns" not in problem.message


def test_type_refs_of_the_example_flow() -> None:
    assert assignable(type_ref(TypedFile[Parquet[Raw]]), type_ref(TypedFile[Parquet]))
    assert assignable(type_ref(TypedFile[Parquet]), type_ref(TypedFile[Parquet[Raw]]))
    assert not assignable(type_ref(TypedFile[Parquet[Raw]]), type_ref(TypedFile[Parquet[Wanted]]))
