"""Tasks in a module that takes a while to import where TF_TEST_IMPORT_DELAY says so (a worker process:
the test sets it after this module was imported by the test process)."""

from __future__ import annotations

import os
import time

from typedflow import map_over, task, workflow

time.sleep(float(os.environ.get("TF_TEST_IMPORT_DELAY", "0")))  # as importing a heavy library would


@task(timeout=1.0)
def quick_with_timeout(x: int) -> int:
    return x + 1


@workflow
def quick_items(xs: list[int]) -> list[int]:
    return map_over(lambda x: quick_with_timeout(x=x), xs)
