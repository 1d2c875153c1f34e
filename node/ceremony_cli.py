"""``provernet ceremony ...``: phase-1 files and a circuit's phase-2 ceremony, offline.

A circuit directory set up from a phase 1 (``circuit setup DIR --ptau POT.ptau``)
holds ``ceremony.zkey``, the ceremony's current key in snarkjs's format, and the
proving and verification keys derived from it; every contribution rewrites all
three. The manifest's ``setup`` records the phase-1 file's hash and power and the
ceremony's status: ``open`` until a beacon makes it ``final``. Secrets are drawn
from the OS CSPRNG inside one call and never written anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from node.artifacts import CircuitDir, sha256_hex, write_atomic
from node.exit_codes import ARTIFACT_MISMATCH, FAILED, OK, USAGE, CliError
from node.human import span
from node.parallel import ceremony_backend, process_map
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.groth16 import phase2
from protocol.groth16.ptau import (
    NEW_MAX_POWER,
    Phase1Secret,
    PowersOfTau,
    PowersReport,
    check_powers,
    new_powers_of_tau,
    prepare_phase2,
)
from protocol.groth16.qap import domain_size
from protocol.groth16.zkey import BEACON, ZKey, zkey_from_bytes, zkey_to_bytes
from protocol.r1cs import binfmt
from protocol.r1cs.system import R1CS

ZKEY_FILE = "ceremony.zkey"


def _progress(stage: str, done: int, total: int) -> None:
    print(f"  [{done}/{total}] {stage}", file=sys.stderr, flush=True)


def _emit(args: argparse.Namespace, obj: dict[str, Any], human: str) -> int:
    print(json.dumps(obj, indent=2) if getattr(args, "json", False) else human)
    return OK


def _read_ptau(path: Path) -> PowersOfTau:
    try:
        return PowersOfTau(path.read_bytes())
    except FileNotFoundError:
        raise CliError(f"phase-1 file not found: {path}", USAGE) from None
    except RemoteProtocolError as exc:
        raise CliError(f"{path} is not a usable .ptau file: {exc}", USAGE) from None


def _check_ptau(ptau: PowersOfTau, path: Path, sizes: list[int] | None = None) -> PowersReport:
    try:
        return check_powers(ptau, seed=os.urandom(32), lagrange_sizes=sizes, progress=_progress)
    except RemoteProtocolError as exc:
        raise CliError(f"{path} does not verify: {exc}", FAILED) from None


def _phase1_object(path: Path, ptau: PowersOfTau, report: PowersReport) -> dict[str, Any]:
    return {
        "file": str(path),
        "sha256": sha256_hex(bytes(ptau.data)),
        "power": report.power,
        "ceremony_power": report.ceremony_power,
        "prepared": report.prepared,
        "lagrange_sizes_checked": list(report.lagrange_sizes_checked),
        "contributions": [
            {"index": c.index, "name": c.name, "beacon": c.kind == 1} for c in report.contributions
        ],
    }


# ----------------------------------------------------------------------------- phase 1


def cmd_ptau_new(args: argparse.Namespace) -> int:
    """Write a single-secret, prepared phase 1 for devnets and tests."""
    out = Path(args.out)
    if out.exists() and not args.force:
        raise CliError(f"{out} exists; pass --force to replace it", USAGE)
    if not 1 <= args.power <= NEW_MAX_POWER:
        raise CliError(f"--power must be in 1..{NEW_MAX_POWER}", USAGE)
    secret = Phase1Secret.from_entropy(os.urandom(64))
    data = new_powers_of_tau(args.power, secret, progress=_progress)
    del secret  # the phase-1 secret must not outlive the file
    write_atomic(out, data)
    obj = {"file": str(out), "sha256": sha256_hex(data), "power": args.power, "bytes": len(data)}
    human = (
        f"wrote {out} (power {args.power}, {len(data):,} bytes, sha256 {obj['sha256'][:16]}…)\n"
        "a single-party phase 1: for devnets and tests only — use a public phase 1 for real models"
    )
    return _emit(args, obj, human)


def cmd_ptau_verify(args: argparse.Namespace) -> int:
    """Check a phase-1 file's powers and Lagrange bases; list its contributions."""
    path = Path(args.ptau)
    ptau = _read_ptau(path)
    report = _check_ptau(ptau, path)
    obj = _phase1_object(path, ptau, report)
    names = ", ".join(c["name"] or f"#{c['index']}" for c in obj["contributions"]) or "none"
    human = (
        f"{path}: powers of tau OK (power {report.power} of a power-{report.ceremony_power} "
        f"ceremony, {'prepared' if report.prepared else 'not prepared'} for phase 2)\n"
        f"recorded contributions: {names}"
    )
    if not report.contributions:
        human += "\nno recorded contribution: a single-party file (devnets and tests only)"
    return _emit(args, obj, human)


