"""runtime/protocol.py: the byte layout, malformed datagrams, ordering and staleness."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnne_robot.robot.protocol import (
    ALLOWED_FLAGS,
    EPISODE_START,
    HEADER,
    SAFE,
    Endpoint,
    Message,
    MsgType,
    ProtocolError,
    StreamFilter,
    decode,
    encode,
    parse_udp_url,
    seq_newer,
)


def test_header_layout_matches_the_documented_table() -> None:
    data = encode(MsgType.ACT, [1.5, -2.0], session=0xA1B2C3D4, seq=7, stamp=12.25, ref=6,
                  flags=SAFE)
    assert HEADER.size == 32 and len(data) == 32 + 8
    assert data[0:2] == b"DR" and data[2] == 1 and data[3] == 3 and data[4] == 1
    assert data[5] == SAFE
    assert struct.unpack_from("<H", data, 6)[0] == 2
    assert struct.unpack_from("<IIII", data, 8) == (0xA1B2C3D4, 7, 6, 0)
    assert struct.unpack_from("<d", data, 24)[0] == 12.25
    assert struct.unpack_from("<2f", data, 32) == (1.5, -2.0)


@given(
    kind=st.sampled_from(list(MsgType)),
    values=st.lists(st.floats(width=32, allow_nan=False), max_size=64),
    dtype=st.sampled_from(["float32", "float64"]),
    seq=st.integers(0, 2**32 - 1),
    session=st.integers(0, 2**32 - 1),
    stamp=st.floats(-1e9, 1e9),
    flags=st.sampled_from([0, EPISODE_START, SAFE]),
)
def test_round_trip(kind: MsgType, values: list[float], dtype: str, seq: int, session: int,
                    stamp: float, flags: int) -> None:
    flags &= ALLOWED_FLAGS[kind]
    if kind in (MsgType.HELLO, MsgType.STOP):
        values = []  # no payload
    msg = decode(encode(kind, values, session=session, seq=seq, stamp=stamp, flags=flags,
                        dtype=dtype))
    assert (msg.type, msg.seq, msg.session, msg.stamp, msg.flags) == (kind, seq, session, stamp,
                                                                      flags)
    assert msg.payload.dtype == np.dtype(dtype) and msg.payload.tolist() == values


def _valid() -> bytes:
    return encode(MsgType.OBS, [1.0, 2.0], session=1, seq=1, stamp=0.0)


@pytest.mark.parametrize("data, match", [
    (b"", "shorter"),
    (_valid()[:31], "shorter"),
    (b"XX" + _valid()[2:], "magic"),
    (_valid()[:2] + b"\x02" + _valid()[3:], "version"),
    (_valid()[:3] + b"\x09" + _valid()[4:], "message type"),
    (_valid()[:4] + b"\x07" + _valid()[5:], "dtype"),
    (_valid()[:-1], "announces"),
    (_valid() + b"\x00" * 4, "announces"),
    (_valid()[:24] + struct.pack("<d", float("nan")) + _valid()[32:], "timestamp"),
    (encode(MsgType.STOP, [1.0], session=1, seq=1, stamp=0.0), "payload"),
])
def test_malformed_datagrams_are_rejected(data: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        decode(data)


def test_encode_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="datagram"):
        encode(MsgType.OBS, np.zeros(20_000), session=1, seq=1, stamp=0.0)
    with pytest.raises(ValueError, match="float32 or float64"):
        encode(MsgType.OBS, [1], session=1, seq=1, stamp=0.0, dtype="int32")


def msg(seq: int, stamp: float, session: int = 1) -> Message:
    return Message(MsgType.OBS, session, seq, stamp, np.zeros(1, np.float32))


def test_filter_drops_duplicates_and_out_of_order() -> None:
    f = StreamFilter()
    assert [f.check(msg(s, 0.0), 0.0) for s in (1, 2, 2, 5, 3, 6)] == [
        None, None, "out_of_order", None, "out_of_order", None]
    assert f.counts["out_of_order"] == 2 and f.counts["accepted"] == 4


def test_sequence_numbers_may_wrap() -> None:
    assert seq_newer(0, 2**32 - 1) and seq_newer(5, 2**32 - 3)
    assert not seq_newer(2**32 - 1, 0) and not seq_newer(7, 7)
    f = StreamFilter()
    assert f.check(msg(2**32 - 1, 0.0), 0.0) is None
    assert f.check(msg(0, 0.0), 0.0) is None


def test_stale_packets_are_dropped_whatever_the_clock_offset() -> None:
    # The sender's clock reads 5000 s when ours reads 10 s: only delays relative to the
    # fastest delivery matter.
    f = StreamFilter(max_age_s=0.010)
    for k in range(10):
        assert f.check(msg(k + 1, 5000.0 + 0.02 * k), 10.0 + 0.02 * k + 0.0005) is None
    # Packet 11 arrives 30 ms later than the others would: stale.
    assert f.check(msg(11, 5000.2), 10.2 + 0.0305) == "stale"
    assert f.check(msg(12, 5000.22), 10.22 + 0.001) is None


def test_offset_estimate_follows_clock_drift() -> None:
    # The sender's clock runs 50 ppm slow: after 1000 s, 50 ms behind. Nothing goes stale.
    f = StreamFilter(max_age_s=0.005)
    for k in range(2000):
        t = 0.5 * k
        assert f.check(msg(k + 1, t * (1 - 50e-6)), t) is None, k


def test_a_new_session_starts_afresh() -> None:
    f = StreamFilter(max_age_s=0.01)
    assert f.check(msg(100, 50.0), 1.0) is None
    # The sender restarted: new session, seq from 1, a new clock.
    assert f.check(msg(1, 0.0, session=2), 1.1) is None
    assert f.check(msg(2, 0.02, session=2), 1.12) is None
    assert f.counts["new_session"] == 1


def test_endpoints_talk_over_loopback() -> None:
    with Endpoint() as a, Endpoint() as b:
        assert a.session != b.session or a.session == b.session == 0
        seq = a.send(MsgType.OBS, b.address, np.arange(3, dtype=np.float32), flags=EPISODE_START)
        a.send(MsgType.STOP, b.address)
        b.sock.sendto(b"junk", a.address)
        b.wait_readable(2.0)
        got = []
        for _ in range(100):
            got += b.receive()
            if len(got) == 2:
                break
            b.wait_readable(0.05)
        assert [p.msg.type for p in got] == [MsgType.OBS, MsgType.STOP]
        assert got[0].msg.seq == seq and got[1].msg.seq == seq + 1
        assert got[0].msg.payload.tolist() == [0.0, 1.0, 2.0] and got[0].addr == a.address
        a.wait_readable(2.0)
        assert a.receive() == [] and a.counts["malformed"] == 1


@pytest.mark.parametrize("url, expected", [
    ("udp://10.0.0.2:9870", ("10.0.0.2", 9870)),
    ("localhost:5", ("localhost", 5)),
    ("9870", ("127.0.0.1", 9870)),
])
def test_parse_udp_url(url: str, expected: tuple[str, int]) -> None:
    assert parse_udp_url(url) == expected


@pytest.mark.parametrize("url", ["udp://host:port", "udp://h:70000"])
def test_parse_udp_url_errors(url: str) -> None:
    with pytest.raises(ValueError):
        parse_udp_url(url)
