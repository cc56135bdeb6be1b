"""Fuzz the robot link: random, malformed, replayed, foreign and forged datagrams at both ends.

    python bench/link_fuzz.py                  # 1,000,000 datagrams (about a minute on 2 cores)
    python bench/link_fuzz.py --quick          # 20,000
    python bench/link_fuzz.py --datagrams N --seed S --time-limit SECONDS --json

Both ends of the link run in this process, on real UDP sockets on 127.0.0.1, with the code
that ``serve-robot`` and ``deploy.py`` run: the robot is :class:`RobotServer` (CartPole on
gymnasium, stepped once per round instead of in real time), the controller is deploy.py's
:class:`UdpRobot` and :class:`Controller` with an untrained exported TorchScript policy. Each
round the fuzzer sends a burst of datagrams, half to the robot's port and half to the
controller's; the robot handles them and steps, the controller runs one cycle. Kinds:

* ``random``: 0-120 random bytes (some starting with the magic and version);
* ``malformed``: a valid message with one field broken (magic, version, type, dtype, flags,
  reserved, length, a payload on HELLO or STOP, a NaN or infinite stamp, too short);
* ``replayed``: a byte-exact copy of one of the last 500 datagrams the peer sent (the
  newest being a duplicate), sent again from the peer's own socket (a forged source address);
* ``foreign``: well-formed HELLO, OBS, ACT and STOP from 8 other sockets (with random
  sessions, or the peer's own), or from the peer's socket with another session; NaN,
  infinite and extreme payloads, far-future and far-past stamps;
* ``forged``: an in-path attacker's message with the peer's address, session and next
  ``seq`` (at most one per end per round), carrying a non-finite, out-of-range or
  wrong-length action or observation, or a far-future or far-past stamp. Without
  authentication these are the peer's messages; what must hold is that none turns into a
  non-finite or invalid action, and that the stamps do not starve the link.

Replayed and foreign observations carry the value 7777 and foreign actions the ``ref``
0xF0F0F0F0, so one that got through is seen. STOP is never replayed or forged: a STOP from
the bound peer is always honoured (by design: it only ever stops). The run reports, and
exits 1 unless all are 0: actions applied that the controller did not send, non-finite
actions the controller sent, observations from a foreign sender that reached the policy,
datagrams the robot sent to a stranger, rounds in which the controller's session was not
the bound one, and a controller stopped by a STOP or its watchdog.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import random
import socket
import struct
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnne_robot.robot.control import StopSignals  # noqa: E402
from dnne_robot.robot.controller import Controller  # noqa: E402
from dnne_robot.robot.policy import Policy  # noqa: E402
from dnne_robot.robot.protocol import (  # noqa: E402
    ALLOWED_FLAGS,
    SEQ_MOD,
    Endpoint,
    MsgType,
    encode,
)
from dnne_robot.robot.server import RobotServer  # noqa: E402
from dnne_robot.robot.transports import UdpRobot  # noqa: E402

FOREIGN_OBS = 7777.0
FOREIGN_REF = 0xF0F0F0F0
KINDS = ("random", "malformed", "replayed", "foreign", "forged")
WEIGHTS = (2, 3, 2, 3, 0)  # forged: at most one per end per round, sent separately
BURST = 64
STRANGERS = 8
#: Payload values that must never become an action: non-finite, out of range, not an index.
BAD_ACTIONS = ([math.nan], [math.inf], [-math.inf], [2.0], [-1.0], [1e30], [0.0, 1.0], [])
BAD_OBS = ([math.nan] * 4, [math.inf, 0, 0, 0], [0, -math.inf, 0, 0], [1e30] * 4, [0.0] * 3,
           [0.0] * 5)


class WatchedRobot(UdpRobot):
    """deploy.py's UDP robot, counting what reached the policy and what it sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watch: Counter[str] = Counter()

    def observe(self) -> Any:
        obs = super().observe()
        if obs is not None and np.any(obs.values == FOREIGN_OBS):
            self.watch["foreign_obs_used"] += 1
        return obs

    def act(self, action: np.ndarray, ref: int, safe: bool = False) -> None:
        self.watch["sent"] += 1
        self.watch["safe"] += safe
        if not np.all(np.isfinite(action)):
            self.watch["nonfinite_sent"] += 1
        super().act(action, ref, safe)


