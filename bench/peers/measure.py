"""Shared measuring for the peer benchmarks: child processes, wall time, peak RSS, machine.

Each measured phase runs in its own child process, so the peak resident set size
the kernel reports for that child (``wait4``'s ``ru_maxrss``) belongs to that phase
alone, not to the benchmark driver or to an earlier phase.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KIB = 1024  # Linux reports ru_maxrss in KiB (getrusage(2))
MIB = 1 << 20


class PhaseFailedError(Exception):
    """A measured child process exited with a non-zero status."""


@dataclass(frozen=True)
class Measured:
    """One finished child process."""

    argv: tuple[str, ...]
    wall_s: float
    cpu_s: float  # user + system time of the child: less sensitive than wall time to load
    load_before: float  # 1-minute load average when it started: other work on the machine
    peak_rss_bytes: int
    stdout: str
    stderr: str

    def timing(self) -> dict[str, float]:
        """Its wall and CPU seconds, the load before it and its peak RSS, as reports hold them."""
        return {
            "seconds": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "load_before": round(self.load_before, 2),
            "peak_rss_mib": round(self.peak_rss_bytes / MIB, 1),
        }


def run_measured(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Measured:
    """Run ``argv`` to completion; raise PhaseFailedError unless it exits with status 0."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=None if env is None else dict(env), stdout=out, stderr=err
        )
        # Reap the child ourselves: wait4 returns this child's own resource usage.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        tail = (stderr + stdout).strip()[-3000:]
        raise PhaseFailedError(f"{' '.join(argv)} exited with {code}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(tuple(argv), wall, cpu, load, usage.ru_maxrss * KIB, stdout, stderr)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * KIB
    except OSError:
        pass
    return 0


def machine() -> dict[str, Any]:
    """The facts about this machine that a reader needs to compare timings."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": round(_ram_bytes() / (1 << 30), 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def file_size(path: Path) -> int:
    """Size of ``path`` in bytes."""
    return path.stat().st_size


def markdown_header(title: str, report: dict[str, Any]) -> list[str]:
    """A results file's first lines: its title, then the report's command, machine and date."""
    m = report["machine"]
    return [
        f"# {title}",
        "",
        f"- command: `{report['command']}`",
        f"- machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB RAM, {m['platform']}",
        f"- date: {m['date_utc']}",
    ]


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """The ``--json`` and ``--markdown`` output options every peer benchmark takes."""
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    parser.add_argument("--markdown", type=Path, help="also write a Markdown report here")


def emit_report(
    report: dict[str, Any], args: argparse.Namespace, to_markdown: Callable[[dict[str, Any]], str]
) -> None:
    """Print ``report`` as JSON and write it where ``--json`` / ``--markdown`` ask."""
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if args.markdown:
        args.markdown.write_text(to_markdown(report))
