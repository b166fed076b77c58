"""check_json: where a typed-JSON value breaks its type, down to the element."""

from __future__ import annotations

import enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow.errors import UnsupportedType
from typedflow.ir.types import JsonProblem, check_json, type_ref

_anything = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=3)
)


def test_the_first_bad_element_is_named_by_its_place() -> None:
    t = type_ref(dict[str, list[int]])
    assert str(check_json({"a": [1, 2], "b": [3, "x", "y"]}, t)) == "value['b'][1]: expected int, got str"
    assert check_json({"a": [1, 2], "b": []}, t) is None
    nested = type_ref(list[list[float]])
    assert check_json([[1.0], [2, True]], nested, "xs") == JsonProblem("xs[1][1]", "expected float, got bool")
    assert str(check_json([[0.5]] * 1000 + [[None]], nested, "xs")) == "xs[1000][0]: expected float, got None"


def test_value_rules_are_told_apart_from_wrong_types() -> None:
    big = check_json({"n": 2**60}, type_ref(dict[str, int]), "cfg")
    assert big is not None and big.value_rule and big.where == "cfg['n']"
    assert "beyond" in big.message
    nan = check_json(float("nan"), type_ref(float), "x")
    assert nan is not None and nan.value_rule
    key = check_json({1: 2}, type_ref(dict[str, int]), "d")
    assert key is not None and key.value_rule
    wrong = check_json("3", type_ref(int), "n")
    assert wrong == JsonProblem("n", "expected int, got str") and not wrong.value_rule


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([int, float, str, bool]), st.lists(_anything, max_size=8))
def test_a_list_is_checked_as_its_elements_are(element: type, values: list[object]) -> None:
    t = type_ref(list[element])  # type: ignore[valid-type]
    first_bad = next(
        (check_json(v, t.args[0], f"value[{i}]") for i, v in enumerate(values) if check_json(v, t.args[0]) is not None),
        None,
    )
    assert check_json(values, t) == first_bad


class _Level(enum.Enum):
    LOW = 1
    HIGH = 2


class _Mode(enum.Enum):
    FAST = "fast"
    TEN = "10"  # a str value that looks like a number is still a str


class _Mixed(enum.Enum):
    ONE = 1
    TWO = "two"


def test_an_enum_value_is_typed_json_of_its_members_type() -> None:
    level, mode = type_ref(_Level), type_ref(_Mode)
    assert (level.flavor, level.members) == ("int", ("1", "2"))
    assert (mode.flavor, mode.members) == ("", ("fast", "10"))
    assert check_json(2, level) is None and check_json("fast", mode) is None and check_json("10", mode) is None
    # the text of a member is no member: a condition comparing it with the member would not hold
    assert str(check_json("2", level, "l")) == "l: expected one of [1, 2], got '2'"
    assert str(check_json(True, level, "l")) == "l: expected one of [1, 2], got True"
    assert str(check_json(10, mode, "m")) == "m: expected one of ['fast', '10'], got 10"
    with pytest.raises(UnsupportedType, match="enum values must be all str or all int"):
        type_ref(_Mixed)
