"""The registry and the strict codec: round trips, fixed ids, and refusal of bad bytes."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.messages import (
    REGISTRY,
    ArtifactRef,
    Bid,
    BlobHeader,
    ErrorReply,
    InputDelivery,
    JobAnnouncement,
    Message,
    ModelAnnouncement,
    ProverHeartbeat,
    decode,
    decode_as,
    encode,
)
from protocol.messages.codec import MAX_FRAME_BYTES, record_to_array, register
from protocol.messages.errors import (
    InvalidMessageValue,
    MalformedMessage,
    NonCanonicalEncoding,
    OversizedMessage,
    UnexpectedMessageType,
    UnknownMessageType,
)
from protocol.messages.fields import R
from protocol.messages.types import (
    GOSSIP_TYPES,
    MAX_ARTIFACTS,
    MAX_GOSSIP_PAYLOAD,
    MAX_INPUT_VALUES,
    MAX_MODELS_HELD,
    MAX_ONCHAIN_TIME,
    MAX_WINDOW,
    JobTerms,
)

from .samples import ALICE, NOW, PEER_A, PEER_B, announcement, samples

SAMPLES = samples()


def frame(type_id: int, fields: list[object]) -> bytes:
    return bytes(msgpack.packb([type_id, fields], use_bin_type=True))


def test_type_ids_are_pinned() -> None:
    ids = {cls.__name__: type_id for type_id, cls in REGISTRY.items()}
    assert ids == {
        "Envelope": 1,
        "JobAnnouncement": 16,
        "Bid": 17,
        "ModelAnnouncement": 18,
        "ProverHeartbeat": 19,
        "PeerRecord": 20,
        "InputDelivery": 32,
        "InputAck": 33,
        "BlobRequest": 34,
        "BlobHeader": 35,
        "ErrorReply": 36,
    }


def test_a_type_id_cannot_be_registered_twice() -> None:
    with pytest.raises(LocalProtocolError, match="taken"):
        register(17, 100, gossip=False)(Bid)
    assert REGISTRY[17] is Bid


def test_samples_cover_every_type() -> None:
    assert {type(m) for m in SAMPLES} == set(REGISTRY.values())


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    data = encode(message)
    assert len(data) <= message.MAX_SIZE
    assert decode(data) == message
    assert decode_as(data, type(message)) == message


def test_gossip_types_fit_a_gossip_payload() -> None:
    assert all(cls.GOSSIP and cls.MAX_SIZE <= MAX_GOSSIP_PAYLOAD for cls in GOSSIP_TYPES)
    assert not any(cls.GOSSIP for cls in REGISTRY.values() if cls not in GOSSIP_TYPES)


def test_largest_messages_fit_their_limits() -> None:
    name = "n" * 64
    artifacts = tuple(ArtifactRef(f"{i:02}" + name[2:], b"\xff" * 32, 2**64 - 1) for i in range(16))
    model = ModelAnnouncement(
        2**64 - 1, "é" * 32, b"\xff" * 32, b"\xff" * 32, b"\xff" * 32, artifacts, ALICE
    )
    assert len(artifacts) == MAX_ARTIFACTS
    models = tuple(range(2**64 - MAX_MODELS_HELD, 2**64))
    heartbeat = ProverHeartbeat(ALICE, PEER_A, 2**16 - 1, 2**256 - 1, 2**64 - 1, models)
    values = (-(2**31),) * MAX_INPUT_VALUES
    delivery = InputDelivery(2**256 - 1, values, R - 1)
    biggest = announcement(
        job_id=2**256 - 1,
        constraint_count=2**64 - 1,
        bid_deadline=MAX_ONCHAIN_TIME,
        accept_window=MAX_WINDOW,
        proof_window=MAX_WINDOW,
        round=2**16 - 1,
    )
    for message in (model, heartbeat, delivery, biggest):
        assert decode(encode(message)) == message


def test_encoding_over_the_limit_is_refused_locally() -> None:
    with pytest.raises(InvalidMessageValue):
        InputDelivery(1, (0,) * (MAX_INPUT_VALUES + 1), 0)
    with pytest.raises(InvalidMessageValue):
        ErrorReply(1, "x" * 257)


@pytest.mark.parametrize(
    ("build", "why"),
    [
        (lambda: announcement(market=b"\x01" * 19), "address must be 20 bytes"),
        (lambda: announcement(input_commitment=R), "field element"),
        (lambda: announcement(max_fee=-1), "amount"),
        (lambda: announcement(max_fee=2**96), "2\\^96"),
        (lambda: announcement(accept_window=2**32), "accept_window"),
        (lambda: announcement(round=2**16), "round"),
        (lambda: announcement(job_id=True), "integer"),
        (lambda: announcement(circuit_id="00" * 32), "expected bytes"),
        (lambda: announcement(requester_peer_id=b"\x12\x20" + b"\x00" * 31), "multihash"),
        (lambda: ArtifactRef("../etc/passwd", b"\x00" * 32, 1), "plain file name"),
        (lambda: ArtifactRef("a\nb", b"\x00" * 32, 1), "control"),
        (lambda: ProverHeartbeat(ALICE, PEER_B, 1, 1, 1, (2, 1)), "increasing"),
        (lambda: ProverHeartbeat(ALICE, PEER_B, 1, 1, 1, [1]), "tuple"),
        (lambda: BlobHeader(b"\x00" * 32, 2**40), "MAX_BLOB_BYTES"),
        (lambda: ErrorReply(999, "?"), "unknown error code"),
    ],
)
def test_bad_values_are_local_errors(build: object, why: str) -> None:
    with pytest.raises(InvalidMessageValue, match=why):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"accept_window": 0}, "windows"),
        ({"proof_window": 0}, "windows"),
        ({"accept_window": MAX_WINDOW + 1}, "windows"),
        ({"proof_window": MAX_WINDOW + 1}, "windows"),
        ({"bid_deadline": MAX_ONCHAIN_TIME + 1}, "2\\^40"),
        ({"max_fee": 0}, "max fee"),
        ({"collateral": 2**96}, "collateral"),
        ({"job_id": 0}, "start at 1"),
        ({"model_id": 0}, "start at 1"),
    ],
)
def test_an_announcement_jobmarket_would_refuse_is_inconsistent(
    changes: dict[str, int], why: str
) -> None:
    with pytest.raises(InvalidMessageValue, match=why):
        announcement(**changes)
    # A received frame with such values is the sender's error, not ours.
    fields = record_to_array(announcement())
    names = list(JobAnnouncement.__dataclass_fields__)
    for name, value in changes.items():
        at = names.index(name)
        fields[at] = value.to_bytes(32, "big") if isinstance(fields[at], bytes) else value
    with pytest.raises(RemoteProtocolError):
        decode(frame(16, fields))


def test_announcement_limits_are_inclusive() -> None:
    edge = announcement(
        accept_window=1, proof_window=MAX_WINDOW, bid_deadline=MAX_ONCHAIN_TIME, collateral=0
    )
    assert decode(encode(edge)) == edge
    # The bid deadline is the requester's word only: it may lie in the past (a re-announced
    # job) and no longer has to precede anything on-chain.
    assert announcement(bid_deadline=0).inconsistency() is None


def test_an_announcement_names_the_terms_a_bid_signs() -> None:
    job = announcement(requester=PEER_A[-20:], model_id=3, input_commitment=5, collateral=9,
                       accept_window=30, proof_window=90)  # fmt: skip
    assert job.terms == JobTerms(PEER_A[-20:], 3, 5, 9, 30, 90)
    # The bid deadline, max fee and round are not terms: a re-announcement keeps the bids.
    again = announcement(bid_deadline=NOW + 999, max_fee=1, round=2)
    assert again.terms == announcement().terms


BID = SAMPLES[1]
assert isinstance(BID, Bid)
BID_FIELDS = record_to_array(BID)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (frame(17, BID_FIELDS[:-1]), MalformedMessage),  # a field missing
        (frame(17, [*BID_FIELDS, 1]), MalformedMessage),  # an extra field
        (frame(999, BID_FIELDS), UnknownMessageType),
        (frame(17, [7, *BID_FIELDS[1:]]), MalformedMessage),  # int where 32 bytes belong
        (frame(17, [BID_FIELDS[0], b"\x01" * 19, *BID_FIELDS[2:]]), MalformedMessage),
        (frame(17, [BID_FIELDS[0], "a" * 20, *BID_FIELDS[2:]]), MalformedMessage),  # str for bin
        (frame(17, [*BID_FIELDS[:3], -1, *BID_FIELDS[4:]]), MalformedMessage),  # negative uint
        (frame(17, [*BID_FIELDS[:3], 1.5, *BID_FIELDS[4:]]), MalformedMessage),  # a float
        (frame(17, [*BID_FIELDS[:3], True, *BID_FIELDS[4:]]), MalformedMessage),  # bool for int
        (frame(17, {"job_id": 1}), MalformedMessage),  # type: ignore[arg-type]
        (frame(True, BID_FIELDS), MalformedMessage),  # type: ignore[arg-type]
        (encode(BID) + b"\x00", MalformedMessage),  # trailing bytes
        (encode(BID)[:-1], MalformedMessage),  # truncated
        (b"", MalformedMessage),
        (b"\xc1", MalformedMessage),  # a reserved msgpack byte
        (b"\x92\x11\xdd\xff\xff\xff\xff", MalformedMessage),  # claims 2^32 - 1 fields
        (b"\x92\x22\x91\xc6\x7f\xff\xff\xff", MalformedMessage),  # claims a 2 GB bin
        (bytes(msgpack.packb([17, BID_FIELDS, 0], use_bin_type=True)), MalformedMessage),
        (bytes(msgpack.packb([17, BID_FIELDS], use_bin_type=False)), MalformedMessage),
    ],
)
def test_bad_frames_are_remote_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(data)


def test_a_field_element_at_r_is_refused() -> None:
    ack = frame(33, [(7).to_bytes(32, "big"), R.to_bytes(32, "big")])
    with pytest.raises(MalformedMessage, match="< r"):
        decode(ack)
    assert decode(frame(33, [(7).to_bytes(32, "big"), (R - 1).to_bytes(32, "big")]))


def test_wide_integer_forms_are_not_canonical() -> None:
    canonical = encode(BlobHeader(b"\x09" * 32, 5))
    assert canonical.endswith(b"\x05")
    wide = canonical[:-1] + b"\xcd\x00\x05"  # uint16 form of 5
    with pytest.raises(NonCanonicalEncoding):
        decode(wide)


def test_size_limits_are_checked_before_decoding() -> None:
    with pytest.raises(OversizedMessage):
        decode(b"\x00" * (MAX_FRAME_BYTES + 1))
    with pytest.raises(OversizedMessage):
        decode(encode(SAMPLES[2]), max_size=100)
    padded = frame(34, [b"\x09" * 32 + b"\x00" * 200])  # a BlobRequest is at most 128 bytes
    with pytest.raises(OversizedMessage):
        decode(padded)


def test_unaccepted_type_is_refused() -> None:
    with pytest.raises(UnexpectedMessageType):
        decode(encode(BID), accept=(ModelAnnouncement,))
    with pytest.raises(UnexpectedMessageType):
        decode_as(encode(BID), InputDelivery)


def test_only_bytes_are_decoded() -> None:
    with pytest.raises(MalformedMessage):
        decode(bytearray(encode(BID)))  # type: ignore[arg-type]


def _decode_or_remote_error(data: bytes) -> None:
    try:
        message = decode(data)
    except RemoteProtocolError:
        return
    assert encode(message) == data  # anything accepted is canonical


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_decode_or_raise_remote_errors(data: bytes) -> None:
    _decode_or_remote_error(data)


@settings(max_examples=300)
@given(
    st.sampled_from([encode(m) for m in SAMPLES]),
    st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from("xid")),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_encodings_decode_or_raise_remote_errors(
    data: bytes, edits: list[tuple[int, int, str]]
) -> None:
    buf = bytearray(data)
    for position, byte, op in edits:
        at = position % (len(buf) + 1)
        if op == "x" and at < len(buf):
            buf[at] ^= byte or 1
        elif op == "i":
            buf.insert(at, byte)
        elif at < len(buf):
            del buf[at]
    _decode_or_remote_error(bytes(buf))


def _nested(inner: st.SearchStrategy[object]) -> st.SearchStrategy[list[object]]:
    return st.lists(inner, max_size=14)


_natives = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=10)
    | st.floats(allow_nan=False),
    _nested,
    max_leaves=30,
)


@settings(max_examples=100)
@given(st.sampled_from(sorted(REGISTRY)), st.lists(_natives, max_size=14))
def test_structured_garbage_for_every_type_raises_remote_errors(
    type_id: int, fields: list[object]
) -> None:
    _decode_or_remote_error(frame(type_id, fields))


@settings(max_examples=300)
@given(st.sampled_from(SAMPLES), st.integers(0, 20), _natives)
def test_one_field_replaced_by_garbage_raises_remote_errors(
    message: Message, index: int, garbage: object
) -> None:
    fields = record_to_array(message)
    fields[index % len(fields)] = garbage
    _decode_or_remote_error(frame(message.TYPE_ID, fields))