def cmd_ptau_prepare(args: argparse.Namespace) -> int:
    """Compute a phase-1 file's Lagrange bases (snarkjs's ``prepare phase2``)."""
    path, out = Path(args.ptau), Path(args.out)
    if out.exists() and not args.force:
        raise CliError(f"{out} exists; pass --force to replace it", USAGE)
    ptau = _read_ptau(path)
    if ptau.prepared:
        raise CliError(f"{path} is already prepared for phase 2: use it as it is", USAGE)
    started = time.monotonic()
    data = prepare_phase2(bytes(ptau.data), progress=_progress, mapper=process_map)
    write_atomic(out, data)
    took = time.monotonic() - started
    obj: dict[str, Any] = {"file": str(out), "from": str(path), "sha256": sha256_hex(data)}
    obj.update(power=ptau.power, bytes=len(data), seconds=round(took, 1))
    human = (
        f"wrote {out} (power {ptau.power}, {len(data):,} bytes, sha256 {obj['sha256'][:16]}…) "
        f"in {span(took)}\n"
        f"check it before use: provernet ceremony ptau verify {out}"
    )
    return _emit(args, obj, human)


# ----------------------------------------------------------------------------- phase 2


def _ceremony_setup(cdir: CircuitDir) -> dict[str, Any]:
    """The manifest's record of ``cdir``'s ceremony; a directory without one is refused."""
    setup = cdir.manifest.get("setup") or {}
    if setup.get("kind") != "ceremony":
        raise CliError(
            f"{cdir.path} has no ceremony: set it up from a phase 1 first "
            "(`provernet circuit setup DIR --ptau POT.ptau`)",
            USAGE,
        )
    return dict(setup)


def _load_key(cdir: CircuitDir) -> ZKey:
    _ceremony_setup(cdir)
    try:
        return zkey_from_bytes(cdir.read_checked("zkey"))
    except RemoteProtocolError as exc:
        raise CliError(f"{cdir.path / ZKEY_FILE} is corrupt: {exc}", ARTIFACT_MISMATCH) from None


def record_ceremony(cdir: CircuitDir, key: ZKey, phase1: dict[str, Any] | None = None) -> None:
    """Write the ceremony's key and the prover's keys derived from it, and its status."""
    cdir.record("zkey", ZKEY_FILE, zkey_to_bytes(key))
    cdir.record_keys(key.proving_key())
    setup = {} if phase1 is not None else dict(cdir.manifest.get("setup") or {})
    last = key.contributions[-1] if key.contributions else None
    status = "final" if last is not None and last.kind == BEACON else "open"
    setup |= {
        "kind": "ceremony",
        "status": status,
        "contributions": [_contribution_object(i, c) for i, c in enumerate(key.contributions, 1)],
        "trusted": "one honest contributor in phase 1 and one in phase 2",
    }
    if phase1 is not None:
        setup["phase1"] = phase1
    cdir.manifest["setup"] = setup
    cdir.save()


def _contribution_object(index: int, c: Any) -> dict[str, Any]:
    obj = {
        "index": index,
        "name": c.name,
        "kind": "beacon" if c.kind == BEACON else "contribution",
        "hash": phase2.contribution_hash(c).hex(),
    }
    if c.kind == BEACON:
        obj |= {"beacon": c.beacon_hash.hex(), "iterations_exp": c.iterations_exp}
    return obj


def setup_from_ptau(cdir: CircuitDir, r1cs: R1CS, ptau_path: Path) -> None:
    """Start ``cdir``'s ceremony from the phase 1 at ``ptau_path`` (checked first)."""
    ptau = _read_ptau(ptau_path)
    try:
        phase2.check_fits(r1cs, ptau)  # before the phase-1 check, which takes a while
    except LocalProtocolError as exc:
        raise CliError(f"{ptau_path}: {exc}", USAGE) from None
    n = domain_size(r1cs)
    report = _check_ptau(ptau, ptau_path, [n, 2 * n])
    key = phase2.initial_zkey(r1cs, ptau, progress=_progress, backend=ceremony_backend())
    record_ceremony(cdir, key, _phase1_object(ptau_path, ptau, report))


