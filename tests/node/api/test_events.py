"""Event logs and long polling: numbering, bounds, waking on append and close, timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from node.api import ApiError, EventLog
from tests.node.api.harness import start_daemon


def test_events_are_numbered_and_read_after_a_cursor():
    log = EventLog()
    assert [log.append(name) for name in ("created", "bid", "awarded")] == [1, 2, 3]
    page = log.since(1)
    assert (page.events, page.next, page.closed, page.missed) == (
        [(2, "bid"), (3, "awarded")],
        3,
        False,
        0,
    )
    assert log.since(3).events == []


def test_a_bounded_log_reports_what_a_slow_reader_missed():
    log = EventLog(max_events=2)
    for n in range(5):
        log.append(n)
    page = log.since(1)
    assert page.events == [(4, 3), (5, 4)]
    assert page.missed == 2  # events 2 and 3 are gone


def test_a_cursor_from_an_earlier_run_reads_from_the_start():
    log = EventLog()
    log.append("restarted")
    assert log.since(40).events == [(1, "restarted")]


def test_a_closed_log_takes_no_more_events():
    log = EventLog()
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.append("late")
    with pytest.raises(ValueError, match="max_events"):
        EventLog(max_events=0)


async def test_a_waiter_wakes_on_append(autojump_clock: trio.testing.MockClock):
    log = EventLog()
    log.append("old")

    async def append_later() -> None:
        await trio.sleep(5)
        log.append("new")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(append_later)
        page = await log.wait_since(1, timeout_s=30)
    assert page.events == [(2, "new")]
    assert trio.current_time() == pytest.approx(5)


async def test_a_waiter_returns_empty_at_the_timeout(autojump_clock: trio.testing.MockClock):
    log = EventLog()
    log.append("old")
    page = await log.wait_since(1, timeout_s=7)
    assert (page.events, page.next, page.closed) == ([], 1, False)
    assert trio.current_time() == pytest.approx(7)


async def test_a_waiter_wakes_on_close(autojump_clock: trio.testing.MockClock):
    log = EventLog()

    async def close_later() -> None:
        await trio.sleep(3)
        log.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(close_later)
        page = await log.wait_since(0, timeout_s=30)
    assert (page.events, page.closed) == ([], True)
    assert trio.current_time() == pytest.approx(3)


async def test_long_poll_over_http_returns_on_append_and_on_timeout(
    nursery: trio.Nursery, tmp_path: Path
):
    daemon = await start_daemon(nursery, tmp_path)
    daemon.log.append({"state": "created"})
    first = await daemon.call("poll", "/jobs/1/events", after=0, timeout_s=5)
    assert first["events"] == [{"seq": 1, "event": {"state": "created"}}]

    started = trio.current_time()
    empty = await daemon.call("poll", "/jobs/1/events", after=1, timeout_s=0.3)
    assert (empty["events"], empty["next"]) == ([], 1)
    assert 0.3 <= trio.current_time() - started < 2

    async def append_soon() -> None:
        await trio.sleep(0.2)
        daemon.log.append({"state": "awarded"})
        daemon.log.close()

    nursery.start_soon(append_soon)
    started = trio.current_time()
    woke = await daemon.call("poll", "/jobs/1/events", after=1, timeout_s=20)
    assert woke["events"] == [{"seq": 2, "event": {"state": "awarded"}}]
    assert trio.current_time() - started < 5  # woken by the append, not the timeout


async def test_watch_follows_a_log_until_it_closes(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)

    async def feed() -> None:
        for state in ("created", "announced", "proven"):
            await trio.sleep(0.05)
            daemon.log.append(state)
        daemon.log.close()

    nursery.start_soon(feed)
    client = daemon.client()
    seen = await trio.to_thread.run_sync(lambda: list(client.watch("/jobs/1/events", timeout_s=5)))
    assert seen == ["created", "announced", "proven"]


async def test_long_poll_parameters_are_checked(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    for query in ({"after": -1}, {"timeout": 1000}, {"timeout": "nan"}, {"after": "x"}):
        with pytest.raises(ApiError, match="query parameter") as caught:
            await daemon.call("get", "/jobs/1/events", query)
        assert caught.value.status == 400
