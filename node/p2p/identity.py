"""The node's libp2p identity: an Ed25519 key kept in one file of the node's home.

The file holds libp2p's protobuf encoding of the private key and is created with
mode 0600; a key file that others can read is refused rather than used.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.serialization import deserialize_private_key
from libp2p.peer.id import ID

from node.p2p.errors import IdentityError

KEY_FILE_MODE = 0o600


def load_or_create_identity(path: Path) -> KeyPair:
    """The key pair stored at ``path``; a new Ed25519 key is written there if none exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError:
        return _load(path)
    except OSError as exc:
        raise IdentityError(f"cannot create the libp2p key file {path}: {exc}") from exc
    key_pair = create_new_key_pair()
    with os.fdopen(fd, "wb") as file:
        file.write(key_pair.private_key.serialize())
    return key_pair


def _load(path: Path) -> KeyPair:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        data = path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read the libp2p key file {path}: {exc}") from exc
    if mode & 0o077:
        raise IdentityError(
            f"the libp2p key file {path} is readable by others (mode {mode:o}); "
            f"run: chmod 600 {path}"
        )
    try:
        private_key = deserialize_private_key(data)
    except Exception as exc:  # the deserializer raises whatever its key class raises
        raise IdentityError(f"the libp2p key file {path} is corrupt: {exc}") from exc
    return KeyPair(private_key, private_key.get_public_key())


def peer_id_of(key_pair: KeyPair) -> ID:
    """The peer id a key pair gives its host."""
    return ID.from_pubkey(key_pair.public_key)
