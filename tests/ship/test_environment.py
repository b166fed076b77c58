"""Environment declarations: canonical requirements, the IR field (absent when unused, so digests of
workflows without environments do not change), checks on load, and environment digests."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow import Environment, task, workflow
from typedflow.dsl.environment import BadEnvironment, digest, requirement
from typedflow.errors import IRValidationError
from typedflow.ir.codec import dumps, loads, to_data


@task
def plus(x: int) -> int:
    return x + 1


@task(environment=Environment(packages=["numpy>=1.20"]))
def heavy(x: int) -> int:
    return x * 2


@workflow
def plain(x: int) -> int:
    return plus(x=x)


@workflow(environment=Environment(python="3.11", packages=["scikit-learn >= 1.4"], env={"OMP_NUM_THREADS": "1"}))
def declared(x: int) -> int:
    return heavy(x=plus(x=x))


def test_a_workflow_without_environments_has_no_environment_keys() -> None:
    data = to_data(plain.ir)
    assert "environment" not in data["workflow"]
    assert all("environment" not in t for t in data["tasks"])
    # the digest is that of the document as it was before environments existed
    assert '"environment"' not in dumps(plain.ir)


def test_environments_are_in_the_ir_and_round_trip() -> None:
    doc = declared.ir
    assert doc.workflow.environment is not None
    assert doc.workflow.environment.packages == ("scikit-learn>=1.4",)
    assert doc.workflow.environment.env == (("OMP_NUM_THREADS", "1"),)
    assert doc.task("heavy").environment is not None
    assert doc.task("plus").environment is None
    assert loads(dumps(doc)) == doc


def test_requirements_file_is_read_relative_to_the_declaring_file(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("pandas>=2  # data frames\n\n-r more.txt\n")
    (tmp_path / "more.txt").write_text("# comment\npyarrow\n")
    env = Environment(requirements=str(tmp_path / "requirements.txt"), packages=["pandas>=2"])
    assert env.to_ir().packages == ("pandas>=2", "pyarrow")
    (tmp_path / "bad.txt").write_text("--index-url https://elsewhere\n")
    with pytest.raises(BadEnvironment, match="pip option '--index-url'"):
        Environment(requirements=str(tmp_path / "bad.txt"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"packages": ["x; rm -rf /"]}, "not a requirement specifier"),
        ({"packages": ["pkg @ https://example.invalid/p.whl"]}, "URLs and environment markers"),
        ({"packages": ['numpy; python_version < "3.12"']}, "URLs and environment markers"),
        ({"packages": "numpy"}, "one string"),
        ({"python": "2.7"}, "python '2.7'"),
        ({"base_image": "python:3.11 && curl"}, "not an image reference"),
        ({"env": {"A B": "1"}}, "not a variable name"),
        ({"env": {"A": "line\nbreak"}}, "printable characters"),
    ],
)
def test_unsafe_declarations_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(BadEnvironment, match=message):
        Environment(**kwargs)  # type: ignore[arg-type]


def _tampered(doc_text: str, edit: object) -> str:
    from typedflow.ir.codec import compute_digest, from_data

    data = json.loads(doc_text)
    edit(data)  # type: ignore[operator]
    data["digest"] = ""
    # a digest that matches the edited content: only the environment check can refuse it
    doc = from_data.__globals__["converter"].structure(data, type(declared.ir))
    data["digest"] = compute_digest(doc)
    return json.dumps(data)


def test_a_hostile_environment_in_an_ir_document_is_refused() -> None:
    def edit(data: dict[str, object]) -> None:
        data["workflow"]["environment"]["packages"] = ["numpy>=1\nRUN curl evil"]  # type: ignore[index]

    with pytest.raises(IRValidationError, match="environment"):
        loads(_tampered(dumps(declared.ir), edit))

    def edit_env(data: dict[str, object]) -> None:
        data["tasks"][0]["environment"] = {  # type: ignore[index]
            "python": None,
            "packages": ["numpy>=1"],
            "base_image": None,
            "env": [["A", "x"], ["A", "y"]],
        }

    with pytest.raises(IRValidationError, match="twice"):
        loads(_tampered(dumps(declared.ir), edit_env))


def test_identical_environments_have_identical_digests() -> None:
    a = Environment(packages=["b>=1", "a"], env={"X": "1", "Y": "2"}).to_ir()
    b = Environment(packages=["a", "b >= 1"], env={"Y": "2", "X": "1"}).to_ir()
    assert digest(a) == digest(b)
    assert digest(a) != digest(attrs.evolve(a, python="3.12"))
    assert digest(a) != digest(attrs.evolve(a, packages=("a", "b>=2")))


_NAMES = st.from_regex(r"[a-z]([a-z0-9_-]{0,9}[a-z0-9])?", fullmatch=True)
_SPECS = st.lists(
    st.tuples(
        st.sampled_from(["==", ">=", "<", "~=", "!="]),
        st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}(\.[0-9]{1,2})?", fullmatch=True),
    ),
    max_size=2,
)


@settings(max_examples=60, deadline=None)
@given(name=_NAMES, spec=_SPECS, spaces=st.booleans())
def test_requirements_have_one_canonical_form(name: str, spec: list[tuple[str, str]], spaces: bool) -> None:
    sep = " , " if spaces else ","
    text = name + sep.join((" " if spaces else "") + op + v for op, v in spec)
    once = requirement(text)
    assert requirement(once) == once
    assert " " not in once
