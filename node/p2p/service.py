"""The p2p service: the node's only task that touches libp2p sockets.

``P2PService.run`` starts a host (host.py), subscribes the configured topics
behind their validators (gossip.py), serves the direct protocols (direct.py) and
keeps dialing the bootstrap peers that are not connected, so start order does not
matter (LIBP2P_NOTES item 3); peers known from earlier runs are dialed once.
Validated gossip and accepted direct messages go to the daemon on one trio memory
channel, in arrival order per source; outbound traffic comes in through the methods
below. A daemon that stops reading the channel stalls delivery, and gossipsub then
drops (LIBP2P_NOTES item 4). The peer book (peers.py) holds connections, bound
accounts, scores and bans; a banned peer is disconnected,
blacklisted in gossipsub, refused on every stream and not dialed until its ban ends.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from libp2p.abc import IHost, INetStream, ISubscriptionAPI
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from multiaddr import Multiaddr

from node.bounds import Bounds
from node.p2p.config import DirectMessage, DirectRules, Inbound, P2PConfig
from node.p2p.direct import (
    ACCEPTED,
    BID_PROTOCOL,
    BLOB_PROTOCOL,
    INPUT_PROTOCOL,
    RECORD_PROTOCOL,
    BlobLookup,
    close_quietly,
    deliver,
    fetch_blob,
    refusal,
    request,
    serve_blob,
)
from node.p2p.errors import InvalidAddress, NotBound, P2PError, PeerFault, StreamFailed
from node.p2p.framing import receive_frame, send_frame
from node.p2p.gossip import GossipGate, TopicRules
from node.p2p.host import ConnectionEvents, build_host, open_host
from node.p2p.peers import PeerBook
from protocol.errors import RemoteProtocolError
from protocol.messages import ErrorCode

if TYPE_CHECKING:
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)

# A peer that sends bytes no honest peer sends (bad framing, wrong blob) loses this
# much; two such faults within 20 s reach the default ban threshold of -100.
PEER_FAULT_PENALTY = 60.0
# A well-framed direct message that its rules refuse (bad signature, unknown job).
REFUSED_PENALTY = 10.0
# Peer records are one small signed message (protocol.messages: PeerRecord, 512 bytes).
MAX_RECORD_BYTES = 512
BAN_CHECK_INTERVAL_S = 1.0
# Closing every connection takes milliseconds; a wedged close must not hang shutdown.
CLOSE_TIMEOUT_S = 5.0


class P2PService:
    """A libp2p node run inside the daemon's nursery: ``await nursery.start(service.run)``.

    ``run`` may be called once: a host that has stopped cannot listen again.
    """

    def __init__(
        self,
        key_pair: KeyPair,
        config: P2PConfig,
        inbound: trio.MemorySendChannel[Inbound],
        *,
        topics: Sequence[TopicRules] = (),
        inputs: DirectRules | None = None,
        bids: DirectRules | None = None,
        blobs: BlobLookup | None = None,
        local_record: bytes | None = None,
        verify_record: Callable[[bytes, ID], bytes] | None = None,
        bounds: Bounds | None = None,
    ) -> None:
        self.config = config
        self.bounds = bounds or Bounds()
        self.peers = PeerBook(config.score, on_bound=self.bounds.hit)
        # For metrics: failed dials per bootstrap peer, refused streams per (protocol, reason).
        self.dial_failures: Counter[ID] = Counter()
        self.direct_dropped: Counter[tuple[str, str]] = Counter()
        self._changed = trio.Event()
        self._parts = build_host(key_pair)
        self._host = self._parts.host
        self._inbound = inbound
        self._topics = list(topics)
        self._deliveries = {INPUT_PROTOCOL: inputs, BID_PROTOCOL: bids}
        self._blobs = blobs
        self._local_record = local_record
        self._verify_record = verify_record
        self._bootstrap = [_peer_info(address) for address in config.bootstrap]
        self.gossip = GossipGate(
            self.peer_id,
            is_banned=lambda peer: self.peers.is_banned(peer, trio.current_time()),
            allow=lambda peer, key, rate, burst: self.peers.allow(
                peer, key, rate, burst, trio.current_time()
            ),
            penalise=self.penalise,
            wall_clock=time.time,
            judged=self._notify,
            allow_account=lambda account, key, rate, burst: self.peers.allow_account(
                account, key, rate, burst, trio.current_time()
            ),
            on_bound=self.bounds.hit,
        )
        self._nursery: trio.Nursery | None = None
        self._stopped = trio.Event()

    @property
    def peer_id(self) -> ID:
        """This node's peer id."""
        return self._parts.peer_id

    @property
    def host(self) -> IHost:
        """The underlying libp2p host (for tools and tests that open raw streams)."""
        return self._host

    def listen_addrs(self) -> list[Multiaddr]:
        """The addresses this node listens on, each ending in /p2p/<peer id>."""
        return list(self._host.get_addrs())

    def connected_peers(self) -> list[ID]:
        """Peers with an open connection now."""
        return list(self._host.get_connected_peers())

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the node until cancelled; reports readiness once it listens and serves."""
        # libp2p runs shielded from our caller's cancellation: cancelling it mid-flight
        # leaves sockets open (LIBP2P_NOTES item 9). On the way out our own tasks stop
        # first, then open_host closes the host while libp2p still runs.
        life = trio.CancelScope(shield=True)
        async with trio.open_nursery() as nursery:
            await nursery.start(self._live, life)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                if self._nursery is not None:
                    self._nursery.cancel_scope.cancel()  # our tasks first: no redials
                with trio.move_on_after(CLOSE_TIMEOUT_S) as closing:
                    closing.shield = True
                    await self._stopped.wait()
                life.cancel()

    async def _live(
        self, life: trio.CancelScope, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listen = [Multiaddr(a) for a in self.config.listen]
        with life:
            try:
                await self._serve(listen, task_status)
            finally:
                self._stopped.set()

    async def _serve(self, listen: list[Multiaddr], task_status: TaskStatus[None]) -> None:
        async with open_host(self._parts, listen), trio.open_nursery() as nursery:
            # Our reconnect loop is the only dialer: libp2p's auto-connector would
            # redial any peer in the peerstore, banned ones included.
            await self._parts.swarm.auto_connector.stop()
            events_in, events_out = trio.open_memory_channel[tuple[ID, bool]](256)
            self._parts.swarm.register_notifee(ConnectionEvents(events_in))
            self._install_handlers()
            subscriptions = await self._subscribe()
            self._nursery = nursery
            nursery.start_soon(self._track_connections, events_out)
            nursery.start_soon(self._reconnect_loop)
            nursery.start_soon(self._dial_known)
            nursery.start_soon(self._lift_bans)
            for subscription in subscriptions:
                nursery.start_soon(self._pump, subscription)
            task_status.started()
            await trio.sleep_forever()

    async def publish(self, topic: str, data: bytes) -> None:
        """Publish ``data`` on ``topic``; it passes our own validator first."""
        await self._parts.pubsub.publish(topic, data)

    async def send_input(self, peer: ID, data: bytes, *, account: bytes | None = None) -> None:
        """Deliver a private input to ``peer`` only; ``account``, if given, must be its binding."""
        if account is not None and self.peers.account_of(peer) != account:
            raise NotBound(f"{peer} is not bound to 0x{account.hex()}")
        await self._deliver(peer, INPUT_PROTOCOL, data)

    async def send_bid(self, peer: ID, data: bytes) -> None:
        """Deliver a bid straight to the requester's peer (gossip it with ``publish`` too)."""
        await self._deliver(peer, BID_PROTOCOL, data)

    async def fetch_blob(self, peer: ID, sha256: bytes, *, max_bytes: int | None = None) -> bytes:
        """The blob whose sha256 is ``sha256``, fetched from ``peer`` and checked."""
        body = bytearray()

        async def append(piece: bytes) -> None:
            body.extend(piece)

        await self._fetch(peer, sha256, max_bytes, append)
        return bytes(body)

    async def fetch_blob_to_file(
        self, peer: ID, sha256: bytes, path: Path, *, max_bytes: int | None = None
    ) -> int:
        """Fetch a blob into ``path`` (written whole or not at all); returns its length."""
        partial = trio.Path(path.with_name(path.name + ".part"))
        try:
            async with await trio.open_file(partial, "wb") as file:
                length = await self._fetch(peer, sha256, max_bytes, file.write)
        except BaseException:
            with trio.CancelScope(shield=True):
                if await partial.exists():
                    await partial.unlink()
            raise
        await partial.rename(path)
        return length

    def penalise(self, peer: ID, points: float) -> None:
        """Lower ``peer``'s score; at the threshold it is banned and disconnected."""
        if not self.peers.penalise(peer, points, trio.current_time()):
            return
        logger.warning("banning peer %s for %s s", peer, self.config.score.ban_s)
        if self._nursery is not None:
            self._parts.pubsub.add_to_blacklist(peer)
            self._nursery.start_soon(self._host.disconnect, peer)
        self._notify()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds; re-checked on every peer-book or gossip change."""
        while not condition():
            await self._changed.wait()

    async def wait_for_mesh(self, peer: ID, topic: str, timeout_s: float = 10.0) -> None:
        """Return once ``peer`` is in our gossip mesh for ``topic``."""
        await self._parts.pubsub.wait_for_mesh(peer, topic, timeout=timeout_s)

    # -- inside ----------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _subscribe(self) -> list[ISubscriptionAPI]:
        subscriptions = []
        for rules in self._topics:
            if rules.admit is None:
                validator: Any = self.gossip.validator(rules)
            else:
                validator = self.gossip.async_validator(rules)
            self._parts.pubsub.set_topic_validator(rules.topic, validator, rules.admit is not None)
            subscriptions.append(await self._parts.pubsub.subscribe(rules.topic))
        return subscriptions

    async def _pump(self, subscription: ISubscriptionAPI) -> None:
        while True:
            msg = await subscription.get()
            accepted = self.gossip.take(msg)
            if accepted is not None and accepted.origin != self.peer_id:
                await self._inbound.send(accepted)

    async def _track_connections(self, events: trio.MemoryReceiveChannel[tuple[ID, bool]]) -> None:
        async for peer, up in events:
            now_connected = peer in self._host.get_connected_peers()
            self.peers.mark_connected(peer, now_connected)
            if up and self.peers.is_banned(peer, trio.current_time()):
                await self._host.disconnect(peer)
            elif up and self.peers.account_of(peer) is None and self._exchanges_records():
                assert self._nursery is not None
                self._nursery.start_soon(self._exchange_records, peer)
            self._notify()

    async def _reconnect_loop(self) -> None:
        while True:
            async with trio.open_nursery() as dials:
                for info in self._bootstrap:
                    if self._should_dial(info.peer_id):
                        dials.start_soon(self._dial, info)
            await trio.sleep(self.config.reconnect_interval_s)

    async def _dial_known(self) -> None:
        bootstrap = {info.peer_id for info in self._bootstrap}
        infos: dict[ID, list[Multiaddr]] = {}
        for address in self.config.known:
            try:
                info = _peer_info(address)
            except InvalidAddress as exc:
                logger.debug("skipping a known peer: %s", exc)
                continue
            infos.setdefault(info.peer_id, []).extend(info.addrs)
        async with trio.open_nursery() as dials:
            for peer, addrs in infos.items():
                if peer not in bootstrap and self._should_dial(peer):
                    dials.start_soon(self._dial, PeerInfo(peer, addrs))

    def _should_dial(self, peer: ID) -> bool:
        now = trio.current_time()
        return (
            peer != self.peer_id
            and peer not in self._host.get_connected_peers()
            and not self.peers.is_banned(peer, now)
        )

    async def _dial(self, info: PeerInfo) -> None:
        # libp2p refuses to redial a peer for 60 s after a failure (LIBP2P_NOTES item 3).
        self._parts.swarm.unblock_peer(info.peer_id)
        with trio.move_on_after(self.config.stream_timeout_s):
            try:
                await self._host.connect(info)
                return
            except Exception as exc:  # libp2p raises many classes for an unreachable peer
                logger.debug("dialing %s failed: %r", info.peer_id, exc)
        self.dial_failures[info.peer_id] += 1
        self._notify()

    async def _lift_bans(self) -> None:
        while True:
            await trio.sleep(BAN_CHECK_INTERVAL_S)
            for peer in self.peers.bans_ending(trio.current_time()):
                self._parts.pubsub.remove_from_blacklist(peer)
                logger.info("the ban on %s has ended", peer)

    def _exchanges_records(self) -> bool:
        return self._local_record is not None or self._verify_record is not None

    async def _exchange_records(self, peer: ID) -> None:
        timeout = self.config.stream_timeout_s
        ours = self._local_record or b""
        try:
            theirs = await request(
                self._host, peer, RECORD_PROTOCOL, ours, MAX_RECORD_BYTES, timeout
            )
        except P2PError as exc:
            self._blame(peer, exc)
            return
        self._bind(peer, theirs)

    def _bind(self, peer: ID, record: bytes) -> None:
        if not record or self._verify_record is None:
            return
        try:
            account = self._verify_record(record, peer)
        except RemoteProtocolError as exc:
            logger.debug("peer record from %s refused: %r", peer, exc)
            self.penalise(peer, REFUSED_PENALTY)
            return
        self.peers.bind(peer, account)
        self._notify()

    def _blame(self, peer: ID, exc: P2PError) -> None:
        logger.debug("direct exchange with %s failed: %r", peer, exc)
        if isinstance(exc, PeerFault):
            self.penalise(peer, PEER_FAULT_PENALTY)

    async def _deliver(self, peer: ID, protocol: str, data: bytes) -> None:
        try:
            await deliver(self._host, peer, protocol, data, self.config.stream_timeout_s)  # type: ignore[arg-type]
        except PeerFault as exc:
            self._blame(peer, exc)
            raise

    async def _fetch(
        self, peer: ID, sha256: bytes, max_bytes: int | None, sink: Callable[[bytes], Any]
    ) -> int:
        cap = self.config.max_blob_bytes if max_bytes is None else max_bytes
        try:
            return await fetch_blob(
                self._host, peer, sha256, cap, self.config.stream_timeout_s, sink
            )
        except PeerFault as exc:
            self._blame(peer, exc)
            raise

    def _install_handlers(self) -> None:
        for protocol, rules in self._deliveries.items():
            if rules is not None:
                self._host.set_stream_handler(protocol, self._handler(self._delivery(rules)))
        if self._blobs is not None:
            self._host.set_stream_handler(BLOB_PROTOCOL, self._handler(self._serve_blob))
        if self._exchanges_records():
            self._host.set_stream_handler(RECORD_PROTOCOL, self._handler(self._serve_record))

    def _handler(self, serve: Callable[[INetStream, ID], Any]) -> Callable[[INetStream], Any]:
        async def handle(stream: INetStream) -> None:
            peer = stream.muxed_conn.peer_id
            try:
                if self.peers.is_banned(peer, trio.current_time()):
                    raise StreamFailed(f"{peer} is banned")
                await serve(stream, peer)
            except P2PError as exc:
                self.direct_dropped[(str(stream.get_protocol()), type(exc).__name__)] += 1
                self._blame(peer, exc)
            except Exception:  # a bug in a handler must not reach libp2p's nursery
                logger.exception("handling a stream from %s failed", peer)
            finally:
                with trio.CancelScope(shield=True):
                    await close_quietly(stream)

        return handle

    def _delivery(self, rules: DirectRules) -> Callable[[INetStream, ID], Any]:
        timeout = self.config.stream_timeout_s

        async def serve(stream: INetStream, peer: ID) -> None:
            protocol = str(stream.get_protocol())
            body = await receive_frame(stream, rules.max_bytes, timeout)
            now = trio.current_time()
            if not self.peers.allow(peer, protocol, rules.rate_per_s, rules.burst, now):
                self.direct_dropped[(protocol, "RateLimited")] += 1
                await send_frame(stream, refusal(ErrorCode.BUSY, "over the rate limit"), timeout)
                return
            try:
                message = rules.decode(body)
                rules.check(message, peer, time.time())
            except RemoteProtocolError as exc:
                self.direct_dropped[(protocol, type(exc).__name__)] += 1
                self.penalise(peer, REFUSED_PENALTY)
                reason = f"{type(exc).__name__}: {exc}"
                await send_frame(stream, refusal(ErrorCode.MALFORMED, reason), timeout)
                return
            account = self.peers.account_of(peer)
            await self._inbound.send(DirectMessage(protocol, message, body, peer, account))
            await send_frame(stream, ACCEPTED, timeout)

        return serve

    async def _serve_blob(self, stream: INetStream, peer: ID) -> None:
        assert self._blobs is not None
        await serve_blob(stream, self._blobs, self.config.stream_timeout_s)

    async def _serve_record(self, stream: INetStream, peer: ID) -> None:
        timeout = self.config.stream_timeout_s
        self._bind(peer, await receive_frame(stream, MAX_RECORD_BYTES, timeout))
        await send_frame(stream, self._local_record or b"", timeout)


def _peer_info(address: str) -> PeerInfo:
    try:
        return info_from_p2p_addr(Multiaddr(address))
    except Exception as exc:  # multiaddr and libp2p raise several unrelated classes
        raise InvalidAddress(
            f"bootstrap address {address!r} is not a multiaddr ending in /p2p/<peer id>: {exc}"
        ) from exc
