"""The pinned external tools provernet drives (anvil, solc, snarkjs, circomlibjs).

They come from the npm registry at the exact versions in ``node/npm/package.json``
and its committed lock file, installed with ``npm install`` into one tools folder:
``$PROVERNET_TOOLS`` if set, else ``~/.cache/provernet/tools``. A stamp file holding
the lock file's sha256 makes installation idempotent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

TOOL_BINARIES = {
    "anvil": "anvil",
    "solc": "solcjs",
    "snarkjs": "snarkjs",
}
_STAMP = ".provernet-tools-stamp"


class ToolError(Exception):
    """A pinned external tool is missing or could not be installed."""


def tools_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return the folder the pinned npm tools live in."""
    env = os.environ if env is None else env
    configured = env.get("PROVERNET_TOOLS")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".cache" / "provernet" / "tools"


def _manifest_files() -> dict[str, bytes]:
    base = resources.files("node") / "npm"
    return {name: (base / name).read_bytes() for name in ("package.json", "package-lock.json")}


def _lock_digest(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name])
    return h.hexdigest()


def is_installed(directory: Path | None = None) -> bool:
    """True when the tools folder holds exactly the pinned versions."""
    directory = directory or tools_dir()
    stamp = directory / _STAMP
    return stamp.is_file() and stamp.read_text().strip() == _lock_digest(_manifest_files())


def install(directory: Path | None = None, *, quiet: bool = False) -> Path:
    """Install the pinned tools with npm unless they are already there."""
    directory = directory or tools_dir()
    if is_installed(directory):
        return directory
    npm = shutil.which("npm")
    if npm is None:
        raise ToolError(
            "npm was not found on PATH; install Node.js 20 with npm, "
            "or put anvil, solcjs and snarkjs on PATH yourself"
        )
    directory.mkdir(parents=True, exist_ok=True)
    files = _manifest_files()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    cmd = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"]
    if not quiet:
        print(f"installing pinned npm tools into {directory} ...", file=sys.stderr)
    proc = subprocess.run(cmd, cwd=directory, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolError(f"`npm install` failed in {directory}:\n{proc.stderr.strip()[-2000:]}")
    (directory / _STAMP).write_text(_lock_digest(files) + "\n")
    return directory


def find(tool: str, *, directory: Path | None = None) -> Path | None:
    """Locate a tool: the pinned tools folder first, then PATH."""
    binary = TOOL_BINARIES.get(tool, tool)
    local = (directory or tools_dir()) / "node_modules" / ".bin" / binary
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which(binary)
    return Path(found) if found else None


def require(tool: str, *, directory: Path | None = None) -> Path:
    """Locate a tool or raise a ToolError saying how to install it."""
    path = find(tool, directory=directory)
    if path is None:
        raise ToolError(
            f"{tool} is not installed; run `python -m node.tools install` "
            f"(installs the pinned version into {directory or tools_dir()})"
        )
    return path


def node_modules(directory: Path | None = None) -> Path:
    """The node_modules folder of the pinned tools (for scripts that require() them)."""
    return (directory or tools_dir()) / "node_modules"


def main(argv: list[str] | None = None) -> int:
    """``python -m node.tools install|where``: install or locate the pinned tools."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["install"]:
        try:
            print(install())
        except ToolError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args[:1] == ["where"]:
        for tool in TOOL_BINARIES:
            print(f"{tool}: {find(tool) or 'not installed'}")
        return 0
    print("usage: python -m node.tools install|where", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
