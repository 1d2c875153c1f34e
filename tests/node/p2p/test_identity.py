"""The node's libp2p key file: created once with mode 0600, reloaded to the same peer id."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from node.p2p import IdentityError, load_or_create_identity, peer_id_of


def test_a_new_key_is_written_private_and_reloads_to_the_same_peer_id(tmp_path: Path) -> None:
    path = tmp_path / "libp2p.key"
    first = load_or_create_identity(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_identity(path)
    assert peer_id_of(again) == peer_id_of(first)
    assert peer_id_of(load_or_create_identity(tmp_path / "other.key")) != peer_id_of(first)


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "libp2p.key"
    load_or_create_identity(path)
    path.chmod(0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        load_or_create_identity(path)


def test_a_corrupt_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "libp2p.key"
    path.write_bytes(b"not a key")
    path.chmod(0o600)
    with pytest.raises(IdentityError, match="corrupt"):
        load_or_create_identity(path)


def test_an_unwritable_home_is_reported(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="cannot create"):
        load_or_create_identity(tmp_path / "missing-dir" / "libp2p.key")
