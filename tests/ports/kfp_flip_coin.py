"""KFP's flip-coin pipeline (``test_data/.../critical/flip_coin.py``): nested conditions on a coin and a number.

``set_caching_options(False)`` on each call is ``task.options(cache=False)(...)`` here. The original's
pairs of complementary ``dsl.If`` (``> 5`` and ``<= 5``) are ``when``/``otherwise``, and the message
printed is a value: ``one_of`` the branch that ran. The message is formatted by a task (the pipeline
body builds a graph and formats nothing). The draws take seeds so that runs are reproducible.
"""

from __future__ import annotations

import random

from typedflow import one_of, otherwise, task, when, workflow


@task
def random_num(low: int, high: int, seed: int) -> int:
    return random.Random(seed).randint(low, high)


@task
def flip_coin(seed: int) -> str:
    return "heads" if random.Random(seed).randint(0, 1) == 0 else "tails"


@task
def announce(side: str, n: int, comparison: str, bound: int) -> str:
    return f"{side} and {n} {comparison} {bound}!"


@task
def print_msg(msg: str) -> str:
    print(msg)
    return msg


@workflow
def flipcoin_pipeline(flip_seed: int = 0, num_seed: int = 0) -> str:
    flip = flip_coin.options(cache=False)(flip_seed)
    with when(flip == "heads"):
        head = random_num.options(cache=False)(0, 9, num_seed)
        with when(head > 5):
            high_head = announce.options(cache=False)("heads", head, ">", 5)
        with otherwise():
            low_head = announce.options(cache=False)("heads", head, "<=", 5)
        heads_msg = print_msg.options(cache=False)(one_of(high_head, low_head))
    with otherwise():
        tail = random_num.options(cache=False)(10, 19, num_seed)
        with when(tail > 15):
            high_tail = announce.options(cache=False)("tails", tail, ">", 15)
        with otherwise():
            low_tail = announce.options(cache=False)("tails", tail, "<=", 15)
        tails_msg = print_msg.options(cache=False)(one_of(high_tail, low_tail))
    return one_of(heads_msg, tails_msg)


def reference(flip_seed: int = 0, num_seed: int = 0) -> str:
    if random.Random(flip_seed).randint(0, 1) == 0:
        n = random.Random(num_seed).randint(0, 9)
        return f"heads and {n} > 5!" if n > 5 else f"heads and {n} <= 5!"
    n = random.Random(num_seed).randint(10, 19)
    return f"tails and {n} > 15!" if n > 15 else f"tails and {n} <= 15!"
