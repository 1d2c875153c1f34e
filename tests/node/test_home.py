"""The home directory: where it is, its modes, and the lock two daemons cannot share."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from node.home import (
    HomeLayout,
    HomeLockedError,
    acquire_home_lock,
    create_home,
    resolve_home,
    write_secret,
)

HOLD_LOCK = """
import sys
from pathlib import Path
from node.home import acquire_home_lock
with acquire_home_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_home_is_the_flag_then_the_environment_then_the_user_home(tmp_path: Path) -> None:
    env = {"PROVERNET_HOME": str(tmp_path / "env")}
    assert resolve_home(str(tmp_path / "flag"), env, tmp_path) == tmp_path / "flag"
    assert resolve_home(None, env, tmp_path) == tmp_path / "env"
    assert resolve_home(None, {"PROVERNET_HOME": ""}, tmp_path) == tmp_path / ".provernet"
    assert resolve_home(None, {}, tmp_path) == tmp_path / ".provernet"


def test_home_and_secrets_are_private(tmp_path: Path) -> None:
    root = tmp_path / "home"
    root.mkdir(mode=0o755)
    layout = create_home(root)
    for folder in (layout.root, layout.models, layout.logs):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    write_secret(layout.api_token, b"token")
    write_secret(layout.api_token, b"another")
    assert stat.S_IMODE(layout.api_token.stat().st_mode) == 0o600
    assert layout.api_token.read_bytes() == b"another"
    assert layout.model_dir(7) == root / "models" / "7"


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        refused = pytest.raises(HomeLockedError, match=f"in use by process {holder.pid}")
        with refused as caught, acquire_home_lock(tmp_path):
            pass
        assert caught.value.pid == holder.pid
    finally:
        holder.communicate("\n", timeout=30)
    # The lock died with its holder; it can be taken again after each release.
    with acquire_home_lock(tmp_path) as lock:
        assert lock == HomeLayout(tmp_path).lock
        assert lock.read_text().strip().isdigit()
    with acquire_home_lock(tmp_path):
        pass