def _ensure_open(cdir: CircuitDir) -> None:
    if _ceremony_setup(cdir).get("status") == "final":
        raise CliError(f"{cdir.path}'s ceremony is final (a beacon closed it)", USAGE)


def cmd_contribute(args: argparse.Namespace) -> int:
    """Add one contribution with fresh OS entropy."""
    cdir = CircuitDir.open(Path(args.dir))
    _ensure_open(cdir)
    key = _load_key(cdir)
    key = phase2.contribute(key, os.urandom(64), name=args.name, progress=_progress,
                            backend=ceremony_backend())  # fmt: skip
    record_ceremony(cdir, key)
    made = _contribution_object(len(key.contributions), key.contributions[-1])
    human = (
        f"contribution #{made['index']} recorded in {cdir.path}\n"
        f"its hash (write it down: `ceremony verify` lists it): {made['hash']}"
    )
    return _emit(args, made, human)


def cmd_beacon(args: argparse.Namespace) -> int:
    """Close the ceremony with a contribution derived from public randomness."""
    cdir = CircuitDir.open(Path(args.dir))
    _ensure_open(cdir)
    key = _load_key(cdir)
    try:
        value = bytes.fromhex(args.beacon)
        key = phase2.beacon(key, value, args.iterations_exp, name=args.name, progress=_progress,
                            backend=ceremony_backend())  # fmt: skip
    except ValueError:
        raise CliError("--beacon must be hexadecimal", USAGE) from None
    except LocalProtocolError as exc:
        raise CliError(str(exc), USAGE) from None
    record_ceremony(cdir, key)
    made = _contribution_object(len(key.contributions), key.contributions[-1])
    return _emit(args, made, f"beacon recorded; {cdir.path}'s ceremony is final")


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify every contribution from phase 1 to the current key."""
    cdir = CircuitDir.open(Path(args.dir))
    key = _load_key(cdir)
    r1cs = binfmt.r1cs_from_bytes(cdir.read_checked("r1cs"))
    ptau_path = Path(args.ptau)
    ptau = _read_ptau(ptau_path)
    recorded = (_ceremony_setup(cdir).get("phase1") or {}).get("sha256")
    if recorded and recorded != sha256_hex(bytes(ptau.data)):
        raise CliError(
            f"{ptau_path} is not the phase 1 this ceremony started from (sha256 {recorded})",
            ARTIFACT_MISMATCH,
        )
    n = key.domain_size
    _check_ptau(ptau, ptau_path, [n, 2 * n])
    try:
        report = phase2.verify_zkey(key, r1cs, ptau, seed=os.urandom(32), progress=_progress,
                                    backend=ceremony_backend())  # fmt: skip
    except RemoteProtocolError as exc:
        raise CliError(f"{cdir.path}'s ceremony does not verify: {exc}", FAILED) from None
    except LocalProtocolError as exc:
        raise CliError(str(exc), USAGE) from None
    contributions = [_contribution_object(i, c) for i, c in enumerate(key.contributions, 1)]
    obj = {
        "dir": str(cdir.path),
        "verified": True,
        "final": report.has_beacon,
        "circuit_hash": report.cs_hash.hex(),
        "contributions": contributions,
    }
    lines = [f"{cdir.path}: ceremony verified from {ptau_path} to the current key"]
    lines += [_line(c) for c in contributions]
    lines.append("final (closed by a beacon)" if report.has_beacon else "open: no beacon yet")
    return _emit(args, obj, "\n".join(lines))


def _line(c: dict[str, Any]) -> str:
    kind = f"beacon {c['beacon'][:16]}… 2^{c['iterations_exp']}" if c["kind"] == "beacon" else ""
    return f"  #{c['index']} {c['name'] or '(unnamed)'} {kind} {c['hash'][:32]}…".rstrip()


def cmd_show(args: argparse.Namespace) -> int:
    """Show the ceremony's contributors, hashes and status (nothing is verified)."""
    cdir = CircuitDir.open(Path(args.dir))
    setup = _ceremony_setup(cdir)
    phase1 = setup.get("phase1") or {}
    obj = {"dir": str(cdir.path)} | setup
    lines = [
        f"{cdir.path}: ceremony {setup['status']}, {len(setup['contributions'])} contribution(s)",
        f"phase 1: {phase1.get('file', '?')} (power {phase1.get('power', '?')}, "
        f"sha256 {str(phase1.get('sha256', '?'))[:16]}…)",
        *(_line(c) for c in setup["contributions"]),
        "run `provernet ceremony verify DIR --ptau POT.ptau` to check them",
    ]
    return _emit(args, obj, "\n".join(lines))


