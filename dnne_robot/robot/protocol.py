"""The UDP messages between a robot and its controller: OBS up, ACT down, HELLO and STOP.

One datagram carries one message: a 32-byte little-endian header, then ``count`` float32 or
float64 values. ``docs/deploy.md`` has the same table for firmware authors.

====== ==== ====== ========= ==========================================================
offset size type   field     meaning
====== ==== ====== ========= ==========================================================
0      2    bytes  magic     ``b"DR"`` (0x44 0x52)
2      1    u8     version   1
3      1    u8     type      1 HELLO, 2 OBS, 3 ACT, 4 STOP
4      1    u8     dtype     1 float32, 2 float64 (the payload's element type)
5      1    u8     flags     bit 0 EPISODE_START (OBS), bit 1 SAFE (ACT); others 0
6      2    u16    count     number of payload values
8      4    u32    session   random, fixed for the life of the sender
12     4    u32    seq       the sender's message counter: 1, 2, 3, ... over all types
16     4    u32    ref       ACT: ``seq`` of the OBS the action was computed from; else 0
20     4    u32    reserved  0
24     8    f64    stamp     the sender's monotonic clock when sending, in seconds
32     4n   f32[n] payload   (or 8n bytes of f64)
====== ==== ====== ========= ==========================================================

HELLO (controller -> robot, no payload): "send your observations to me". OBS (robot ->
controller): the observation vector. ACT (controller -> robot): the action vector; a discrete
action is one value holding the action index. STOP (either way, no payload): the sender is
stopping; a robot should go to its own safe state.

Undefined ``flags`` bits, a flag on a message type it does not belong to, and a ``reserved``
field other than 0 make a datagram malformed, as does a payload on HELLO or STOP.

A receiver talks to one peer at a time (:class:`PeerGate`): the address and ``session`` of
the first message that may open a session. Messages from any other address or session are
``foreign`` until that session ends (the peer's STOP, or silence for the gate's timeout);
an ended session cannot bind again.
Among the peer's messages a :class:`StreamFilter` drops

* out-of-order and duplicate packets: ``seq`` not newer than the last accepted one
  (compared modulo 2**32, so the counter may wrap);
* stale packets: older than ``max_age_s``. The two clocks are unrelated, so the age is
  estimated: the smallest ``receive_time - stamp`` seen so far is taken as the clock offset
  plus the fastest delivery, and a packet's age is how much later than that it arrived. The
  estimate may rise by ``drift`` s per s to follow clocks that run at different rates. It
  falls only when two messages in a row arrive earlier than it (the later of the two counts),
  and then by at most ``max_age_s / 2``: one far-future ``stamp`` does not move it at all,
  and a run of them cannot make the messages after them stale at once.

A STOP from the peer is always honoured, however old or out of order. Stdlib + numpy only.
"""

from __future__ import annotations

import math
import secrets
import select
import socket
import struct
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

MAGIC = b"DR"
VERSION = 1
HEADER = struct.Struct("<2sBBBBHIIIId")
assert HEADER.size == 32
#: The largest UDP payload over IPv4.
MAX_DATAGRAM = 65507

EPISODE_START = 0x01
SAFE = 0x02

SEQ_MOD = 1 << 32


class MsgType(IntEnum):
    HELLO = 1
    OBS = 2
    ACT = 3
    STOP = 4


#: The flag bits each message type may set; every other bit must be 0.
ALLOWED_FLAGS = {MsgType.HELLO: 0, MsgType.OBS: EPISODE_START, MsgType.ACT: SAFE,
                 MsgType.STOP: 0}

DTYPES: dict[int, np.dtype] = {1: np.dtype("<f4"), 2: np.dtype("<f8")}
_DTYPE_CODES = {np.dtype("float32"): 1, np.dtype("float64"): 2}


