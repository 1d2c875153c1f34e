"""EIP-712 typed-data hashing and secp256k1 signatures with the node's Ethereum key.

Only the static member types provernet signs are supported (uint, address,
bytes32, and bytes/string hashed as EIP-712 prescribes). Signatures are 65 bytes
``r || s || v`` with v in {27, 28} and s in the lower half of the curve order
(EIP-2), which is exactly what JobMarket's ``_recover`` accepts; recovery refuses
anything else, so no signature has a second, malleated form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature as EthKeysBadSignature
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError as EthKeysValidationError

from protocol.errors import LocalProtocolError
from protocol.messages.errors import BadSignature
from protocol.messages.fields import ADDRESS_BYTES, SIGNATURE_BYTES

# secp256k1 group order n (SEC 2, section 2.4.1).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2
EIP712_PREFIX = b"\x19\x01"


@dataclass(frozen=True)
class TypedStruct:
    """One EIP-712 struct type: its name and ordered (type, name) members."""

    name: str
    members: tuple[tuple[str, str], ...]

    @property
    def encode_type(self) -> str:
        """``Name(type1 name1,type2 name2,...)``."""
        return f"{self.name}({','.join(f'{t} {n}' for t, n in self.members)})"

    @property
    def type_hash(self) -> bytes:
        return keccak(text=self.encode_type)

    def hash_struct(self, values: Sequence[object]) -> bytes:
        """keccak256(typeHash || encodeData(values)), values in member order."""
        if len(values) != len(self.members):
            raise LocalProtocolError(f"{self.name} takes {len(self.members)} values")
        words = [_encode_value(t, v) for (t, _), v in zip(self.members, values, strict=True)]
        return keccak(self.type_hash + b"".join(words))


def _encode_value(type_name: str, value: object) -> bytes:
    if type_name in ("string", "bytes"):
        raw = value.encode() if isinstance(value, str) else value
        if not isinstance(raw, bytes):
            raise LocalProtocolError(f"{type_name} member needs bytes or text")
        return keccak(raw)
    if type_name == "address":
        if not isinstance(value, bytes) or len(value) != ADDRESS_BYTES:
            raise LocalProtocolError("address member needs 20 bytes")
        return value.rjust(32, b"\x00")
    if type_name == "bytes32":
        if not isinstance(value, bytes) or len(value) != 32:
            raise LocalProtocolError("bytes32 member needs 32 bytes")
        return value
    if type_name.startswith("uint"):
        bits = int(type_name[4:] or 256)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
            raise LocalProtocolError(f"{type_name} member out of range: {value!r}")
        return value.to_bytes(32, "big")
    raise LocalProtocolError(f"unsupported EIP-712 member type {type_name}")


EIP712_DOMAIN_WITH_CONTRACT = TypedStruct(
    "EIP712Domain",
    (
        ("string", "name"),
        ("string", "version"),
        ("uint256", "chainId"),
        ("address", "verifyingContract"),
    ),
)
EIP712_DOMAIN_CHAIN_ONLY = TypedStruct(
    "EIP712Domain", (("string", "name"), ("string", "version"), ("uint256", "chainId"))
)


def typed_digest(domain_separator: bytes, struct_hash: bytes) -> bytes:
    """keccak256("\\x19\\x01" || domainSeparator || hashStruct(message)) (EIP-712)."""
    return keccak(EIP712_PREFIX + domain_separator + struct_hash)


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """A 65-byte (r, s, v) signature of a 32-byte digest; v is 27 or 28, s is low."""
    if len(digest) != 32:
        raise LocalProtocolError("a digest is 32 bytes")
    try:
        signature = PrivateKey(bytes(private_key)).sign_msg_hash(digest)
    except EthKeysValidationError as exc:
        raise LocalProtocolError(f"not a secp256k1 private key: {exc}") from None
    r: int = signature.r
    s: int = signature.s
    v: int = signature.v
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + 27])


def recover_signer(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that signed ``digest``; raises BadSignature."""
    if type(signature) is not bytes or len(signature) != SIGNATURE_BYTES:
        raise BadSignature("a signature is 65 bytes (r, s, v)")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28) or not 0 < r < SECP256K1_N or not 0 < s <= HALF_N:
        raise BadSignature("signature values out of range (v must be 27/28, s low per EIP-2)")
    try:
        public_key = Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (EthKeysBadSignature, EthKeysValidationError) as exc:
        raise BadSignature(f"signature does not recover: {exc}") from None
    address: bytes = public_key.to_canonical_address()
    return address


def address_of(private_key: bytes) -> bytes:
    """The 20-byte address of a private key."""
    try:
        address: bytes = PrivateKey(bytes(private_key)).public_key.to_canonical_address()
    except EthKeysValidationError as exc:
        raise LocalProtocolError(f"not a secp256k1 private key: {exc}") from None
    return address