class TapSocket:
    """A peer's socket that remembers the last datagrams sent through it, for replays."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent: deque[tuple[bytes, tuple[str, int]]] = deque(maxlen=500)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        self.sent.append((data, addr))
        return self.sock.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class Fuzzer:
    """Makes the datagrams: ``make(kind, to_robot)`` -> (bytes, socket to send from, address)."""

    def __init__(self, rng: random.Random, server: RobotServer, robot: WatchedRobot) -> None:
        self.rng = rng
        self.strangers = [Endpoint() for _ in range(STRANGERS)]
        for peer in (server.endpoint, robot.endpoint):
            peer.sock = TapSocket(peer.sock)  # type: ignore[assignment]
        # For each end: its address, the peer that talks to it, and what the peer sends.
        self.ends = {
            True: (server.address, robot.endpoint, MsgType.ACT),
            False: (robot.endpoint.address, server.endpoint, MsgType.OBS),
        }

    def stamp(self, now: float) -> float:
        r = self.rng.random()
        return (now if r < 0.4 else now + 1e6 if r < 0.55 else now - 1e6 if r < 0.7
                else 1e300 if r < 0.75 else -1e300 if r < 0.8 else self.rng.uniform(-1e9, 1e9))

    def payload(self, kind: MsgType) -> list[float] | None:
        if kind == MsgType.OBS:
            rest = [self.rng.choice([0.0, math.nan, math.inf, 1e38, self.rng.uniform(-5, 5)])
                    for _ in range(self.rng.choice([3, 3, 3, 0, 5]))]
            return [FOREIGN_OBS, *rest]
        if kind == MsgType.ACT:
            return self.rng.choice([[0.0], [1.0], [0.0], [1.0], *BAD_ACTIONS])
        return None

    def message(self, kind: MsgType, session: int, seq: int, now: float) -> bytes:
        flags = ALLOWED_FLAGS[kind] if self.rng.random() < 0.3 else 0
        return encode(kind, self.payload(kind), session=session, seq=seq, stamp=self.stamp(now),
                      flags=flags, ref=FOREIGN_REF if kind == MsgType.ACT else 0,
                      dtype=self.rng.choice(["float32", "float64"]))

    def make(self, what: str, to_robot: bool) -> tuple[bytes, socket.socket, tuple[str, int]]:
        rng = self.rng
        addr, peer, _ = self.ends[to_robot]
        stranger = rng.choice(self.strangers).sock
        own = peer.sock.sock  # the peer's socket, past the tap: only its own sends are taped
        now = peer.clock()
        if what == "random":
            head = b"DR\x01" if rng.random() < 0.3 else b""
            data = head + rng.randbytes(rng.randint(0, 120))
            return data, rng.choice([stranger, own]), addr
        if what == "replayed" and peer.sock.sent:
            data, _ = rng.choice(peer.sock.sent)
            return data, own, addr
        kind = rng.choice(list(MsgType))
        if what in ("foreign", "replayed"):
            if rng.random() < 0.25:  # the peer's own address, another session
                session = (peer.session + rng.randint(1, SEQ_MOD - 1)) % SEQ_MOD
                return self.message(kind, session, rng.randrange(SEQ_MOD), now), own, addr
            session = peer.session if rng.random() < 0.3 else rng.randrange(SEQ_MOD)
            return self.message(kind, session, rng.randrange(SEQ_MOD), now), stranger, addr
        data = self.message(kind, rng.randrange(SEQ_MOD), rng.randrange(SEQ_MOD), now)
        return self.malform(data), rng.choice([stranger, own]), addr

    def malform(self, data: bytes) -> bytes:
        rng, out = self.rng, bytearray(data)
        how = rng.randrange(11)
        if how == 0:
            out[0:2] = rng.choice([b"XX", b"RD", b"dr", b"\x00\x00"])
        elif how == 1:
            out[2] = rng.choice([0, 2, 255])
        elif how == 2:
            out[3] = rng.choice([0, 5, 255])
        elif how == 3:
            out[4] = rng.choice([0, 3, 255])
        elif how == 4:
            out[5] |= rng.choice([0x04, 0x80, 0x03])
        elif how == 5:
            struct.pack_into("<I", out, 20, rng.randint(1, SEQ_MOD - 1))
        elif how == 6:
            return bytes(out[: rng.randint(32, max(32, len(out) - 1))] if len(out) > 32
                         else out + b"\x00" * rng.randint(1, 8))
        elif how == 7:
            return bytes(out) + rng.randbytes(rng.randint(1, 9))
        elif how == 8:
            struct.pack_into("<d", out, 24, rng.choice([math.nan, math.inf, -math.inf]))
        elif how == 9:
            return bytes(out[: rng.randint(0, 31)])
        else:  # a HELLO or STOP with a payload, which they may not carry
            out[3] = rng.choice([MsgType.HELLO, MsgType.STOP])
            out[4], out[5] = 1, 0
            struct.pack_into("<H", out, 6, 1)
            return bytes(out[:32]) + b"\x00" * 4
        return bytes(out)

    def forge(self, to_robot: bool) -> tuple[bytes, socket.socket, tuple[str, int]]:
        """The peer's next message, as an in-path attacker would inject it."""
        addr, peer, kind = self.ends[to_robot]
        peer.seq = peer.seq % (SEQ_MOD - 1) + 1  # the peer's own next message stays newer
        payload = self.rng.choice(BAD_ACTIONS if to_robot else BAD_OBS)
        now = peer.clock()
        stamp = self.rng.choice([now, now + 1e6, now - 1e6, now + 10.0])
        return encode(kind, payload, session=peer.session, seq=peer.seq, stamp=stamp), \
            peer.sock.sock, addr

    def close(self) -> None:
        for s in self.strangers:
            s.close()

    def stranger_mail(self) -> int:
        return sum(len(s.receive()) + s.counts["malformed"] for s in self.strangers)


