"""The robot link under attack (issue 18, items 10-12): one controller per session, a clock-offset
estimate that one datagram cannot poison, a STOP that is always honoured, flags and reserved
fields that must be 0. Real sockets on 127.0.0.1; the server and the deploy side in-process.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnne_robot.robot.control import StopSignals
from dnne_robot.robot.protocol import (
    EPISODE_START,
    SAFE,
    Endpoint,
    Message,
    MsgType,
    Packet,
    ProtocolError,
    StreamFilter,
    decode,
    encode,
)
from dnne_robot.robot.server import RobotServer
from dnne_robot.robot.transports import UdpRobot

FOREIGN = 7777.0  # the observation value a foreign sender uses, to spot it if it gets through


def packets(ep: Endpoint, timeout: float = 0.05) -> list[Packet]:
    """Everything that reached ``ep`` within ``timeout`` s (loopback delivers at once)."""
    got: list[Packet] = []
    end = time.monotonic() + timeout
    while ep.wait_readable(end - time.monotonic()):
        got += ep.receive()
    return got


def of_type(pkts: list[Packet], kind: MsgType) -> list[Packet]:
    return [p for p in pkts if p.msg.type == kind]


def forge(ep: Endpoint, to: tuple[str, int], kind: MsgType, payload: list[float] | None = None,
          *, stamp: float, session: int | None = None) -> None:
    """Send from ``ep``'s address with its next seq but a chosen stamp (or session)."""
    ep.seq += 1
    ep.sock.sendto(encode(kind, payload, session=ep.session if session is None else session,
                          seq=ep.seq, stamp=stamp), to)


@pytest.fixture
def server() -> Iterator[RobotServer]:
    s = RobotServer("Cartpole", "gymnasium", max_age_s=0.1)
    yield s
    s.close()


def bind(server: RobotServer, ep: Endpoint) -> Packet:
    """``ep`` says HELLO and gets the first observation."""
    ep.send(MsgType.HELLO, server.address)
    server.poll()
    server.step()
    obs = of_type(packets(ep), MsgType.OBS)
    assert obs, "the robot sent no observation after HELLO"
    return obs[-1]


def test_a_second_controller_cannot_take_the_robot_over(server: RobotServer,
                                                        capsys: pytest.CaptureFixture) -> None:
    """Item 10: HELLO and ACT from another process are rejected while a session is bound."""
    with Endpoint() as a, Endpoint() as b:
        obs = bind(server, a)
        for _ in range(20):
            a.send(MsgType.ACT, server.address, [1.0], ref=obs.msg.seq)
            b.send(MsgType.HELLO, server.address)
            b.send(MsgType.ACT, server.address, [0.0])
            server.poll()
            assert server.action == 1  # a's action, never b's
            server.step()
            got = of_type(packets(a), MsgType.OBS)
            assert got, "the bound controller stopped getting observations"
            obs = got[-1]
        assert of_type(packets(b), MsgType.OBS) == []
        summary = server.summary()
        assert summary["actions"] == 20 and summary["dropped"]["foreign"] == 40
        b_url = f"udp://127.0.0.1:{b.address[1]}"
        assert summary["rejected_peers"] == {b_url: 40}
        assert list(summary["actions_by_controller"]) == [
            f"udp://127.0.0.1:{a.address[1]} session {a.session:08x}"]
        err = capsys.readouterr().err
        assert f"rejected HELLO from {b_url}" in err

        # a's STOP ends its session: now b may bind.
        a.send(MsgType.STOP, server.address)
        server.poll()
        assert not server.running
        bind(server, b)
        b.send(MsgType.ACT, server.address, [0.0])
        server.poll()
        assert server.running and server.action == 0


def test_an_ended_session_cannot_bind_again(server: RobotServer) -> None:
    """Item 10: after its STOP, a late or replayed ACT of the same session (byte for byte,
    from the controller's own address) does not take the robot back; a restarted controller,
    with a new session, may."""
    with Endpoint() as a:
        obs = bind(server, a)
        act = encode(MsgType.ACT, [1.0], session=a.session, seq=a.seq + 1, stamp=a.clock(),
                     ref=obs.msg.seq)
        a.seq += 1
        a.sock.sendto(act, server.address)
        server.poll()
        assert server.running and server.action == 1
        a.send(MsgType.STOP, server.address)
        server.poll()
        assert not server.running
        a.sock.sendto(act, server.address)  # the replay
        a.send(MsgType.HELLO, server.address)  # the same session, after its STOP
        server.poll()
        server.step()
        assert not server.running and not server.gate.bound
        assert of_type(packets(a), MsgType.OBS) == []
        assert server.summary()["dropped"]["foreign"] == 2
        a.session ^= 0x1  # the controller restarted
        bind(server, a)


