"""Run one EZKL phase in this process and print its timing as JSON (EZKL's virtualenv only).

``python ezkl_phase.py PHASE ARGS_JSON`` calls ``ezkl.PHASE(**ARGS)`` and prints
``{"phase", "seconds", "result"}`` on the last line of stdout. ``seconds`` times the
EZKL call alone, not interpreter start-up or the import. Some EZKL entry points
return awaitables; those are run to completion inside the timed region. The extra
phase ``outputs`` runs ``gen_witness`` on each of ``inputs`` (a list of data files)
and returns the rescaled outputs EZKL's circuit computes for each, for error checks.
This file imports only the standard library and ezkl, so it runs in the isolated
EZKL virtualenv and never in provernet's.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import time
from collections.abc import Awaitable
from typing import Any

import ezkl  # type: ignore[import-not-found,unused-ignore]

PHASES = (
    "gen_settings",
    "calibrate_settings",
    "compile_circuit",
    "gen_srs",
    "setup",
    "gen_witness",
    "prove",
    "verify",
    "outputs",
)


async def _await(value: Awaitable[Any]) -> Any:
    return await value


def _run_args(options: dict[str, Any]) -> Any:
    run_args = ezkl.PyRunArgs()
    for key, value in options.items():
        setattr(run_args, key, value)
    return run_args


def outputs(inputs: list[str], output: str, **kwargs: Any) -> list[list[float]]:
    """EZKL's rescaled (float) outputs for each input data file."""
    rows = []
    for data in inputs:
        ezkl.gen_witness(data=data, output=output, **kwargs)
        with open(output) as f:
            pretty = json.load(f)["pretty_elements"]["rescaled_outputs"]
        rows.append([float(v) for row in pretty for v in row])
    return rows


def call(phase: str, kwargs: dict[str, Any]) -> tuple[float, Any, bool]:
    """Call ``ezkl.<phase>(**kwargs)``; return (seconds, result, whether it was awaited)."""
    if phase == "outputs":
        start = time.perf_counter()
        rows = outputs(**kwargs)
        return time.perf_counter() - start, rows, False
    if "py_run_args" in kwargs:
        kwargs = {**kwargs, "py_run_args": _run_args(kwargs["py_run_args"])}
    function = getattr(ezkl, phase)
    start = time.perf_counter()
    result = function(**kwargs)
    awaited = inspect.isawaitable(result)
    if awaited:
        result = asyncio.run(_await(result))
    return time.perf_counter() - start, result, awaited


def main() -> int:
    """Parse ``PHASE ARGS_JSON``, run the phase, print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("phase", choices=PHASES)
    parser.add_argument("args_json", help="keyword arguments of the ezkl call, as JSON")
    args = parser.parse_args()
    seconds, result, awaited = call(args.phase, json.loads(args.args_json))
    if result is False:
        print(json.dumps({"phase": args.phase, "error": "ezkl returned False"}))
        return 1
    plain = isinstance(result, bool | int | float | str | None) or args.phase == "outputs"
    summary = result if plain else type(result).__name__
    summary_doc = {"phase": args.phase, "seconds": seconds, "result": summary, "async": awaited}
    print(json.dumps(summary_doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
