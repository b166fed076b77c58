"""check_json: where a typed-JSON value breaks its type, down to the element."""

from __future__ import annotations

from typedflow.types import check_json, type_ref


def test_the_first_bad_element_is_named_by_its_place() -> None:
    t = type_ref(dict[str, list[int]])
    assert check_json({"a": [1, 2], "b": [3, "x", "y"]}, t) == "value['b'][1]: expected int, got str"
    assert check_json({"a": [1, 2], "b": []}, t) is None
    nested = type_ref(list[list[float]])
    assert check_json([[1.0], [2, True]], nested, "xs") == "xs[1][1]: expected float, got bool"
    assert check_json([[0.5]] * 1000 + [[None]], nested, "xs") == "xs[1000][0]: expected float, got None"
