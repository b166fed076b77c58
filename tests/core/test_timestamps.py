"""The one timestamp format: RFC 3339, UTC, microseconds, ``Z``."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow.util.timestamps import at_ns, utcnow

_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def test_format_and_value() -> None:
    before = datetime.now(UTC)
    stamp = utcnow()
    after = datetime.now(UTC)
    assert _FORMAT.fullmatch(stamp)
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(microseconds=1) <= parsed <= after + timedelta(microseconds=1)


def test_threads_across_second_boundaries_get_consistent_stamps() -> None:
    bad: list[str] = []

    def worker() -> None:
        for _ in range(20_000):
            s = utcnow()
            now = datetime.now(UTC)
            parsed = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            if not _FORMAT.fullmatch(s) or not timedelta(0) <= now - parsed < timedelta(seconds=1):
                bad.append(s)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 253_402_300_799_999_999_999))  # up to 9999-12-31T23:59:59.999999999Z
def test_any_instant_is_written_as_datetime_writes_it(ns: int) -> None:
    expected = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert at_ns(ns) == expected
    assert at_ns(ns) == expected  # the second's prefix, now taken from the last call
