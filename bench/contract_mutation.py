"""Mutation check of the settlement contracts: every mutant must be killed by tests/contracts.

``python -m bench.contract_mutation`` copies contracts/ (sources, test contracts and
compile.mjs) into a temporary folder, compiles it there with the same pinned solc, and
runs the contract tests against that build once unmutated (they must pass). Then, one
mutant at a time, it rewrites one fragment of JobMarket.sol or ProverStaking.sol (a
comparison flipped or weakened, a deadline moved by one second, a check removed, an
amount or address changed), recompiles, and runs the contract tests against the mutated
artifacts (tests/contracts/chain.py reads $PROVERNET_CONTRACTS_BUILD) with ``-x``, the
test files most likely to kill that mutant first, pytest's cache off and a fixed
hypothesis seed. A mutant is killed when a test fails. A mutant whose bytecode equals the
original's is reported as equivalent.

Prints a table (mutant, file:line, killed by, seconds) and writes it with the command,
the machine and the date to bench/results/contract-mutation.md. Exits 1 when a mutant
survives. ``--only TEXT`` runs the mutants whose name contains TEXT (and writes no
results file); ``--list`` lists them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from eth_utils import to_checksum_address

from node import tools

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = REPO / "contracts"
RESULTS = REPO / "bench" / "results" / "contract-mutation.md"
COMMAND = ".venv/bin/python -m bench.contract_mutation"
HYPOTHESIS_SEED = 20261203
MUTANT_TIMEOUT = 900  # seconds: a survivor runs every listed test file
# Test files in the order a mutant runs them when it names no others first.
TEST_FILES = (
    "test_attacks",
    "test_market_reverts",
    "test_lifecycle",
    "test_staking",
    "test_reentrancy",
    "test_market_properties",
    "test_zkml_settlement",
    "test_ceremony",
)
JM, PS = "JobMarket.sol", "ProverStaking.sol"
OTHER_BURN = to_checksum_address("0x000000000000000000000000000000000000beef")


@dataclass(frozen=True)
class Mutant:
    """Replace the one occurrence of ``old`` in src/``file`` by ``new``."""

    name: str
    file: str
    old: str
    new: str
    first: tuple[str, ...] = ()

    def test_files(self) -> list[str]:
        return ordered_test_files(self.first)


def ordered_test_files(first: tuple[str, ...] = ()) -> list[str]:
    """Every file of TEST_FILES as a path, those named in ``first`` first."""
    order = [*first, *(f for f in TEST_FILES if f not in first)]
    return [f"tests/contracts/{name}.py" for name in order]


def _removed(name: str, file: str, statement: str, *first: str) -> Mutant:
    return Mutant(name, file, statement, "", first)


A, R, L, S, RE, P = (
    "test_attacks",
    "test_market_reverts",
    "test_lifecycle",
    "test_staking",
    "test_reentrancy",
    "test_market_properties",
)

MUTANTS = (
    # createJob
    _removed(
        "ceremony-less model check removed",
        JM,
        "if (model.ceremonyId == 0) revert ModelNotFromCeremony(modelId);",
        "test_ceremony",
    ),
    Mutant(
        "ceremony-less model check == to !=",
        JM,
        "model.ceremonyId == 0",
        "model.ceremonyId != 0",
        (L,),
    ),
    Mutant(
        "input commitment bound >= to >",
        JM,
        "inputCommitment >= Groth16Verifier.R",
        "inputCommitment > Groth16Verifier.R",
        (R,),
    ),
    _removed("zero max fee check removed", JM, "if (msg.value == 0) revert ZeroMaxFee();", R),
    Mutant(
        "max fee cap > to >=",
        JM,
        "msg.value > type(uint96).max",
        "msg.value >= type(uint96).max",
    ),
    _removed(
        "max fee cap removed",
        JM,
        "if (msg.value > type(uint96).max) revert AmountTooLarge(msg.value);",
    ),
    Mutant(
        "collateral cap > to >=",
        JM,
        "collateral > type(uint96).max",
        "collateral >= type(uint96).max",
    ),
    _removed(
        "collateral cap removed",
        JM,
        "if (collateral > type(uint96).max) revert AmountTooLarge(collateral);",
    ),
    Mutant(
        "zero accept window allowed",
        JM,
        "acceptWindow == 0 || acceptWindow > MAX_WINDOW",
        "acceptWindow > MAX_WINDOW",
        (R,),
    ),
    Mutant(
        "accept window bound > to >=",
        JM,
        "acceptWindow > MAX_WINDOW",
        "acceptWindow >= MAX_WINDOW",
        (R,),
    ),
    Mutant("zero proof window allowed", JM, " || proofWindow == 0", "", (R,)),
    Mutant(
        "proof window bound > to >=",
        JM,
        "|| proofWindow > MAX_WINDOW",
        "|| proofWindow >= MAX_WINDOW",
        (R,),
    ),
    # awardJob
    Mutant(
        "award requester check removed",
        JM,
        "if (job.requester != msg.sender) revert NotRequester(jobId, msg.sender);\n"
        "        _endUnawardedOrLapsed(jobId, job);\n        if (bid.jobId",
        "_endUnawardedOrLapsed(jobId, job);\n        if (bid.jobId",
        (R,),
    ),
    _removed(
        "bid job id check removed",
        JM,
        "if (bid.jobId != jobId) revert BidForOtherJob(jobId, bid.jobId);",
        R,
    ),
    Mutant(
        "bid expiry > to >= (one second earlier)",
        JM,
        "block.timestamp > bid.expiry)",
        "block.timestamp >= bid.expiry)",
    ),
    Mutant(
        "bid expiry + 1 (one second later)",
        JM,
        "block.timestamp > bid.expiry)",
        "block.timestamp > uint256(bid.expiry) + 1)",
    ),
    Mutant("fee bound > to >=", JM, "bid.fee > job.maxFee)", "bid.fee >= job.maxFee)", (R,)),
    _removed(
        "fee bound removed",
        JM,
        "if (bid.fee > job.maxFee) revert FeeAboveMax(bid.fee, job.maxFee);",
        R,
    ),
    Mutant("bid terms: requester unchecked", JM, "bid.requester != msg.sender || ", ""),
    Mutant("bid terms: model unchecked", JM, " || bid.modelId != job.modelId", ""),
    Mutant(
        "bid terms: input commitment unchecked",
        JM,
        "bid.inputCommitment != job.inputCommitment || ",
        "",
    ),
    Mutant("bid terms: collateral unchecked", JM, " || bid.collateral != job.collateral", ""),
    Mutant(
        "bid terms: accept window unchecked", JM, "bid.acceptWindow != job.acceptWindow || ", ""
    ),
    Mutant("bid terms: proof window unchecked", JM, " || bid.proofWindow != job.proofWindow", ""),
    Mutant(
        "signer == 0 check removed",
        JM,
        "signer == address(0) || signer != bid.prover",
        "signer != bid.prover",
        (R, A),
    ),
    Mutant(
        "signer == prover check removed",
        JM,
        "signer == address(0) || signer != bid.prover",
        "signer == address(0)",
    ),
    Mutant(
        "accept deadline + acceptWindow + 1",
        JM,
        "block.timestamp + job.acceptWindow;",
        "block.timestamp + job.acceptWindow + 1;",
        (L,),
    ),
    Mutant(
        "accept deadline + acceptWindow - 1",
        JM,
        "block.timestamp + job.acceptWindow;",
        "block.timestamp + job.acceptWindow - 1;",
        (L,),
    ),
    # acceptJob
    _removed(
        "accept status check removed",
        JM,
        "if (job.status != JobStatus.Awarded) revert WrongStatus(jobId, job.status);",
        R,
    ),
    _removed(
        "accept prover check removed",
        JM,
        "if (msg.sender != job.prover) revert NotAssignedProver(jobId, msg.sender);",
        R,
    ),
    Mutant(
        "accept deadline > to >= (one second earlier)",
        JM,
        "block.timestamp > job.deadline) revert AcceptDeadlinePassed",
        "block.timestamp >= job.deadline) revert AcceptDeadlinePassed",
    ),
    Mutant(
        "accept deadline + 1 (one second later)",
        JM,
        "block.timestamp > job.deadline) revert AcceptDeadlinePassed",
        "block.timestamp > job.deadline + 1) revert AcceptDeadlinePassed",
    ),
    Mutant(
        "proof deadline + proofWindow + 1",
        JM,
        "block.timestamp + job.proofWindow;",
        "block.timestamp + job.proofWindow + 1;",
        (L,),
    ),
    Mutant(
        "proof deadline + proofWindow - 1",
        JM,
        "block.timestamp + job.proofWindow;",
        "block.timestamp + job.proofWindow - 1;",
        (L,),
    ),
    Mutant(
        "locked collateral halved",
        JM,
        "_staking.lockCollateral(msg.sender, job.collateral);",
        "_staking.lockCollateral(msg.sender, job.collateral / 2);",
        (L,),
    ),
    # submitProof
    Mutant(
        "submit status check removed",
        JM,
        "if (j.status != JobStatus.Accepted) revert WrongStatus(jobId, j.status);\n"
        "        if (msg.sender != j.prover)",
        "if (msg.sender != j.prover)",
        (R,),
    ),
    _removed(
        "submit prover check removed",
        JM,
        "if (msg.sender != j.prover) revert NotAssignedProver(jobId, msg.sender);",
        R,
    ),
    Mutant(
        "proof deadline > to >= (one second earlier)",
        JM,
        "block.timestamp > j.deadline) revert ProofDeadlinePassed",
        "block.timestamp >= j.deadline) revert ProofDeadlinePassed",
    ),
    Mutant(
        "proof deadline + 1 (one second later)",
        JM,
        "block.timestamp > j.deadline) revert ProofDeadlinePassed",
        "block.timestamp > j.deadline + 1) revert ProofDeadlinePassed",
    ),
    Mutant(
        "proof verification removed",
        JM,
        "if (!Groth16Verifier.verify(j.verifyingKey, proof, j.inputCommitment, outputs)) {\n"
        "            revert InvalidProof(jobId);\n        }",
        "",
        (R,),
    ),
    Mutant(
        "prover balance cap > to >=",
        JM,
        "if (balance > type(uint96).max) revert AmountTooLarge(balance);\n        solver.balance",
        "if (balance >= type(uint96).max) revert AmountTooLarge(balance);\n        solver.balance",
    ),
    Mutant(
        "prover balance cap removed",
        JM,
        "if (balance > type(uint96).max) revert AmountTooLarge(balance);\n        solver.balance",
        "solver.balance",
    ),
    Mutant("fee paid halved", JM, "solver.balance) + j.fee;", "solver.balance) + j.fee / 2;", (L,)),
    _removed("feesEarned not counted", JM, "solver.feesEarned += j.fee;", L),
    _removed("fulfilled not counted", JM, "solver.fulfilled += 1;", L),
    Mutant(
        "requester refund is the whole escrow",
        JM,
        "_credit(j.requester, j.maxFee - j.fee);",
        "_credit(j.requester, j.maxFee);",
        (L,),
    ),
    Mutant(
        "released collateral halved",
        JM,
        "_staking.releaseCollateral(msg.sender, j.collateral);",
        "_staking.releaseCollateral(msg.sender, j.collateral / 2);",
        (L,),
    ),
    # slash
    Mutant(
        "slash status check removed",
        JM,
        "if (j.status != JobStatus.Accepted) revert WrongStatus(jobId, j.status);\n"
        "        if (block.timestamp <= j.deadline)",
        "if (block.timestamp <= j.deadline)",
        (R,),
    ),
    Mutant(
        "slash deadline <= to < (one second earlier)",
        JM,
        "block.timestamp <= j.deadline) revert ProofDeadlineNotPassed",
        "block.timestamp < j.deadline) revert ProofDeadlineNotPassed",
    ),
    Mutant(
        "slash deadline + 1 (one second later)",
        JM,
        "block.timestamp <= j.deadline) revert ProofDeadlineNotPassed",
        "block.timestamp <= j.deadline + 1) revert ProofDeadlineNotPassed",
    ),
    _removed("slashed not counted", JM, "_penalties[j.prover].slashed += 1;", L),
    Mutant(
        "slashed collateral halved",
        JM,
        "_staking.slashCollateral(j.prover, j.collateral);",
        "_staking.slashCollateral(j.prover, j.collateral / 2);",
        (L,),
    ),
    Mutant(
        "slash keeps the prover assigned",
        JM,
        "job.prover = address(0);\n        job.fee = 0;\n        // One count",
        "job.fee = 0;\n        // One count",
        (L,),
    ),
    Mutant(
        "slash closes the job instead of re-opening it",
        JM,
        "job.status = JobStatus.Open;",
        "job.status = JobStatus.Cancelled;",
        (L,),
    ),
    # cancelJob, withdraw, lookups
    Mutant(
        "cancel requester check removed",
        JM,
        "if (job.requester != msg.sender) revert NotRequester(jobId, msg.sender);\n"
        "        _endUnawardedOrLapsed(jobId, job);\n        job.status",
        "_endUnawardedOrLapsed(jobId, job);\n        job.status",
        (R,),
    ),
    Mutant(
        "cancel refund one wei short",
        JM,
        "_credit(msg.sender, job.maxFee);",
        "_credit(msg.sender, job.maxFee - 1);",
        (L,),
    ),
    _removed(
        "withdraw zero check removed",
        JM,
        "if (amount == 0) revert NothingToWithdraw(msg.sender);",
        R,
    ),
    _removed("withdraw keeps the balance", JM, "account.balance = 0;", L),
    _removed(
        "market transfer failure ignored",
        JM,
        "if (!ok) revert TransferFailed(msg.sender, amount);",
    ),
    _removed(
        "unknown job check removed",
        JM,
        "if (job.status == JobStatus.None) revert UnknownJob(jobId);",
        R,
    ),
    # _endUnawardedOrLapsed
    _removed("open jobs not awardable", JM, "if (status == JobStatus.Open) return;", L),
    _removed(
        "lapse status check removed",
        JM,
        "if (status != JobStatus.Awarded) revert WrongStatus(jobId, status);",
        R,
    ),
    Mutant(
        "lapse boundary <= to < (one second earlier)",
        JM,
        "block.timestamp <= job.deadline) revert AcceptWindowOpen",
        "block.timestamp < job.deadline) revert AcceptWindowOpen",
    ),
    Mutant(
        "lapse boundary + 1 (one second later)",
        JM,
        "block.timestamp <= job.deadline) revert AcceptWindowOpen",
        "block.timestamp <= job.deadline + 1) revert AcceptWindowOpen",
    ),
    _removed("lapsed not counted", JM, "_penalties[prover].lapsed += 1;", L),
    # _credit
    Mutant(
        "credit cap > to >=",
        JM,
        "if (balance > type(uint96).max) revert AmountTooLarge(balance);\n        a.balance",
        "if (balance >= type(uint96).max) revert AmountTooLarge(balance);\n        a.balance",
    ),
    Mutant(
        "credit cap removed",
        JM,
        "if (balance > type(uint96).max) revert AmountTooLarge(balance);\n        a.balance",
        "a.balance",
    ),
    # signatures and the domain
    _removed(
        "signature length check removed", JM, "if (signature.length != 65) return address(0);"
    ),
    Mutant("high-s check removed", JM, "uint256(s) > HALF_ORDER || ", ""),
    Mutant("high-s bound > to >=", JM, "uint256(s) > HALF_ORDER", "uint256(s) >= HALF_ORDER"),
    Mutant("v in {27, 28} check removed", JM, " || (v != 27 && v != 28)", ""),
    Mutant("domain version 1", JM, 'VERSION = "2";', 'VERSION = "1";', (R,)),
    Mutant(
        "market reentrancy guard removed",
        JM,
        "if (_entered) revert Reentrancy();",
        "",
        (RE,),
    ),
    # ProverStaking
    Mutant(
        "burn address changed",
        PS,
        "BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD",
        f"BURN_ADDRESS = {OTHER_BURN}",
        (L,),
    ),
    _removed(
        "onlyMarket check removed",
        PS,
        "if (msg.sender != _market) revert NotMarket(msg.sender);",
        S,
    ),
    _removed(
        "setMarket deployer check removed",
        PS,
        "if (msg.sender != _deployer) revert NotDeployer(msg.sender);",
        S,
    ),
    _removed(
        "setMarket once check removed",
        PS,
        "if (_market != address(0)) revert MarketAlreadySet();",
        S,
    ),
    _removed(
        "setMarket zero check removed", PS, "if (market_ == address(0)) revert ZeroMarket();", S
    ),
    _removed("deposit zero check removed", PS, "if (msg.value == 0) revert ZeroAmount();", S),
    Mutant(
        "stake cap > to >=",
        PS,
        "if (total > type(uint96).max)",
        "if (total >= type(uint96).max)",
        (S,),
    ),
    _removed(
        "stake cap removed", PS, "if (total > type(uint96).max) revert AmountTooLarge(total);", S
    ),
    _removed("request zero check removed", PS, "if (amount == 0) revert ZeroAmount();", S),
    Mutant(
        "request free stake > to >=",
        PS,
        "if (amount > free) revert InsufficientFreeStake(msg.sender, free, amount);",
        "if (amount >= free) revert InsufficientFreeStake(msg.sender, free, amount);",
        (S,),
    ),
    _removed(
        "request free stake check removed",
        PS,
        "if (amount > free) revert InsufficientFreeStake(msg.sender, free, amount);",
        S,
    ),
    Mutant(
        "pending cap > to >=",
        PS,
        "if (pending > type(uint96).max)",
        "if (pending >= type(uint96).max)",
        (S,),
    ),
    _removed(
        "pending cap removed",
        PS,
        "if (pending > type(uint96).max) revert AmountTooLarge(pending);",
        S,
    ),
    Mutant(
        "withdrawal delay + 1",
        PS,
        "block.timestamp + _withdrawalDelay;",
        "block.timestamp + _withdrawalDelay + 1;",
        (S,),
    ),
    Mutant(
        "withdrawal delay - 1",
        PS,
        "block.timestamp + _withdrawalDelay;",
        "block.timestamp + _withdrawalDelay - 1;",
        (S,),
    ),
    _removed(
        "withdraw pending check removed",
        PS,
        "if (w.amount == 0) revert NoPendingWithdrawal(msg.sender);",
        S,
    ),
    Mutant(
        "payout time < to <= (one second later)",
        PS,
        "block.timestamp < w.availableAt",
        "block.timestamp <= w.availableAt",
        (S,),
    ),
    Mutant(
        "payout time - 1 (one second earlier)",
        PS,
        "block.timestamp < w.availableAt",
        "block.timestamp + 1 < w.availableAt",
        (S,),
    ),
    _removed("withdrawal not cleared", PS, "delete _withdrawals[msg.sender];", S),
    Mutant(
        "lock free stake > to >=",
        PS,
        "if (amount > free) revert InsufficientFreeStake(prover, free, amount);",
        "if (amount >= free) revert InsufficientFreeStake(prover, free, amount);",
        (S,),
    ),
    _removed(
        "lock free stake check removed",
        PS,
        "if (amount > free) revert InsufficientFreeStake(prover, free, amount);",
        S,
    ),
    Mutant(
        "lock adds half", PS, "s.locked += uint96(amount);", "s.locked += uint96(amount / 2);", (L,)
    ),
    Mutant(
        "release bound > to >=",
        PS,
        "if (amount > locked) revert",
        "if (amount >= locked) revert",
        (L,),
    ),
    _removed(
        "release bound removed",
        PS,
        "if (amount > locked) revert InsufficientLocked(prover, locked, amount);",
    ),
    Mutant(
        "release frees nothing",
        PS,
        "s.locked = uint96(locked - amount);",
        "s.locked = uint96(locked);",
        (L,),
    ),
    Mutant(
        "slash bound > to >=",
        PS,
        "if (amount > current.locked)",
        "if (amount >= current.locked)",
        (L,),
    ),
    _removed(
        "slash bound removed",
        PS,
        "if (amount > current.locked) revert InsufficientLocked(prover, current.locked, amount);",
    ),
    _removed("slash keeps the stake", PS, "s.stake = current.stake - uint96(amount);", L),
    _removed("slash keeps the lock", PS, "s.locked = current.locked - uint96(amount);", L),
    Mutant(
        "burned amount halved",
        PS,
        "_send(BURN_ADDRESS, amount);",
        "_send(BURN_ADDRESS, amount / 2);",
        (L,),
    ),
    Mutant(
        "staking reentrancy guard removed",
        PS,
        "if (_entered) revert Reentrancy();",
        "",
        (RE,),
    ),
    _removed("staking transfer failure ignored", PS, "if (!ok) revert TransferFailed(to, amount);"),
)


@dataclass
class Outcome:
    mutant: Mutant
    line: int
    status: str  # killed, SURVIVED, equivalent, compile error, test error
    killer: str
    seconds: float


def _line_of(source: str, fragment: str) -> int:
    return source[: source.index(fragment)].count("\n") + 1


def _copy_contracts(destination: Path) -> Path:
    target = destination / "contracts"
    for name in ("src", "test"):
        shutil.copytree(CONTRACTS / name, target / name)
    shutil.copy2(CONTRACTS / "compile.mjs", target / "compile.mjs")
    return target


def _compile(contracts: Path) -> tuple[bool, str]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to run the pinned solc"
    proc = subprocess.run(
        [node, str(contracts / "compile.mjs")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "PROVERNET_TOOLS": str(tools.tools_dir())},
    )
    return proc.returncode == 0, proc.stderr


def _bytecode(contracts: Path, file: str) -> str:
    art = json.loads((contracts / "build" / file.replace(".sol", ".json")).read_text())
    return str(art["deployedBytecode"])


def _run_tests(build: Path, files: list[str], scratch: Path) -> tuple[int, str]:
    """Run ``files`` against ``build`` with -x; returns pytest's exit code and the first
    failing test's id."""
    env = {
        **os.environ,
        "PROVERNET_TOOLS": str(tools.tools_dir()),
        "PROVERNET_CONTRACTS_BUILD": str(build),
        "HYPOTHESIS_STORAGE_DIRECTORY": str(scratch / "hypothesis"),
    }
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "--tb=no",
        "-rfE",
        "-p",
        "no:cacheprovider",
        f"--hypothesis-seed={HYPOTHESIS_SEED}",
        *files,
    ]
    try:
        proc = subprocess.run(
            cmd,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=MUTANT_TIMEOUT,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return -1, "(timed out)"
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.MULTILINE)
    killer = match.group(1).removeprefix("tests/contracts/") if match else ""
    if proc.returncode not in (0, 1) and not killer:
        killer = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
    return proc.returncode, killer