def _policy(folder: Path) -> Policy:
    import torch

    from dnne_robot.rl import ActionSpec, ActorCritic, export_policy

    torch.manual_seed(0)
    path = folder / "policy.pt"
    export_policy(ActorCritic(4, ActionSpec.discrete(2)), path,
                  metadata={"task": "Cartpole", "engine": "gymnasium", "control_rate_hz": 50.0})
    return Policy(path)


def run(quick: bool = False, datagrams: int | None = None, seed: int = 0,
        time_limit: float = 600.0) -> dict[str, Any]:
    """Send ``datagrams`` (default 1,000,000; ``quick``: 20,000) and return the counts."""
    total = datagrams or (20_000 if quick else 1_000_000)
    rng = random.Random(seed)
    log = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="link_fuzz_") as tmp, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        policy = _policy(Path(tmp))
        server = RobotServer("Cartpole", "gymnasium", controller_timeout_s=2.0)
        robot = WatchedRobot(f"udp://127.0.0.1:{server.address[1]}", bind=None,
                             max_age_s=0.04)
        fuzzer = Fuzzer(rng, server, robot)
        try:
            report = _fuzz(total, rng, time_limit, server, robot, fuzzer, policy)
        finally:
            fuzzer.close()
            robot.close()
            server.close()
    lines = log.getvalue().splitlines()
    report["seed"] = seed
    report["log_lines"] = {"rejected (robot)": sum("rejected" in x for x in lines),
                           "ignored (controller)": sum("deploy: ignored" in x for x in lines),
                           "total": len(lines)}
    return report


