"""protocol/ must stay pure: no module there may import an I/O or networking library."""

from __future__ import annotations

import ast
from pathlib import Path

import protocol

FORBIDDEN = {
    "asyncio",
    "trio",
    "socket",
    "ssl",
    "subprocess",
    "multiprocessing",
    "threading",
    "http",
    "urllib",
    "requests",
    "httpx",
    "web3",
    "libp2p",
    "sqlite3",
    "shutil",
    "tempfile",
    "select",
    "selectors",
    "signal",
    "time",
    "random",
    "secrets",
    "node",
}
# os.urandom, open() and the clock are the usual leaks; os itself is forbidden too.
FORBIDDEN |= {"os", "pathlib", "io", "glob"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_protocol_imports_no_io_module() -> None:
    root = Path(protocol.__file__).parent
    offenders = {
        str(path.relative_to(root)): sorted(_imports(path) & FORBIDDEN)
        for path in root.rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}


def test_protocol_never_calls_open() -> None:
    root = Path(protocol.__file__).parent
    calls = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"open", "print", "input"}
            ):
                calls.append(f"{path.name}:{node.lineno}")
    assert calls == []