def test_a_silent_controller_is_released_after_the_timeout() -> None:
    server = RobotServer("Cartpole", "gymnasium", controller_timeout_s=0.2)
    try:
        with Endpoint() as a, Endpoint() as b:
            obs = bind(server, a)
            a.send(MsgType.ACT, server.address, [1.0], ref=obs.msg.seq)
            server.poll()
            server.step()
            b.send(MsgType.HELLO, server.address)
            server.poll()
            assert server.summary()["dropped"]["foreign"] == 1
            time.sleep(0.3)  # a says nothing for longer than the timeout
            server.step()
            assert not server.running  # the robot holds still without its controller
            bind(server, b)
            # a is the stranger now.
            a.send(MsgType.ACT, server.address, [1.0])
            server.poll()
            assert server.summary()["dropped"]["foreign"] == 2 and not server.running
    finally:
        server.close()


def test_an_allow_list_admits_only_the_listed_controllers() -> None:
    with Endpoint() as a, Endpoint() as b:
        server = RobotServer("Cartpole", "gymnasium", allow=[("127.0.0.1", b.address[1])])
        try:
            a.send(MsgType.HELLO, server.address)
            server.poll()
            server.step()
            assert packets(a) == [] and server.summary()["dropped"]["foreign"] == 1
            bind(server, b)
        finally:
            server.close()


def test_deploy_hears_only_the_robot_session_it_bound(capsys: pytest.CaptureFixture) -> None:
    """Item 10, the controller's end: another address, or another session from the robot's
    address, is rejected, counted and logged."""
    with Endpoint() as robot_ep, Endpoint() as stranger:
        stranger_url = f"udp://127.0.0.1:{stranger.address[1]}"
        robot_url = f"udp://127.0.0.1:{robot_ep.address[1]}"
        robot = UdpRobot(f"udp://127.0.0.1:{robot_ep.address[1]}", bind=None, max_age_s=1.0)
        try:
            robot_ep.send(MsgType.OBS, robot.endpoint.address, [0.0, 0.0, 0.0, 0.0])
            first = robot.connect(1.0, StopSignals())
            assert first is not None and first.values.tolist() == [0.0] * 4
            robot_ep.send(MsgType.OBS, robot.endpoint.address, [1.0, 1.0, 1.0, 1.0])
            stranger.send(MsgType.OBS, robot.endpoint.address, [FOREIGN] * 4)
            forge(robot_ep, robot.endpoint.address, MsgType.OBS, [FOREIGN] * 4,
                  stamp=robot_ep.clock(), session=robot_ep.session ^ 0x5A5A)
            robot.endpoint.wait_readable(0.05)
            obs = robot.observe()
            assert obs is not None and obs.values.tolist() == [1.0] * 4
            summary = robot.summary()
            assert summary["dropped"]["foreign"] == 2
            assert stranger_url in summary["rejected_peers"]
        finally:
            robot.close()
    err = capsys.readouterr().err
    assert f"ignored OBS from {stranger_url}" in err
    assert f"not the robot ({robot_url} session" in err


def msg(seq: int, stamp: float, kind: MsgType = MsgType.OBS) -> Message:
    return Message(kind, 1, seq, stamp, np.zeros(1, np.float32))


@settings(max_examples=200, deadline=None)
@given(stamp=st.floats(allow_nan=False, allow_infinity=False))
def test_one_stamp_cannot_poison_the_staleness_filter(stamp: float) -> None:
    """Item 11: whatever one message's stamp, the normal messages after it are not stale."""
    f = StreamFilter(max_age_s=0.010)
    for k in range(10):
        assert f.check(msg(k + 1, 500.0 + 0.02 * k), 10.0 + 0.02 * k) is None
    f.check(msg(11, stamp), 10.2)
    for k in range(12, 40):
        assert f.check(msg(k, 500.0 + 0.02 * (k - 1)), 10.0 + 0.02 * (k - 1) + 0.001) is None


