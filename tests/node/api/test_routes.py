"""The route registry on its own: matching, precedence, converters, bad patterns."""

from __future__ import annotations

import pytest

from node.api import ApiRequest, BadRequest, MethodNotAllowed, NotFound, Routes


async def handler(request: ApiRequest) -> object:
    return None


def test_literal_segments_win_over_parameters():
    routes = Routes()
    routes.get("/jobs/{id}", handler)
    routes.get("/jobs/active", handler)
    assert routes.match("GET", ["jobs", "active"]).route.pattern == "/jobs/active"
    assert routes.match("GET", ["jobs", "x"]).params == {"id": "x"}


def test_unknown_paths_and_methods():
    routes = Routes()
    routes.get("/", handler)
    routes.post("/jobs", handler)
    routes.get("/jobs", handler)
    assert routes.match("GET", []).route.pattern == "/"
    with pytest.raises(NotFound):
        routes.match("GET", ["jobs", "1", "x"])
    with pytest.raises(MethodNotAllowed) as caught:
        routes.match("DELETE", ["jobs"])
    assert caught.value.allow == ["GET", "POST"]


def test_converters_type_the_parameters():
    routes = Routes(converters={"hex": lambda text: bytes.fromhex(text.removeprefix("0x"))})
    routes.get("/jobs/{id:int}/bids/{bid:hex}", handler)
    match = routes.match("GET", ["jobs", "77", "bids", "0xab01"])
    assert match.params == {"id": 77, "bid": b"\xab\x01"}
    for bad in (["jobs", "-1", "bids", "00"], ["jobs", "1" * 79, "bids", "00"]):
        with pytest.raises(BadRequest, match="path parameter id"):
            routes.match("GET", bad)
    with pytest.raises(BadRequest, match="path parameter bid"):
        routes.match("GET", ["jobs", "1", "bids", "zz"])


@pytest.mark.parametrize(
    "pattern", ["jobs", "/jobs/{id:float}", "/jobs/{id}/{id}", "/jobs//x", "/jobs/{x"]
)
def test_bad_patterns_are_refused(pattern: str):
    with pytest.raises(ValueError, match="route pattern"):
        Routes().get(pattern, handler)


def test_clashing_routes_are_refused():
    routes = Routes()
    routes.get("/jobs/{id}", handler)
    routes.post("/jobs/{id}", handler)
    with pytest.raises(ValueError, match="clashes"):
        routes.get("/jobs/{other:int}", handler)


def test_request_helpers_check_values():
    request = ApiRequest("GET", "/", query={"n": "5", "f": "inf"}, body={"a": 1, "b": True})
    assert request.query_int("n", 0, maximum=5) == 5
    assert request.query_int("missing", 9) == 9
    with pytest.raises(BadRequest):
        request.query_int("n", 0, maximum=4)
    with pytest.raises(BadRequest, match="finite"):
        request.query_float("f", 1.0)
    assert request.field("a", int) == 1
    assert request.field("b", bool) is True
    with pytest.raises(BadRequest):
        request.field("b", int)
    with pytest.raises(BadRequest, match="needs the field"):
        request.field("c", str)