class ProtocolError(ValueError):
    """A datagram that is not a valid message of this protocol version.

    ``field`` names the header field that is wrong (``"length"`` for the datagram's size).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Message:
    type: MsgType
    session: int
    seq: int
    stamp: float
    payload: np.ndarray
    ref: int = 0
    flags: int = 0


def encode(
    msg_type: MsgType,
    payload: Sequence[float] | np.ndarray | None = None,
    *,
    session: int,
    seq: int,
    stamp: float,
    ref: int = 0,
    flags: int = 0,
    dtype: type | str | np.dtype = np.float32,
) -> bytes:
    """One datagram. ``payload`` is flattened and cast to ``dtype`` (float32 or float64)."""
    dt = np.dtype(dtype)
    if dt not in _DTYPE_CODES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    values = np.zeros(0, dt) if payload is None else np.asarray(payload, dtype=dt).reshape(-1)
    if HEADER.size + values.nbytes > MAX_DATAGRAM:
        raise ValueError(f"{values.size} {dt} values do not fit in one UDP datagram")
    header = HEADER.pack(MAGIC, VERSION, int(MsgType(msg_type)), _DTYPE_CODES[dt], flags,
                         values.size, session, seq % SEQ_MOD, ref % SEQ_MOD, 0, stamp)
    return header + values.astype(dt.newbyteorder("<"), copy=False).tobytes()


def decode(data: bytes) -> Message:
    """Parse one datagram; raises :class:`ProtocolError` for anything malformed."""
    if len(data) < HEADER.size:
        raise ProtocolError(
            "length", f"{len(data)} bytes is shorter than the {HEADER.size}-byte header")
    (magic, version, kind, dtype, flags, count, session, seq, ref, reserved,
     stamp) = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError("magic", f"bad magic {magic!r} (expected {MAGIC!r})")
    if version != VERSION:
        raise ProtocolError("version",
                            f"protocol version {version} (this receiver speaks {VERSION})")
    try:
        msg_type = MsgType(kind)
    except ValueError:
        raise ProtocolError("type", f"unknown message type {kind}") from None
    if dtype not in DTYPES:
        raise ProtocolError("dtype", f"unknown payload dtype code {dtype}")
    if flags & ~ALLOWED_FLAGS[msg_type]:
        raise ProtocolError("flags", f"flags 0x{flags:02x} on {msg_type.name} (allowed: "
                                     f"0x{ALLOWED_FLAGS[msg_type]:02x}; other bits are 0)")
    if reserved:
        raise ProtocolError("reserved", f"reserved field is {reserved}, not 0")
    dt = DTYPES[dtype]
    if len(data) != HEADER.size + count * dt.itemsize:
        raise ProtocolError("length",
                            f"{len(data)} bytes, but the header announces {count} x {dt}")
    if count and msg_type in (MsgType.HELLO, MsgType.STOP):
        raise ProtocolError("count", f"{msg_type.name} carries no payload, got {count} values")
    if not math.isfinite(stamp):
        raise ProtocolError("stamp", "non-finite timestamp")
    payload = np.frombuffer(data, dtype=dt, count=count, offset=HEADER.size)
    return Message(msg_type, session, seq, stamp, payload, ref, flags)


def seq_newer(seq: int, last: int) -> bool:
    """``seq`` comes after ``last`` in modulo-2**32 order (RFC 1982 serial arithmetic)."""
    return 0 < (seq - last) % SEQ_MOD < SEQ_MOD // 2


class StreamFilter:
    """Accepts one sender's messages that are newer than the last accepted and not stale.

    Args:
        max_age_s: Drop messages older than this (estimated, see the module docstring);
            None keeps any age.
        drift: How fast the clock-offset estimate may rise, in s per s (1e-4 = 100 ppm,
            more than two crystal oscillators usually differ by).
        max_step_s: How far one message may lower the clock-offset estimate; default
            ``max_age_s / 2``. The estimate falls only to the larger offset of the last two
            messages, so one message with a far-future ``stamp`` does not move it at all. A
            sender whose first message was slow is followed after two more.
    """

    def __init__(self, max_age_s: float | None = None, drift: float = 1e-4,
                 max_step_s: float | None = None) -> None:
        if max_age_s is not None and not (math.isfinite(max_age_s) and max_age_s > 0):
            raise ValueError(f"max_age_s must be a finite number > 0, got {max_age_s!r}")
        self.max_age_s = max_age_s
        self.drift = drift
        if max_step_s is None:
            max_step_s = math.inf if max_age_s is None else max_age_s / 2
        self.max_step_s = max_step_s
        self.session: int | None = None
        self.last_seq: int | None = None
        self.counts: Counter[str] = Counter()
        self._offset: float | None = None
        self._offset_at = 0.0
        self._last: float | None = None  # the previous message's offset

    def reset(self) -> None:
        self.session = self.last_seq = self._offset = self._last = None

    def check(self, msg: Message, received: float) -> str | None:
        """None if ``msg`` is accepted, else why it was dropped: ``out_of_order`` or ``stale``."""
        if msg.session != self.session:
            if self.session is not None:
                self.counts["new_session"] += 1
            self.reset()
            self.session = msg.session
        elif self.last_seq is not None and not seq_newer(msg.seq, self.last_seq):
            self.counts["out_of_order"] += 1
            return "out_of_order"
        age = self.age(msg.stamp, received)
        if self.max_age_s is not None and age > self.max_age_s:
            self.counts["stale"] += 1
            return "stale"
        self.last_seq = msg.seq
        self.counts["accepted"] += 1
        return None

    def age(self, stamp: float, received: float) -> float:
        """Update the offset estimate with one message and return its estimated age."""
        offset = received - stamp
        if self._offset is None:
            base = offset
        else:
            risen = self._offset + self.drift * (received - self._offset_at)
            # Lower only as far as two messages in a row agree, and by at most max_step_s.
            lower = offset if self._last is None else max(offset, self._last)
            base = max(min(lower, risen), self._offset - self.max_step_s)
        self._offset, self._offset_at, self._last = base, received, offset
        return offset - base


class PeerGate:
    """One peer at a time: the first allowed sender of a message that may open a session
    is bound, by address and ``session``, until its STOP or until it has been silent for
    ``timeout_s``. Everything else is ``foreign``: counted per sender and reported. A session
    that ended does not come back: a late or replayed message of it cannot bind again (a
    sender that restarts picks a new ``session``).

    Args:
        max_age_s: The :class:`StreamFilter`'s staleness limit for the bound peer.
        allow: Addresses that may bind, as ``(host, port)`` (``port`` None: any port); empty
            allows any address.
        timeout_s: A bound peer silent for this long is released (None: never).
        report: Receives a line about a rejected sender (callers throttle it).
        verb: How that line says it: ``rejected`` or ``ignored``.
        busy: Why a sender is rejected while a peer is bound; ``{peer}`` names the peer.
    """

    #: How many distinct rejected senders are counted by name; the rest count as "others".
    MAX_NAMED = 16
    #: How many ended sessions are remembered, so that they cannot bind again.
    MAX_ENDED = 64

    def __init__(self, max_age_s: float | None = None, *,
                 allow: Sequence[tuple[str, int | None]] = (), timeout_s: float | None = None,
                 report: Callable[[str], object] | None = None, verb: str = "rejected",
                 busy: str = "bound to {peer}") -> None:
        self.filter = StreamFilter(max_age_s)
        self.allow = tuple(allow)
        self.timeout_s = timeout_s
        self.report = report
        self.verb = verb
        self.busy = busy
        self.addr: tuple[str, int] | None = None
        self.session: int | None = None
        self.last_heard = 0.0
        self.rejected: Counter[str] = Counter()
        self.ended: deque[tuple[tuple[str, int], int]] = deque(maxlen=self.MAX_ENDED)

    @property
    def bound(self) -> bool:
        return self.session is not None

    @property
    def peer(self) -> str:
        """The bound peer as ``udp://HOST:PORT session XXXXXXXX`` (empty when unbound)."""
        return "" if self.addr is None else f"{udp_url(self.addr)} session {self.session:08x}"

    def allowed(self, addr: tuple[str, int]) -> bool:
        return not self.allow or any(addr[0] == host and port in (None, addr[1])
                                     for host, port in self.allow)

    def admit(self, pkt: Packet, opens: bool) -> str:
        """``"open"`` (``pkt`` bound its sender), ``"ok"``, or why it is dropped:
        ``foreign``, ``out_of_order`` or ``stale``. A STOP from the peer is always ``"ok"``."""
        msg = pkt.msg
        if not self.bound:
            if not (opens and self.allowed(pkt.addr)) or (pkt.addr, msg.session) in self.ended:
                return self._reject(pkt)
            self.filter.reset()
            self.addr, self.session = pkt.addr, msg.session
            drop = self.filter.check(msg, pkt.received)
            self.last_heard = pkt.received
            return "open" if drop is None else drop
        if pkt.addr != self.addr or msg.session != self.session:
            return self._reject(pkt)
        if msg.type == MsgType.STOP:
            return "ok"
        drop = self.filter.check(msg, pkt.received)
        if drop is not None:
            return drop
        self.last_heard = pkt.received
        return "ok"

    def _reject(self, pkt: Packet) -> str:
        name = udp_url(pkt.addr)
        if name not in self.rejected and len(self.rejected) >= self.MAX_NAMED:
            name = "others"
        self.rejected[name] += 1
        if self.report is not None:
            why = (self.busy.format(peer=self.peer) if self.bound
                   else "not on the allow list" if not self.allowed(pkt.addr)
                   else "its session ended" if (pkt.addr, pkt.msg.session) in self.ended
                   else f"a {pkt.msg.type.name} cannot open a session")
            self.report(f"{self.verb} {pkt.msg.type.name} from {udp_url(pkt.addr)} "
                        f"(session {pkt.msg.session:08x}): {why}")
        return "foreign"

    def expired(self, now: float) -> bool:
        """Whether the bound peer has been silent for longer than ``timeout_s``."""
        return (self.bound and self.timeout_s is not None
                and now - self.last_heard > self.timeout_s)

    def release(self) -> None:
        """End the session: the next allowed sender of another session may bind."""
        if self.addr is not None and self.session is not None:
            self.ended.append((self.addr, self.session))
        self.addr = self.session = None
        self.filter.reset()


