"""circom .r1cs / .wtns files: round trips, snarkjs acceptance, and rejection of bad bytes."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.r1cs.binfmt import (
    r1cs_from_bytes,
    r1cs_to_bytes,
    wtns_from_bytes,
    wtns_to_bytes,
)
from protocol.r1cs.system import R1CS, Constraint, R
from tests.protocol.circuits import cubic, cubic_witness, product_sum
from tests.protocol.snarkjs_cli import run_snarkjs

# Offsets in a file written by r1cs_to_bytes: 12-byte file header, then the
# header section's 12-byte section header.
HEADER_PAYLOAD = 12 + 12
PRIME_AT = HEADER_PAYLOAD + 4
N_WIRES_AT = PRIME_AT + 32
CONSTRAINTS_PAYLOAD = HEADER_PAYLOAD + 64 + 12
FIRST_WIRE_AT = CONSTRAINTS_PAYLOAD + 4
FIRST_COEFF_AT = FIRST_WIRE_AT + 4


def _same(a: R1CS, b: R1CS) -> None:
    assert (a.n_wires, a.n_public, a.n_pub_in, a.n_prv_in, a.prime) == (
        b.n_wires,
        b.n_public,
        b.n_pub_in,
        b.n_prv_in,
        b.prime,
    )
    assert a.constraints == b.constraints
    assert a.labels == b.labels


@pytest.mark.parametrize("make", [cubic, product_sum])
def test_r1cs_round_trip(make: Callable[[], R1CS]) -> None:
    r1cs = make()
    data = r1cs_to_bytes(r1cs)
    _same(r1cs_from_bytes(data), r1cs)
    assert r1cs_to_bytes(r1cs_from_bytes(data)) == data


def test_r1cs_round_trip_with_labels_and_public_inputs() -> None:
    r1cs = R1CS(
        n_wires=4,
        n_public=1,
        n_pub_in=1,
        n_prv_in=1,
        constraints=(Constraint({3: 1}, {2: R - 1}, {1: 5, 0: 7}),),
        labels=(0, 9, 4, 2),
    )
    back = r1cs_from_bytes(r1cs_to_bytes(r1cs))
    _same(back, r1cs)


def test_wtns_round_trip() -> None:
    witness = [1, R - 1, 0, 2**200, 5]
    assert wtns_from_bytes(wtns_to_bytes(witness)) == witness


def test_writers_reject_unrepresentable_values() -> None:
    with pytest.raises(LocalProtocolError, match="witness value 1"):
        wtns_to_bytes([1, R])
    bad = R1CS(n_wires=2, n_public=1, constraints=(Constraint({5: 1}, {}, {}),))
    with pytest.raises(LocalProtocolError):
        r1cs_to_bytes(bad)


def _patch(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def _cases() -> list[tuple[str, bytes, str]]:
    good = r1cs_to_bytes(cubic())
    u32 = struct.Struct("<I").pack
    return [
        ("magic", _patch(good, 0, b"R1CS"), "magic"),
        ("version", _patch(good, 4, u32(2)), "version 2"),
        ("field size", _patch(good, HEADER_PAYLOAD, u32(48)), "field size"),
        ("prime", _patch(good, PRIME_AT, b"\x02"), "prime"),
        ("wire count", _patch(good, N_WIRES_AT, u32(2)), "wires cannot hold"),
        ("wire index", _patch(good, FIRST_WIRE_AT, u32(99)), "wire 99"),
        ("coefficient", _patch(good, FIRST_COEFF_AT, R.to_bytes(32, "little")), "prime"),
        ("trailing", good + b"\0", "trailing"),
        ("section count", _patch(good, 8, u32(4)), "truncated"),
        ("section type", _patch(good, 12, u32(7)), "type 7"),
        ("duplicate", _patch(good, 12 + 12 + 64, u32(1)), "twice"),
    ]


@pytest.mark.parametrize(
    ("data", "message"), [c[1:] for c in _cases()], ids=[c[0] for c in _cases()]
)
def test_r1cs_reader_rejects(data: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        r1cs_from_bytes(data)


def test_r1cs_reader_rejects_unsorted_terms_and_bad_labels() -> None:
    two_terms = R1CS(n_wires=3, n_public=1, constraints=(Constraint({1: 1, 2: 1}, {}, {}),))
    data = r1cs_to_bytes(two_terms)
    second_wire_at = FIRST_COEFF_AT + 32
    swapped = _patch(_patch(data, FIRST_WIRE_AT, struct.pack("<I", 2)), second_wire_at, b"\1")
    with pytest.raises(RemoteProtocolError, match="not sorted"):
        r1cs_from_bytes(swapped)
    label_at = len(data) - 8
    with pytest.raises(RemoteProtocolError, match="label"):
        r1cs_from_bytes(_patch(data, label_at, struct.pack("<Q", 3)))


def test_every_truncation_is_rejected() -> None:
    r1cs_data = r1cs_to_bytes(cubic())
    wtns_data = wtns_to_bytes(cubic_witness(3))
    for n in range(len(r1cs_data)):
        with pytest.raises(RemoteProtocolError):
            r1cs_from_bytes(r1cs_data[:n])
    for n in range(len(wtns_data)):
        with pytest.raises(RemoteProtocolError):
            wtns_from_bytes(wtns_data[:n])


def test_wtns_reader_rejects_bad_values_and_counts() -> None:
    good = wtns_to_bytes([1, 2, 3])
    values_at = 12 + 12 + 40 + 12
    with pytest.raises(RemoteProtocolError, match="witness value 1"):
        wtns_from_bytes(_patch(good, values_at + 32, R.to_bytes(32, "little")))
    count_at = 12 + 12 + 36
    with pytest.raises(RemoteProtocolError, match="header says 4"):
        wtns_from_bytes(_patch(good, count_at, struct.pack("<I", 4)))
    with pytest.raises(RemoteProtocolError, match="magic"):
        wtns_from_bytes(r1cs_to_bytes(cubic()))


@pytest.mark.snarkjs
def test_snarkjs_reads_our_r1cs(tmp_path: Path) -> None:
    r1cs = product_sum(4)
    (tmp_path / "c.r1cs").write_bytes(r1cs_to_bytes(r1cs))
    proc = run_snarkjs("r1cs", "info", "c.r1cs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "# of Constraints: 4" in proc.stdout
    assert "# of Wires: 7" in proc.stdout
    assert "# of Outputs: 4" in proc.stdout
    assert "# of Private Inputs: 2" in proc.stdout


@pytest.mark.snarkjs
def test_snarkjs_checks_our_witness(tmp_path: Path) -> None:
    (tmp_path / "c.r1cs").write_bytes(r1cs_to_bytes(cubic()))
    witness = cubic_witness(3)
    (tmp_path / "good.wtns").write_bytes(wtns_to_bytes(witness))
    witness[3] += 1
    (tmp_path / "bad.wtns").write_bytes(wtns_to_bytes(witness))
    good = run_snarkjs("wtns", "check", "c.r1cs", "good.wtns", cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "WITNESS IS CORRECT" in good.stdout
    bad = run_snarkjs("wtns", "check", "c.r1cs", "bad.wtns", cwd=tmp_path)
    assert bad.returncode != 0
    assert "WITNESS IS NOT CORRECT" in bad.stdout + bad.stderr
