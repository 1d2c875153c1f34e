"""The API server end to end: token files, auth, the node routes, error statuses and bodies."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
import trio

from node.api import ApiConfigError, ApiError, ApiRequest, ApiServer, DaemonNotRunning, Routes
from node.api.files import INFO_FILE, TOKEN_FILE
from tests.node.api.harness import raw_request, start_daemon


async def test_status_answers_with_the_token_from_the_home(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    status = await daemon.call("get", "/status")
    assert status["pid"] == os.getpid()
    assert status["ready"] is True
    assert status["node"] == {"role": "prover"}
    assert status["version"] == "0.1.0"
    assert status["uptime_s"] >= 0


async def test_token_file_is_private_and_api_json_names_the_port(
    nursery: trio.Nursery, tmp_path: Path
):
    daemon = await start_daemon(nursery, tmp_path)
    token_path = tmp_path / TOKEN_FILE
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    assert token_path.read_text().strip() == daemon.server.token
    assert len(daemon.server.token) >= 43  # 32 random bytes, base64url
    info = json.loads((tmp_path / INFO_FILE).read_text())
    assert info == {"host": "127.0.0.1", "port": daemon.port, "pid": os.getpid()}
    assert sorted(os.listdir(tmp_path)) == [INFO_FILE, TOKEN_FILE]  # no temp files left


async def test_every_start_gets_a_fresh_token_and_shutdown_removes_the_files(tmp_path: Path):
    tokens = []
    for _ in range(2):
        async with trio.open_nursery() as nursery:
            daemon = await start_daemon(nursery, tmp_path)
            tokens.append((tmp_path / TOKEN_FILE).read_text().strip())
            assert (await daemon.call("get", "/health")) == {"status": "ok"}
            nursery.cancel_scope.cancel()
        assert not (tmp_path / INFO_FILE).exists()
        assert not (tmp_path / TOKEN_FILE).exists()
        with pytest.raises(OSError, match="connect"):  # the port is closed
            await trio.open_tcp_stream("127.0.0.1", daemon.port)
    assert tokens[0] != tokens[1]


async def test_requests_without_the_right_token_get_401(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    missing = await raw_request(daemon.port, "GET", "/status")
    assert missing.status == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = await raw_request(daemon.port, "GET", "/status", token=daemon.server.token[:-1] + "x")
    assert wrong.status == 401
    basic = await raw_request(
        daemon.port, "GET", "/status", headers={"Authorization": f"Basic {daemon.server.token}"}
    )
    assert basic.status == 401
    right = await raw_request(daemon.port, "GET", "/status", token=daemon.server.token)
    assert right.status == 200


async def test_a_stale_token_is_reported_as_such(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    client = daemon.client()
    (tmp_path / TOKEN_FILE).write_text("an-old-token\n")
    stale = type(client).for_home(tmp_path)
    with pytest.raises(ApiError) as caught:
        await trio.to_thread.run_sync(stale.get, "/status")
    assert caught.value.status == 401
    assert "stale" in str(caught.value)
    assert (await trio.to_thread.run_sync(client.get, "/status"))["ready"]


async def test_health_and_metrics_need_no_token(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    health = await raw_request(daemon.port, "GET", "/health")
    assert (health.status, health.json()) == (200, {"status": "ok"})
    metrics = await raw_request(daemon.port, "GET", "/metrics")
    assert metrics.status == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert b"provernet_jobs" in metrics.body


async def test_a_foreign_host_header_is_refused(nursery: trio.Nursery, tmp_path: Path):
    """A web page that rebinds its DNS name to 127.0.0.1 still sends its own Host."""
    daemon = await start_daemon(nursery, tmp_path)
    answer = await raw_request(daemon.port, "GET", "/metrics", headers={"Host": "evil.example"})
    assert answer.status == 400
    localhost = await raw_request(daemon.port, "GET", "/health", headers={"Host": "localhost:1"})
    assert localhost.status == 200


async def test_error_statuses_and_bodies(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    daemon = await start_daemon(nursery, tmp_path)
    token, port = daemon.server.token, daemon.port
    cases = [
        ("GET", "/nope", b"", 404, "not_found"),
        ("POST", "/status", b"", 405, "method_not_allowed"),
        ("GET", "/jobs/abc", b"", 400, "bad_request"),
        ("GET", "/jobs/7?verbose=x", b"", 400, "bad_request"),
        ("POST", "/echo", b"{not json", 400, "bad_request"),
        ("POST", "/echo", b"[1, 2]", 400, "bad_request"),
        ("POST", "/echo", b'{"n": true}', 400, "bad_request"),
        ("POST", "/invalid", b"{}", 400, "invalid"),
        ("GET", "/jobs/%ff", b"", 400, "bad_request"),
    ]
    for method, path, body, status, code in cases:
        answer = await raw_request(port, method, path, token=token, body=body)
        assert (answer.status, answer.json()["error"]["code"]) == (status, code), path
        assert answer.json()["error"]["message"]
    not_allowed = await raw_request(port, "POST", "/status", token=token)
    assert not_allowed.headers["allow"] == "GET"
    with caplog.at_level(logging.ERROR, logger="node.api.server"):
        boom = await raw_request(port, "GET", "/boom", token=token)
    assert boom.status == 500
    assert boom.json()["error"]["code"] == "internal"
    assert b"secret internal detail" not in boom.body
    assert "secret internal detail" in caplog.text  # the traceback went to the log


async def test_routes_get_typed_parameters(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    assert await daemon.call("get", "/jobs/12", {"verbose": 2}) == {"id": 12, "verbose": 2}
    assert await daemon.call("get", "/jobs/active") == ["active"]
    assert await daemon.call("post", "/echo", {"n": 3, "x": [1]}) == {
        "got": {"n": 3, "x": [1]},
        "n": 3,
    }
    assert daemon.calls[0].params == {"id": 12}


async def test_engine_routes_answer_503_until_ready(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    daemon.readiness.wait_for("chain sync")
    with pytest.raises(ApiError) as caught:
        await daemon.call("get", "/jobs/1")
    assert (caught.value.status, caught.value.code) == (503, "not_ready")
    assert "chain sync" in caught.value.message
    health = await raw_request(daemon.port, "GET", "/health")
    assert health.status == 503
    status = await daemon.call("get", "/status")
    assert (status["ready"], status["pending"]) == (False, ["chain sync"])
    daemon.readiness.done("chain sync")
    assert await daemon.call("get", "/jobs/1") == {"id": 1, "verbose": 0}


def test_the_server_refuses_any_address_but_loopback():
    for host in ("0.0.0.0", "::", "192.168.1.2", "localhost"):
        with pytest.raises(ApiConfigError, match=r"127\.0\.0\.1"):
            ApiServer(Routes(), host=host)
    with pytest.raises(ApiConfigError):
        ApiServer(Routes(), port=70000)


async def test_a_port_in_use_is_named(nursery: trio.Nursery, tmp_path: Path):
    daemon = await start_daemon(nursery, tmp_path)
    other = ApiServer(Routes(), port=daemon.port)
    with pytest.raises(ApiConfigError, match=str(daemon.port)):
        await other.run()


async def test_shutdown_during_a_long_poll_is_prompt_and_the_client_says_not_running(
    tmp_path: Path,
):
    async with trio.open_nursery() as outer:
        server_scope = trio.CancelScope()
        started = trio.Event()
        daemon_ref = []

        async def serve() -> None:
            with server_scope:
                async with trio.open_nursery() as inner:
                    daemon_ref.append(await start_daemon(inner, tmp_path))
                    started.set()

        outer.start_soon(serve)
        await started.wait()
        client = daemon_ref[0].client()

        def watch() -> object:
            try:
                return client.poll("/jobs/1/events", after=0, timeout_s=30)
            except DaemonNotRunning as exc:
                return exc

        result: list[object] = []

        async def run_watch() -> None:
            result.append(await trio.to_thread.run_sync(watch))

        outer.start_soon(run_watch)
        await trio.sleep(0.2)  # the poll is now waiting inside the server
        stopped_at = trio.current_time()
        server_scope.cancel()
    assert trio.current_time() - stopped_at < 2
    assert isinstance(result[0], DaemonNotRunning)
    assert not (tmp_path / INFO_FILE).exists()


async def test_a_handler_returning_nan_is_a_500_not_bad_json(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    routes = Routes()

    async def nan(request: ApiRequest) -> object:
        return {"x": float("nan")}

    routes.get("/nan", nan)
    server = ApiServer(routes, token="t")
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        with caplog.at_level(logging.ERROR, logger="node.api.server"):
            answer = await raw_request(port, "GET", "/nan", token="t")
        nursery.cancel_scope.cancel()
    assert answer.status == 500
    assert "Out of range float" in caplog.text
