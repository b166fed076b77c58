"""Cache keys and input digests: what they are a digest of, and that files count by content only."""

from __future__ import annotations

import attrs

from typedflow.ir.canonical import digest
from typedflow.runtime.execute import cache_key, input_digests

from . import flows


def test_cache_key_is_the_digest_of_its_documented_parts() -> None:
    for template, inputs in (
        (flows.add.template, {"a": 1, "b": 2}),
        (flows.inc.template, {"x": 7}),
        (flows.count_rows.template, {"data": {"uri": "/a.csv", "sha256": "ab", "format": "csv"}}),
    ):
        parts = input_digests(template, inputs)
        assert (
            cache_key(template, inputs)
            == cache_key(template, inputs, parts)
            == digest(
                {
                    "task": template.name,
                    "code": template.code_digest,
                    "cache_version": template.cache.version,
                    "version": template.version,
                    "inputs": parts,
                }
            )
        )
        bumped = attrs.evolve(template, cache=attrs.evolve(template.cache, version="2"))
        assert cache_key(bumped, inputs) != cache_key(template, inputs)
    # inputs declared out of order: the document's keys are sorted all the same
    reordered = attrs.evolve(flows.add.template, inputs=flows.add.template.inputs[::-1])
    parts = input_digests(reordered, {"a": 1, "b": 2})
    assert cache_key(reordered, {"a": 1, "b": 2}) == cache_key(flows.add.template, {"a": 1, "b": 2})
    # digests for other names than the template's (a caller's own): encoded as given
    odd = {"b": digest(2), "z": "sha256:\u00e9"}
    assert cache_key(reordered, {}, odd) == digest(
        {
            "task": reordered.name,
            "code": reordered.code_digest,
            "cache_version": reordered.cache.version,
            "version": reordered.version,
            "inputs": odd,
        }
    )
    assert parts == {"a": digest(1), "b": digest(2)}
    # one input: its own name or another's (a caller's own digests)
    assert cache_key(flows.inc.template, {}, {"y": digest(7)}) == digest(
        {
            "task": "inc",
            "code": flows.inc.template.code_digest,
            "cache_version": flows.inc.template.cache.version,
            "version": flows.inc.template.version,
            "inputs": {"y": digest(7)},
        }
    )
    assert input_digests(flows.inc.template, {"x": 7}) == {"x": digest(7)}


def test_file_inputs_are_digested_by_content_not_location() -> None:
    template = flows.count_rows.template
    here = {"data": {"uri": "/a/x.csv", "sha256": "ab", "format": "csv"}}
    there = {"data": {"uri": "s3://b/y.csv", "sha256": "ab", "format": "csv"}}
    other = {"data": {"uri": "/a/x.csv", "sha256": "cd", "format": "csv"}}
    assert input_digests(template, here) == input_digests(template, there) != input_digests(template, other)
    assert input_digests(flows.add.template, {"a": 1, "b": 2}) == {"a": digest(1), "b": digest(2)}


def test_an_unreadable_cache_entry_is_a_miss(tmp_path, caplog) -> None:
    from typedflow.runtime.execute import execute, probe
    from typedflow.runtime.store import LocalStore

    class Unreadable(LocalStore):
        def get_json(self, key: str) -> object:  # as S3 read during a concurrent overwrite can fail
            raise ValueError("I/O operation on closed file.")

    template = flows.add.template
    store = Unreadable(tmp_path)
    looked = probe(template, {"a": 1, "b": 2}, store, True)
    assert looked.hit is None and looked.key is not None and "unreadable" in caplog.text
    assert execute(template, {"a": 1, "b": 2}, store=store).outputs == {"out": 3}