def cmd_export(args: argparse.Namespace) -> int:
    """Copy the ceremony's key out as a snarkjs .zkey."""
    cdir = CircuitDir.open(Path(args.dir))
    data = cdir.read_checked("zkey")
    write_atomic(Path(args.zkey), data)
    return _emit(args, {"zkey": args.zkey, "bytes": len(data)}, f"wrote {args.zkey}")


def cmd_import(args: argparse.Namespace) -> int:
    """Take a .zkey contributed to elsewhere (snarkjs or another node) as the current key."""
    cdir = CircuitDir.open(Path(args.dir))
    current = _load_key(cdir)
    path = Path(args.zkey)
    try:
        key = zkey_from_bytes(path.read_bytes())
    except FileNotFoundError:
        raise CliError(f"{path} not found", USAGE) from None
    except RemoteProtocolError as exc:
        raise CliError(f"{path} is not a usable .zkey: {exc}", USAGE) from None
    if key.coefficients != current.coefficients or key.cs_hash != current.cs_hash:
        raise CliError(f"{path} is a key for another circuit or phase 1", ARTIFACT_MISMATCH)
    if key.contributions[: len(current.contributions)] != current.contributions:
        raise CliError(
            f"{path} does not extend this ceremony's {len(current.contributions)} "
            "contribution(s): it was contributed to from another state (rebase on the latest)",
            ARTIFACT_MISMATCH,
        )
    record_ceremony(cdir, key)
    added = len(key.contributions) - len(current.contributions)
    human = (
        f"imported {path}: {added} new contribution(s), not yet verified "
        "(run `provernet ceremony verify`)"
    )
    return _emit(args, {"dir": str(cdir.path), "added": added}, human)


# ----------------------------------------------------------------------------- parser


def add_ceremony_commands(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``provernet ceremony ptau new|prepare|verify, contribute, beacon, verify, show,
    export, import``."""
    ceremony = groups.add_parser("ceremony", help="trusted-setup ceremonies (offline)")
    sub = ceremony.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    ptau = sub.add_parser("ptau", help="phase-1 (powers of tau) files")
    ptau_sub = ptau.add_subparsers(dest="ptau_command", metavar="COMMAND")
    ptau_sub.required = True
    p = ptau_sub.add_parser("new", help="write a single-party phase 1 (devnets and tests)")
    p.add_argument(
        "--power", type=int, required=True, metavar="K", help=f"2^K, K ≤ {NEW_MAX_POWER}"
    )
    p.add_argument("--out", required=True, metavar="POT.ptau")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ptau_new)
    p = ptau_sub.add_parser(
        "prepare", help="compute a phase-1 file's Lagrange bases (snarkjs's prepare phase2)"
    )
    p.add_argument("ptau", metavar="POT.ptau")
    p.add_argument("--out", required=True, metavar="PREPARED.ptau")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ptau_prepare)
    p = ptau_sub.add_parser("verify", help="check a phase-1 file (ours or snarkjs's)")
    p.add_argument("ptau", metavar="POT.ptau")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ptau_verify)

    p = sub.add_parser("contribute", help="add a contribution (fresh OS entropy, discarded)")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--name", default="", help="a name recorded with the contribution")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_contribute)

    p = sub.add_parser("beacon", help="the final contribution, from public randomness")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--beacon", required=True, metavar="HEX", help="the public random value")
    p.add_argument("--iterations-exp", type=int, required=True, metavar="N", help="2^N SHA-256")
    p.add_argument("--name", default="beacon")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_beacon)

    p = sub.add_parser("verify", help="verify every contribution from phase 1 to the key")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--ptau", required=True, metavar="POT.ptau")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("show", help="contributors, hashes and status")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("export", help="write the ceremony's key as a snarkjs .zkey")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--zkey", required=True, metavar="FILE.zkey")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="take a .zkey contributed to elsewhere")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--zkey", required=True, metavar="FILE.zkey")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)