def run_mutant(mutant: Mutant, contracts: Path, baseline: dict[str, str]) -> Outcome:
    path = contracts / "src" / mutant.file
    original = path.read_text()
    assert original.count(mutant.old) == 1, f"{mutant.name}: fragment must occur exactly once"
    line = _line_of(original, mutant.old)
    start = time.monotonic()
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        ok, errors = _compile(contracts)
        if not ok:
            return Outcome(mutant, line, "compile error", errors.strip()[-200:], 0.0)
        if _bytecode(contracts, mutant.file) == baseline[mutant.file]:
            return Outcome(mutant, line, "equivalent", "(same bytecode)", time.monotonic() - start)
        with tempfile.TemporaryDirectory(prefix="mutant-") as scratch:
            rc, killer = _run_tests(contracts / "build", mutant.test_files(), Path(scratch))
        status = {0: "SURVIVED", 1: "killed"}.get(rc, "test error")
        return Outcome(mutant, line, status, killer, time.monotonic() - start)
    finally:
        path.write_text(original)


def _table(outcomes: list[Outcome]) -> list[str]:
    rows = [
        "| # | mutant | file:line | result | killed by | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for i, o in enumerate(outcomes, start=1):
        killer = o.killer.replace("|", "\\|")
        rows.append(
            f"| {i} | {o.mutant.name} | {o.mutant.file}:{o.line} | {o.status} | "
            f"`{killer}` | {o.seconds:.1f} |"
        )
    return rows


def _summary(outcomes: list[Outcome]) -> str:
    killed = sum(o.status == "killed" for o in outcomes)
    others = {o.status for o in outcomes} - {"killed"}
    extra = ", ".join(f"{sum(o.status == s for o in outcomes)} {s}" for s in sorted(others))
    return f"{killed}/{len(outcomes)} mutants killed" + (f" ({extra})" if extra else "")


def write_results(outcomes: list[Outcome], total_seconds: float, baseline_seconds: float) -> None:
    lines = [
        "# Contract mutation check",
        "",
        f"Command: `{COMMAND}` (also `make check-contracts`)",
        "",
        f"Machine: {os.cpu_count()} vCPU, one mutant at a time. "
        f"Date: {dt.date.today().isoformat()}. solc 0.8.28 (pinned, via contracts/compile.mjs).",
        "",
        "Each mutant rewrites one fragment of `contracts/src/JobMarket.sol` or "
        "`contracts/src/ProverStaking.sol`, is compiled in a temporary copy of `contracts/`, and "
        "runs `tests/contracts` against the mutated artifacts (`PROVERNET_CONTRACTS_BUILD`) with "
        f"`-x`, `-p no:cacheprovider` and `--hypothesis-seed={HYPOTHESIS_SEED}`, the test files "
        "most likely to kill it first. *killed by* is the first test that failed; *seconds* "
        "covers compiling and testing the mutant.",
        "",
        f"Result: **{_summary(outcomes)}** in {total_seconds / 60:.1f} min "
        f"(the unmutated baseline passed in {baseline_seconds:.0f} s).",
        "",
        *_table(outcomes),
        "",
    ]
    RESULTS.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only the mutants whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument(
        "--skip-baseline", action="store_true", help="do not run the tests on the unmutated build"
    )
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if args.only is None or args.only in m.name]
    if args.list:
        for m in MUTANTS:
            print(f"{m.name}  ({m.file})")
        return 0
    if not mutants:
        print("no mutant matches", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="contract-mutation-") as tmp:
        contracts = _copy_contracts(Path(tmp))
        ok, errors = _compile(contracts)
        if not ok:
            print(errors, file=sys.stderr)
            return 2
        baseline = {f: _bytecode(contracts, f) for f in (JM, PS)}
        baseline_seconds = 0.0
        if not args.skip_baseline:
            t0 = time.monotonic()
            rc, killer = _run_tests(contracts / "build", ordered_test_files(), Path(tmp))
            baseline_seconds = time.monotonic() - t0
            if rc != 0:
                print(f"the unmutated contracts fail their tests ({killer})", file=sys.stderr)
                return 2
            print(f"baseline: tests pass on the unmutated build ({baseline_seconds:.0f} s)")
        outcomes = []
        for i, mutant in enumerate(mutants, start=1):
            outcome = run_mutant(mutant, contracts, baseline)
            outcomes.append(outcome)
            print(
                f"[{i}/{len(mutants)}] {outcome.status:<13} {mutant.name} "
                f"({mutant.file}:{outcome.line}) {outcome.killer} {outcome.seconds:.1f} s",
                flush=True,
            )
    total = time.monotonic() - started
    print()
    print("\n".join(_table(outcomes)))
    print()
    print(_summary(outcomes))
    if args.only is None:
        write_results(outcomes, total, baseline_seconds)
        print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0 if all(o.status in ("killed", "equivalent") for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