@dataclass(frozen=True)
class Packet:
    msg: Message
    addr: tuple[str, int]
    received: float


class Endpoint:
    """A UDP socket that speaks this protocol: numbered sends and non-blocking drains.

    Args:
        host, port: Where to bind (port 0: any free port). IPv4.
        clock: The clock for ``stamp`` and receive times (monotonic seconds).
        session: This sender's session id (random by default).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.perf_counter,
        session: int | None = None,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.clock = clock
        self.session = secrets.randbits(32) if session is None else session
        self.seq = 0
        self.counts: Counter[str] = Counter()
        self.received = 0

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def send(
        self,
        msg_type: MsgType,
        addr: tuple[str, int],
        payload: Sequence[float] | np.ndarray | None = None,
        *,
        ref: int = 0,
        flags: int = 0,
        dtype: type | str | np.dtype = np.float32,
    ) -> int:
        """Send one message and return its ``seq``. Send errors are counted, not raised."""
        self.seq = self.seq % (SEQ_MOD - 1) + 1
        data = encode(msg_type, payload, session=self.session, seq=self.seq, stamp=self.clock(),
                      ref=ref, flags=flags, dtype=dtype)
        try:
            self.sock.sendto(data, addr)
        except OSError:
            self.counts["send_errors"] += 1
        return self.seq

    def receive(self, limit: int = 4096) -> list[Packet]:
        """Every datagram waiting in the socket (at most ``limit``), decoded, oldest first.

        Malformed datagrams are counted in ``counts["malformed"]`` and left out; those with
        undefined flags or a non-zero ``reserved`` field also in ``bad_flags`` and
        ``bad_reserved``. :attr:`received` counts every datagram read.
        """
        packets: list[Packet] = []
        for _ in range(limit):
            try:
                data, addr = self.sock.recvfrom(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. ICMP "port unreachable" reported by some platforms
                self.counts["receive_errors"] += 1
                continue
            received = self.clock()
            self.received += 1
            try:
                packets.append(Packet(decode(data), addr, received))
            except ProtocolError as exc:
                self.counts["malformed"] += 1
                if exc.field in ("flags", "reserved"):
                    self.counts[f"bad_{exc.field}"] += 1
        return packets

    def wait_readable(self, timeout: float) -> bool:
        """Block until a datagram is waiting or ``timeout`` s have passed."""
        readable, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        return bool(readable)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_udp_url(url: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``udp://HOST:PORT`` (or ``HOST:PORT``, or ``PORT``) -> ``(HOST, PORT)``."""
    text = url.removeprefix("udp://")
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"{url!r} is not udp://HOST:PORT") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"port {number} in {url!r} is out of range")
    return host or default_host, number


def udp_url(addr: tuple[str, int]) -> str:
    return f"udp://{addr[0]}:{addr[1]}"


def parse_allow(entry: str) -> tuple[str, int | None]:
    """``HOST``, ``HOST:PORT`` or ``udp://HOST:PORT`` -> ``(IPv4 address, port or None)``."""
    text = entry.removeprefix("udp://")
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, ""
    number = None
    if port:
        try:
            number = int(port)
        except ValueError:
            raise ValueError(f"{entry!r} is not HOST or HOST:PORT") from None
        if not 0 < number <= 65535:
            raise ValueError(f"port {number} in {entry!r} is out of range")
    try:
        return socket.gethostbyname(host), number
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"cannot resolve {host!r} in {entry!r}: {exc}") from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` resolves to a loopback address (127.0.0.0/8)."""
    try:
        return socket.gethostbyname(host).startswith("127.")
    except OSError:
        return False
