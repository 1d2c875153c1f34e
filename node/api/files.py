"""The files by which the CLI finds a running daemon's API: ``api.json`` and ``api.token``.

``api.token`` holds the bearer token, readable by the owner only (created 0600,
never wider, even for an instant). ``api.json`` holds the port and the daemon's
pid. Both are written whole under a temporary name and renamed into place, token
first, so a reader that finds ``api.json`` also finds the token that goes with it.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

TOKEN_FILE = "api.token"
INFO_FILE = "api.json"


@dataclass(frozen=True)
class ApiInfo:
    """Where a daemon's API listens."""

    host: str
    port: int
    pid: int


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0600 from the moment the file exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def publish(home: Path, info: ApiInfo, token: str) -> None:
    """Write the token, then the API info, into ``home``."""
    write_private(home / TOKEN_FILE, token + "\n")
    write_private(home / INFO_FILE, json.dumps(info.__dict__) + "\n")


def withdraw(home: Path, info: ApiInfo) -> None:
    """Remove both files, unless ``api.json`` now names another daemon."""
    if read_info(home) not in (info, None):
        return
    for name in (INFO_FILE, TOKEN_FILE):
        with contextlib.suppress(FileNotFoundError):
            (home / name).unlink()


def read_info(home: Path) -> ApiInfo | None:
    """The API info in ``home``, or None if there is none or it cannot be read."""
    try:
        raw = json.loads((home / INFO_FILE).read_text(encoding="utf-8"))
        info = ApiInfo(str(raw["host"]), int(raw["port"]), int(raw["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def read_token(home: Path) -> str | None:
    """The token in ``home``, or None if there is none."""
    try:
        return (home / TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None