def test_isolated_poisoned_stamps_never_add_up() -> None:
    """Every other message far in the future (an in-path forger): the rest stay fresh."""
    f = StreamFilter(max_age_s=0.010)
    for k in range(1, 400):
        t = 0.02 * k
        forged = k % 2 == 0
        verdict = f.check(msg(k, 500.0 + t + (1e6 if forged else 0.0)), 10.0 + t + 0.001)
        assert forged or verdict is None, k


def test_a_run_of_poisoned_stamps_moves_the_estimate_a_bounded_step() -> None:
    f = StreamFilter(max_age_s=0.010)
    for k in range(1, 10):
        assert f.check(msg(k, 500.0 + 0.02 * k), 10.0 + 0.02 * k) is None
    f.check(msg(10, 1e9), 10.2)
    f.check(msg(11, 1e9), 10.22)  # two in a row: the estimate falls by max_age / 2 at most
    assert f.check(msg(12, 500.24), 10.24) is None


@pytest.mark.parametrize("poison", ["future", "past"])
def test_the_robot_honours_stop_after_a_poisoned_stamp(server: RobotServer, poison: str) -> None:
    """Item 11: a far-future stamp does not make the STOP that follows stale, and a STOP that
    is itself stale still stops the robot."""
    with Endpoint() as a:
        obs = bind(server, a)
        a.send(MsgType.ACT, server.address, [1.0], ref=obs.msg.seq)
        server.poll()
        assert server.running
        if poison == "future":
            forge(a, server.address, MsgType.ACT, [1.0], stamp=a.clock() + 1e6)
            server.poll()
            a.send(MsgType.STOP, server.address)
        else:
            forge(a, server.address, MsgType.STOP, stamp=a.clock() - 1e6)
        server.poll()
        assert not server.running


def test_deploy_honours_a_stale_stop_from_the_robot() -> None:
    with Endpoint() as robot_ep:
        robot = UdpRobot(f"udp://127.0.0.1:{robot_ep.address[1]}", bind=None, max_age_s=0.05)
        try:
            robot_ep.send(MsgType.OBS, robot.endpoint.address, [0.0] * 4)
            assert robot.connect(1.0, StopSignals()) is not None
            to = robot.endpoint.address
            forge(robot_ep, to, MsgType.OBS, [0.0] * 4, stamp=robot_ep.clock() + 1e6)
            forge(robot_ep, to, MsgType.STOP, stamp=robot_ep.clock() - 1e3)
            robot.endpoint.wait_readable(0.05)
            robot.observe()
            assert robot.stop_reason == "robot_stop"
        finally:
            robot.close()


def _with(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _obs() -> bytes:
    return encode(MsgType.OBS, [1.0], session=1, seq=1, stamp=0.0, flags=EPISODE_START)


def _act() -> bytes:
    return encode(MsgType.ACT, [1.0], session=1, seq=1, stamp=0.0, flags=SAFE)


@pytest.mark.parametrize("data, field", [
    (_with(_obs(), 5, "<B", 0x80), "flags"),                 # an undefined bit
    (_with(_obs(), 5, "<B", SAFE), "flags"),                 # SAFE is for ACT
    (_with(_act(), 5, "<B", EPISODE_START), "flags"),        # EPISODE_START is for OBS
    (_with(encode(MsgType.HELLO, None, session=1, seq=1, stamp=0.0), 5, "<B", SAFE), "flags"),
    (_with(_obs(), 20, "<I", 1), "reserved"),
    (_with(_act(), 20, "<I", 0xFFFFFFFF), "reserved"),
])
def test_flags_and_reserved_must_be_zero(data: bytes, field: str) -> None:
    """Item 12: docs/deploy.md says undefined flag bits and ``reserved`` are 0."""
    with pytest.raises(ProtocolError, match=field) as info:
        decode(data)
    assert info.value.field == field
    with Endpoint() as a, Endpoint() as b:
        a.sock.sendto(data, b.address)
        assert packets(b) == []
        assert b.counts["malformed"] == 1 and b.counts[f"bad_{field}"] == 1


def test_defined_flags_still_decode() -> None:
    assert decode(_obs()).flags == EPISODE_START and decode(_act()).flags == SAFE
