"""Flyte's dynamic workflows (flytesnacks ``advanced_composition/dynamic_workflow.py``), without a dynamic graph.

The original builds its graph at run time: ``count_characters`` adds one ``return_index`` and one
``update_list`` node per character (a chain as long as the string), and ``merge_sort`` calls itself
until the pieces are small. typedflow's graph is fixed when the workflow is defined (so it is typed,
checked and compiled once, for every target), so the ports use the two patterns docs/comparison.md
recommends:

* ``count_characters``: ``map_over`` over a list a task computes (one ``return_index`` per character,
  run concurrently), and the sequential fold (``update_list`` applied once per index) inside one task;
* ``merge_sort``: the recursion's leaves computed by a task (the same halving rule), sorted by
  ``map_over``, then merged in the same tree shape; ``merge_sort_unrolled``: the recursion unrolled to
  a fixed depth of two with a sub-workflow, each level a ``when``/``otherwise`` whose value is
  ``one_of`` the two (a leaf sorts whatever it is given, so any input is sorted, only less finely split).
"""

from __future__ import annotations

from typing import NamedTuple

from typedflow import map_over, one_of, otherwise, task, when, workflow

# ----------------------------------------------------------------------------- common characters


@task
def characters(s: str) -> list[str]:
    return list(s)


@task
def return_index(character: str) -> int:
    return ord(character) - (ord("a") if character.islower() else ord("A"))


@task
def frequencies(indices: list[int]) -> list[int]:
    freq = [0] * 26
    for i in indices:  # the original's chain of update_list nodes, one per character
        freq[i] += 1
    return freq


@task
def derive_count(freq1: list[int], freq2: list[int]) -> int:
    return sum(min(a, b) for a, b in zip(freq1, freq2, strict=True))


@workflow
def count_characters(s1: str, s2: str) -> int:
    freq1 = frequencies(map_over(return_index, characters(s1)))
    freq2 = frequencies(map_over(return_index, characters(s2)))
    return derive_count(freq1, freq2)


# ----------------------------------------------------------------------------- merge sort


class Halves(NamedTuple):
    first: list[int]
    second: list[int]


def _halve(numbers: list[int]) -> tuple[list[int], list[int]]:
    mid = len(numbers) // 2
    return numbers[:mid], numbers[mid:]


def _merge(a: list[int], b: list[int]) -> list[int]:
    out: list[int] = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] < b[j]:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    return out + a[i:] + b[j:]


def _leaves(numbers: list[int], run_local_at_count: int) -> list[list[int]]:
    if len(numbers) <= run_local_at_count:
        return [numbers]
    first, second = _halve(numbers)
    return _leaves(first, run_local_at_count) + _leaves(second, run_local_at_count)


@task
def leaves(numbers: list[int], run_local_at_count: int) -> list[list[int]]:
    """The pieces the original's recursion sorts locally, left to right."""
    return _leaves(numbers, run_local_at_count)


@task
def sort_locally(numbers: list[int]) -> list[int]:
    return sorted(numbers)


@task
def merge_tree(pieces: list[list[int]], numbers: list[int], run_local_at_count: int) -> list[int]:
    """Merge the sorted pieces back in the recursion's shape (halving ``numbers`` the same way)."""
    queue = iter(pieces)

    def rebuild(part: list[int]) -> list[int]:
        if len(part) <= run_local_at_count:
            return next(queue)
        first, second = _halve(part)
        return _merge(rebuild(first), rebuild(second))

    return rebuild(numbers)


@workflow
def merge_sort(numbers: list[int], run_local_at_count: int = 5) -> list[int]:
    pieces = map_over(sort_locally, leaves(numbers, run_local_at_count))
    return merge_tree(pieces, numbers, run_local_at_count)


@task
def split(numbers: list[int]) -> Halves:
    first, second = _halve(numbers)
    return Halves(first, second)


@task
def merge(sorted_list1: list[int], sorted_list2: list[int]) -> list[int]:
    return _merge(sorted_list1, sorted_list2)


@task
def count(numbers: list[int]) -> int:
    return len(numbers)


@workflow
def merge_sort_level(numbers: list[int], run_local_at_count: int) -> list[int]:
    """One level of the recursion whose halves are sorted locally: the unrolled recursion's last level."""
    with when(count(numbers) <= run_local_at_count):
        leaf = sort_locally(numbers)
    with otherwise():
        first, second = split(numbers)
        merged = merge(sort_locally(first), sort_locally(second))
    return one_of(leaf, merged)


@workflow
def merge_sort_unrolled(numbers: list[int], run_local_at_count: int = 5) -> list[int]:
    with when(count(numbers) <= run_local_at_count):
        leaf = sort_locally(numbers)
    with otherwise():
        first, second = split(numbers)
        first_sorted = merge_sort_level(first, run_local_at_count)
        second_sorted = merge_sort_level(second, run_local_at_count)
        merged = merge(first_sorted, second_sorted)
    return one_of(leaf, merged)


# ----------------------------------------------------------------------------- the same logic in Python


def ref_count_characters(s1: str, s2: str) -> int:
    def freq(s: str) -> list[int]:
        f = [0] * 26
        for c in s:
            f[ord(c) - (ord("a") if c.islower() else ord("A"))] += 1
        return f

    return sum(min(a, b) for a, b in zip(freq(s1), freq(s2), strict=True))


def ref_merge_sort(numbers: list[int], run_local_at_count: int = 5) -> list[int]:
    """The original's recursion, in plain Python."""
    if len(numbers) <= run_local_at_count:
        return sorted(numbers)
    first, second = _halve(numbers)
    return _merge(ref_merge_sort(first, run_local_at_count), ref_merge_sort(second, run_local_at_count))
