"""Compile a 1,000-task chain to a PipelineSpec: typedflow's Vertex compiler vs kfp's own
define+compile of the same chain, in one process. Usage: python benchmarks/bench_vertex_compile.py [N]"""

import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the structural checker lives with the tests

from typedflow.backends.vertex.compiler import compile_spec, dumps

from tests.support.vertex_spec import check
from typedflow import task, workflow

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000


@task
def inc(x: int) -> int:
    return x + 1


def typedflow_chain(n: int) -> tuple[float, float, float, float, int]:
    t0 = time.perf_counter()

    @workflow
    def chain(x: int) -> int:
        v = x
        for _ in range(n):
            v = inc(v)
        return v

    t1 = time.perf_counter()
    spec = compile_spec(chain.ir)
    t2 = time.perf_counter()
    text = dumps(spec, "chain.yaml")
    t3 = time.perf_counter()
    assert check(spec) == []
    return t1 - t0, t2 - t1, t3 - t2, time.perf_counter() - t3, len(text)


def kfp_chain(n: int) -> float:
    from kfp import compiler, dsl

    t0 = time.perf_counter()

    @dsl.component(base_image="python:3.11")
    def kinc(x: int) -> int:
        return x + 1

    @dsl.pipeline(name="chain")
    def chain(x: int) -> int:
        v = kinc(x=x)
        for _ in range(n - 1):
            v = kinc(x=v.output)
        return v.output  # type: ignore[no-any-return]  # kfp has no type information

    with tempfile.TemporaryDirectory() as d:
        compiler.Compiler().compile(chain, str(Path(d) / "chain.yaml"))
    return time.perf_counter() - t0


def main() -> None:
    warnings.simplefilter("ignore")
    trace, comp, ser, chk, size = typedflow_chain(N)
    print(
        f"typedflow: trace {trace:.2f} s, compile {comp:.2f} s, YAML {ser:.2f} s ({size / 1e6:.1f} MB), "
        f"structural check {chk:.2f} s; define+compile+write {trace + comp + ser:.2f} s for {N} tasks"
    )
    print(f"kfp:       define+compile {kfp_chain(N):.2f} s for {N} tasks")


if __name__ == "__main__":
    main()