def _fuzz(total: int, rng: random.Random, time_limit: float, server: RobotServer,
          robot: WatchedRobot, fuzzer: Fuzzer, policy: Policy) -> dict[str, Any]:
    robot.endpoint.send(MsgType.HELLO, server.address)
    server.poll()
    server.step()
    first = robot.connect(1.0, StopSignals())
    if first is None:
        raise RuntimeError("the controller got no first observation from the robot")
    controller = Controller(policy, robot, period=0.02, watchdog_periods=10**9,
                            safe_mode="zero", first=first)
    legit = f"udp://127.0.0.1:{robot.endpoint.address[1]} session {robot.endpoint.session:08x}"
    sent: Counter[str] = Counter()
    to_end: Counter[str] = Counter()
    watch: Counter[str] = Counter()
    stop_reason = None
    sessions_ended = 0
    t0 = time.perf_counter()
    end = t0 + time_limit
    n = rounds = legit_obs = 0
    while n < total and time.perf_counter() < end and stop_reason is None:
        burst = [(what, rng.random() < 0.5) for what in
                 rng.choices(KINDS, WEIGHTS, k=min(BURST, total - n))]
        if n + len(burst) < total and rng.random() < 0.2:
            burst[-1] = ("forged", True)
        for what, to_robot in burst:
            data, sock, addr = fuzzer.forge(True) if what == "forged" else fuzzer.make(
                what, to_robot)
            with contextlib.suppress(OSError):
                sock.sendto(data, addr)
            sent[what] += 1
            to_end["robot" if to_robot else "controller"] += 1
        n += len(burst)
        server.poll()
        if server.fresh and server.action_ref == FOREIGN_REF:
            watch["foreign_ref_applied"] += 1
        legit_obs += server.peer is not None
        server.step()
        if n < total and rng.random() < 0.2:  # the newest observation is a forged one
            data, sock, addr = fuzzer.forge(False)
            sock.sendto(data, addr)
            sent["forged"] += 1
            to_end["controller"] += 1
            n += 1
        stop_reason = controller.cycle(time.perf_counter())
        sessions_ended += server.gate.peer != legit
        rounds += 1
    seconds = time.perf_counter() - t0
    server.poll()
    applied = dict(server.applied)
    foreign_applied = sum(v for k, v in applied.items() if k != legit)
    excess = max(0, applied.get(legit, 0) - robot.watch["sent"])
    summary, link = server.summary(), robot.summary()
    results = {
        "applied_foreign_actions": foreign_applied + excess + watch["foreign_ref_applied"],
        "nonfinite_actions_sent": robot.watch["nonfinite_sent"],
        "foreign_observations_used": robot.watch["foreign_obs_used"],
        "datagrams_to_strangers": fuzzer.stranger_mail(),
        "rounds_without_the_session": sessions_ended,
        "controller_stopped": int(stop_reason is not None),
    }
    return {
        "datagrams": n, "seconds": round(seconds, 2),
        "datagrams_per_s": round(n / seconds) if seconds else None,
        "stopped_by": "count" if n >= total else (stop_reason or "time_limit"),
        "rounds": rounds, "sent": dict(sent), "to": dict(to_end),
        "robot": {"received": server.endpoint.received,
                  "fuzz_delivered": server.endpoint.received - robot.watch["sent"] - 2,
                  "actions_applied": summary["actions"], "actions_by_controller": applied,
                  "dropped": summary["dropped"],
                  "rejected_senders": len(summary["rejected_peers"])},
        "controller": {"received": robot.endpoint.received,
                       "fuzz_delivered": robot.endpoint.received - legit_obs - 1,
                       "actions_sent": robot.watch["sent"], "safe_actions": robot.watch["safe"],
                       "counts": dict(controller.counts), "dropped": link["dropped"],
                       "rejected_senders": len(link["rejected_peers"])},
        "results": results,
        "ok": not any(results.values()),
    }


def format_results(report: dict[str, Any]) -> str:
    r, c = report["robot"], report["controller"]
    lines = [
        f"{report['datagrams']:,} datagrams in {report['seconds']} s "
        f"({report['datagrams_per_s']:,}/s, {report['rounds']:,} rounds, stopped by "
        f"{report['stopped_by']}): " + ", ".join(f"{k} {v:,}" for k, v in report["sent"].items()),
        f"robot end:      {report['to'].get('robot', 0):,} sent, {r['fuzz_delivered']:,} "
        f"delivered; applied {r['actions_applied']:,} actions, all from "
        f"{len(r['actions_by_controller'])} controller(s); dropped {r['dropped']}",
        f"controller end: {report['to'].get('controller', 0):,} sent, {c['fuzz_delivered']:,} "
        f"delivered; sent {c['actions_sent']:,} actions ({c['safe_actions']:,} safe); "
        f"dropped {c['dropped']}",
        "results:        " + ", ".join(f"{k} {v}" for k, v in report["results"].items()),
        "log lines:      " + ", ".join(f"{k} {v}" for k, v in report["log_lines"].items()),
        "OK" if report["ok"] else "FAILED: a count above is not 0",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 datagrams")
    parser.add_argument("--datagrams", type=int, help="how many (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=600.0, metavar="SECONDS",
                        help="stop sending after this long (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)
    report = run(args.quick, args.datagrams, args.seed, args.time_limit)
    print(json.dumps(report, indent=2) if args.json else format_results(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
