"""The collector is off while a compile runs and as it was afterwards, whether the compile fails or not."""

import gc

import pytest
from typedflow.backends.stepfunctions.paths import Frame, Loc

from typedflow.util.gcpause import gc_paused


@pytest.mark.parametrize("was_enabled", [True, False])
@pytest.mark.parametrize("fails", [True, False])
def test_gc_paused_restores_the_collector(was_enabled: bool, fails: bool) -> None:
    seen: list[bool] = []

    @gc_paused
    def compile_() -> int:
        seen.append(gc.isenabled())
        if fails:
            raise ValueError("bad workflow")
        return 7

    (gc.enable if was_enabled else gc.disable)()
    try:
        if fails:
            with pytest.raises(ValueError, match="bad workflow"):
                compile_()
        else:
            assert compile_() == 7
        assert seen == [False]
        assert gc.isenabled() is was_enabled
    finally:
        gc.enable()


def test_a_nested_frame_sees_the_outer_nodes_and_reports_only_what_it_set() -> None:
    outer = Frame()
    outer.nodes["a"] = Loc("$.n_a", False)
    outer.nodes["b"] = Loc("$.n_b", False)
    inner = outer.copy()
    assert inner.nodes["a"] == Loc("$.n_a", False)
    inner.nodes["c"] = Loc("$.n_c", False)
    inner.nodes["b"] = Loc("$.n_b", False)  # set again where it already was: not new
    inner.nodes["a"] = Loc("$.p1.b0.n_a", True)  # moved: reported
    assert inner.added(outer) == {"c": Loc("$.n_c", False), "a": Loc("$.p1.b0.n_a", True)}
    assert dict(outer.nodes) == {"a": Loc("$.n_a", False), "b": Loc("$.n_b", False)}  # the outer frame is untouched
    deeper = inner.copy()
    deeper.nodes["d"] = Loc("$.n_d", False)
    assert deeper.nodes["c"] == Loc("$.n_c", False)
    assert deeper.added(inner) == {"d": Loc("$.n_d", False)}
