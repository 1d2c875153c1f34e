"""Hostile clients: oversized bodies, slow loris, idle and busy connections, garbage bytes."""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings

from node.api import ApiError, ApiServer, Routes
from tests.node.api.harness import (
    TEST_LIMITS,
    parse_answer,
    raw_exchange,
    raw_request,
    start_daemon,
)


async def test_an_oversized_body_is_refused_before_it_is_read(
    nursery: trio.Nursery, tmp_path: Path
):
    daemon = await start_daemon(nursery, tmp_path)
    head = (
        f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {daemon.server.token}\r\n"
        "Content-Length: 100000000\r\n\r\n"
    ).encode()
    answer = parse_answer(await raw_exchange(daemon.port, head + b"{" * 1000))
    assert answer.status == 413
    assert answer.json()["error"]["code"] == "payload_too_large"
    assert answer.headers["connection"] == "close"


async def test_an_oversized_chunked_body_is_refused(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    chunk = b"1000\r\n" + b" " * 0x1000 + b"\r\n"
    head = (
        f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {daemon.server.token}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    answer = parse_answer(await raw_exchange(daemon.port, head + chunk * 2))
    assert answer.status == 413


async def test_the_client_sees_413_for_a_body_over_the_cap(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    with pytest.raises(ApiError) as caught:
        await daemon.call("post", "/echo", {"n": 1, "pad": "x" * TEST_LIMITS.max_body_bytes})
    assert caught.value.status == 413
    assert await daemon.call("post", "/echo", {"n": 1}) == {"got": {"n": 1}, "n": 1}


async def test_oversized_headers_get_431(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    big = {"X-Pad": "y" * TEST_LIMITS.max_header_bytes}
    answer = await raw_request(daemon.port, "GET", "/health", headers=big)
    assert answer.status == 431


async def test_a_slow_loris_is_cut_off(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    stream = await trio.open_tcp_stream("127.0.0.1", daemon.port)
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    started = trio.current_time()
    received = b""
    with trio.fail_after(5):
        try:
            for byte in request:  # a byte every 20 ms: 4 s for the whole request
                await stream.send_all(bytes([byte]))
                await trio.sleep(0.02)
        except trio.BrokenResourceError:
            pass
        while chunk := await stream.receive_some(4096):
            received += chunk
    elapsed = trio.current_time() - started
    assert TEST_LIMITS.request_timeout_s <= elapsed < TEST_LIMITS.request_timeout_s + 1.5
    assert parse_answer(received).status == 408
    await stream.aclose()


async def test_an_idle_keep_alive_connection_is_closed_quietly(
    nursery: trio.Nursery, tmp_path: Path
):
    daemon = await start_daemon(nursery, tmp_path)
    stream = await trio.open_tcp_stream("127.0.0.1", daemon.port)
    started = trio.current_time()
    with trio.fail_after(3):
        assert await stream.receive_some(4096) == b""
    assert trio.current_time() - started >= TEST_LIMITS.request_timeout_s
    await stream.aclose()


async def test_keep_alive_serves_a_bounded_number_of_requests(
    nursery: trio.Nursery, tmp_path: Path
):
    daemon = await start_daemon(nursery, tmp_path)
    one = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    raw = await raw_exchange(daemon.port, one * (TEST_LIMITS.max_requests_per_connection + 2))
    answers = raw.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == TEST_LIMITS.max_requests_per_connection
    assert all(a.startswith(b"200") for a in answers)
    assert b"connection: close" in answers[-1]
    assert b"connection: close" not in answers[0]


async def test_connections_over_the_cap_are_closed(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    held = [
        await trio.open_tcp_stream("127.0.0.1", daemon.port)
        for _ in range(TEST_LIMITS.max_connections)
    ]
    await trio.testing.wait_all_tasks_blocked(cushion=0.05)
    assert daemon.server.open_connections == TEST_LIMITS.max_connections
    extra = await trio.open_tcp_stream("127.0.0.1", daemon.port)
    # Closed at once, not after the request timeout that ends idle connections.
    with trio.fail_after(TEST_LIMITS.request_timeout_s / 2):
        assert await extra.receive_some(10) == b""
    for stream in [extra, *held]:
        await stream.aclose()
    await trio.sleep(0.05)
    assert (await raw_request(daemon.port, "GET", "/health")).status == 200


def _http_like() -> st.SearchStrategy[bytes]:
    methods = st.sampled_from([b"GET", b"POST", b"PUT", b"\x00", b"get", b""])
    targets = st.sampled_from([b"/health", b"/status", b"*", b"http://x/", b"/%zz", b"/jobs/1"])
    header = st.tuples(st.binary(max_size=20), st.binary(max_size=40)).map(
        lambda kv: kv[0] + b": " + kv[1] + b"\r\n"
    )
    return st.tuples(
        methods,
        targets,
        st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9", b""]),
        st.lists(header, max_size=4),
        st.sampled_from([b"", b"Content-Length: 5\r\n", b"Content-Length: -1\r\n"]),
        st.binary(max_size=64),
    ).map(
        lambda p: (
            p[0] + b" " + p[1] + b" " + p[2] + b"\r\n" + b"".join(p[3]) + p[4] + b"\r\n" + p[5]
        )
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.one_of(st.binary(max_size=512), _http_like()))
def test_garbage_never_takes_the_server_down(garbage: bytes):
    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            server = ApiServer(Routes(), limits=TEST_LIMITS)
            port = await nursery.start(server.run)
            raw = await raw_exchange(port, garbage, read_timeout_s=2.0)
            if raw:
                assert raw.startswith(b"HTTP/1.1 ")
                assert parse_answer(raw).status in range(200, 600)
            healthy = await raw_request(port, "GET", "/nope")
            assert healthy.status == 404
            nursery.cancel_scope.cancel()

    trio.run(scenario)
