"""The node's home directory: where it is, what lives in it, and who holds it.

Layout of a home (created mode 0700 by ``node init``)::

    config.toml     the node's configuration (node.config)
    keystore.json   the encrypted Ethereum key (Web3 Secret Storage, node.keys)
    p2p.key         the libp2p identity (node.p2p.identity), mode 0600
    node.db         the SQLite store (node.store), mode 0600: it holds private inputs
    api.token       the local API's token, mode 0600, written when the daemon starts
    node.lock       held (flock) by the running daemon; records its pid
    models/         circuit directories, one per model id
    logs/           the daemon's log files

The home is chosen by ``resolve_home`` from values the caller passes in
(``--home``, then ``$PROVERNET_HOME``, then ``~/.provernet``); nothing here reads
the environment by itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "PROVERNET_HOME"
DEFAULT_HOME_NAME = ".provernet"
HOME_MODE = 0o700
SECRET_MODE = 0o600


class HomeError(Exception):
    """The home directory cannot be used; the message says why and what to do."""


class HomeLockedError(HomeError):
    """Another process holds the home's lock."""

    def __init__(self, home: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"the node home {home} is in use by {holder}; two daemons cannot share a home "
            "(stop the other one, or pass another --home)"
        )
        self.pid = pid


@dataclass(frozen=True)
class HomeLayout:
    """The paths inside one node home."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def keystore(self) -> Path:
        return self.root / "keystore.json"

    @property
    def p2p_key(self) -> Path:
        return self.root / "p2p.key"

    @property
    def database(self) -> Path:
        return self.root / "node.db"

    @property
    def api_token(self) -> Path:
        return self.root / "api.token"

    @property
    def lock(self) -> Path:
        return self.root / "node.lock"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def model_dir(self, model_id: int) -> Path:
        """Where the circuit directory of ``model_id`` is kept."""
        return self.models / str(model_id)


def resolve_home(flag: str | None, env: Mapping[str, str], user_home: Path) -> Path:
    """The home directory: ``--home``, else ``$PROVERNET_HOME``, else ``~/.provernet``."""
    if flag:
        return Path(flag).expanduser()
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).expanduser()
    return user_home / DEFAULT_HOME_NAME


def create_home(root: Path) -> HomeLayout:
    """Create the home and its folders (mode 0700); an existing home is tightened to 0700."""
    layout = HomeLayout(root)
    try:
        root.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
        os.chmod(root, HOME_MODE)
        for folder in (layout.models, layout.logs):
            folder.mkdir(mode=HOME_MODE, exist_ok=True)
    except OSError as exc:
        raise HomeError(f"cannot create the node home {root}: {exc}") from exc
    return layout


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte (atomically replaced)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    tmp.replace(path)


@contextlib.contextmanager
def acquire_home_lock(home: Path) -> Iterator[Path]:
    """Hold the home's lock for the ``with`` block; HomeLockedError if another process has it.

    The lock is an flock on ``node.lock``: the kernel releases it when the holder
    exits, however it exits, so a stale file never locks a home. The file records
    the holder's pid for the error message.
    """
    path = HomeLayout(home).lock
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, SECRET_MODE)
    except OSError as exc:
        raise HomeError(f"cannot open the lock file {path}: {exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HomeLockedError(home, _read_pid(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
