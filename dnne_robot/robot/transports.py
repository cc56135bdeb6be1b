"""The robots ``deploy.py`` drives: a real one over the UDP protocol, or the simulator.

A robot has ``connect(timeout, stop)``, ``observe()``, ``act(action, ref, safe)``, ``close()``,
``summary()``, ``url`` and ``stop_reason``; :class:`~.controller.Controller` uses only these.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from .control import StopSignals, Throttled
from .errors import DeployError, warn
from .protocol import SAFE, Endpoint, MsgType, PeerGate, is_loopback, parse_udp_url


@dataclass(frozen=True)
class Observation:
    values: np.ndarray
    seq: int
    received: float


class UdpRobot:
    """A robot that speaks the UDP protocol at ``HOST:PORT``.

    Only datagrams from that address and from the robot's session (the one of its first
    message) count; the rest are ``foreign``, counted per sender and logged at most once a
    second. Among the robot's own, the filter drops out-of-order and stale ones, and
    :meth:`observe` keeps the newest observation. A robot that restarts is a new session:
    deploy.py no longer hears it, and its watchdog stops the loop.
    """

    def __init__(self, url: str, *, bind: str | None, max_age_s: float) -> None:
        host, port = parse_udp_url(url)
        try:
            self.addr = (socket.gethostbyname(host), port)
        except OSError as exc:
            raise DeployError(f"cannot resolve the robot host {host!r}: {exc}") from exc
        if bind:
            bind_host, bind_port = parse_udp_url(bind, default_host="0.0.0.0")
        else:
            bind_host, bind_port = ("127.0.0.1" if is_loopback(self.addr[0]) else "0.0.0.0"), 0
        try:
            self.endpoint = Endpoint(bind_host, bind_port)
        except OSError as exc:
            raise DeployError(f"cannot listen on {bind_host}:{bind_port}: {exc}") from exc
        self.url = f"udp://{host}:{port}"
        self.gate = PeerGate(max_age_s, allow=[self.addr], report=Throttled(warn),
                             verb="ignored", busy="not the robot ({peer})")
        self.counts: Counter[str] = Counter()
        self.stop_reason: str | None = None  # "robot_stop" once the robot sent STOP
        #: Sent as a SAFE ACT (ref 0) with every HELLO while holding; None: HELLO only.
        self.hold_action: np.ndarray | None = None

    def connect(self, timeout: float, stop: StopSignals) -> Observation | None:
        """Hold: send HELLO, then the safe action as an ACT flagged SAFE (``ref`` 0: no
        observation yet), every 0.2 s until the first observation arrives, ``timeout`` passes
        or a signal comes. A robot that is holding still stays still on a SAFE ACT."""
        warn(f"startup: hold (HELLO{'' if self.hold_action is None else ' and the safe action'}"
             f" every 0.2 s) until the first observation from {self.url}")
        clock = self.endpoint.clock
        end = clock() + timeout
        next_hello = clock()
        while (now := clock()) < end and not stop:
            if now >= next_hello:
                self.endpoint.send(MsgType.HELLO, self.addr)
                if self.hold_action is not None:
                    self.act(self.hold_action, 0, safe=True)
                next_hello = now + 0.2
            if self.endpoint.wait_readable(min(next_hello, end) - now):
                obs = self.observe()
                if obs is not None or self.stop_reason:
                    return obs
        return None

    def observe(self) -> Observation | None:
        """The newest observation that arrived since the last call, or None."""
        newest = None
        for pkt in self.endpoint.receive():
            verdict = self.gate.admit(pkt, opens=True)
            if verdict not in ("open", "ok"):
                self.counts[verdict] += 1
            elif pkt.msg.type == MsgType.STOP:
                self.stop_reason = "robot_stop"
            elif pkt.msg.type == MsgType.OBS:
                if newest is not None:
                    self.counts["superseded"] += 1
                newest = pkt
            else:
                self.counts["unexpected_type"] += 1
        if newest is None:
            return None
        return Observation(np.array(newest.msg.payload, dtype=np.float32), newest.msg.seq,
                           newest.received)

    def no_answer(self, timeout: float) -> str:
        """Why :meth:`connect` got nothing, and how to start the simulated robot."""
        host, port = self.url.removeprefix("udp://").rsplit(":", 1)
        line = f"no observation from {self.url} within {timeout:g} s"
        if self.endpoint.counts["receive_errors"]:
            line += " (nothing listens on that port: the system answered 'port unreachable')"
        elif self.gate.rejected:
            line += f" (only from others: {', '.join(self.gate.rejected)})"
        local = is_loopback(self.addr[0])
        serve = f"python runner.py serve-robot{'' if local else ' --host 0.0.0.0'} --port {port}"
        return (f"{line}. Is the robot on, and is this its address? To play the robot in "
                f"simulation, start `{serve}` in the export folder"
                f"{'' if local else f' on {host}'} first. A serve-robot that already serves "
                "another controller logs 'rejected HELLO' and answers nobody else.")

    def act(self, action: np.ndarray, ref: int, safe: bool = False) -> None:
        self.endpoint.send(MsgType.ACT, self.addr, action, ref=ref, flags=SAFE if safe else 0)

    def close(self) -> None:
        """Release: STOP tells the robot to go to its own safe state."""
        warn(f"stop: release (STOP to {self.url})")
        self.endpoint.send(MsgType.STOP, self.addr)
        self.endpoint.close()

    def summary(self) -> dict[str, Any]:
        return {"dropped": dict(sorted((self.counts + self.endpoint.counts).items())),
                "rejected_peers": dict(sorted(self.gate.rejected.items()))}


class SimRobot:
    """The simulator in this process, one step per cycle. Episode ``k`` starts from
    ``reset(seed=seed + k)``, as in ``runner.py evaluate --seed``.
    """

    def __init__(self, engine: str, task: str, seed: int, episodes: int | None) -> None:
        try:
            from ..envs import make_env

            self.vec = make_env(task, engine, num_envs=1)
        except ImportError as exc:
            raise DeployError(f"--robot sim:{engine} needs the simulator packages "
                              f"(pip install -r requirements.txt): {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - unknown engine or task, missing model
            raise DeployError(f"cannot simulate {task} on {engine}: {exc}") from exc
        self.url = f"sim:{engine}"
        self.discrete = hasattr(self.vec.single_action_space, "n")
        self.seed = seed
        self.max_episodes = episodes
        self.obs, _ = self.vec.reset(seed=seed)
        self.seq = 0
        self.stop_reason: str | None = None  # "episodes" after --episodes episodes
        self.lengths: list[int] = []
        self.returns: list[float] = []
        self.ep_return, self.ep_length = 0.0, 0

    def connect(self, timeout: float, stop: StopSignals) -> Observation | None:
        return self.observe()

    def observe(self) -> Observation:
        self.seq += 1
        return Observation(self.obs[0], self.seq, time.perf_counter())

    def act(self, action: np.ndarray, ref: int, safe: bool = False) -> None:
        a = np.asarray([int(action[0])]) if self.discrete else action[None]
        self.obs, reward, terminated, truncated, _ = self.vec.step(a)
        self.ep_return += float(reward[0])
        self.ep_length += 1
        if terminated[0] or truncated[0]:
            self.lengths.append(self.ep_length)
            self.returns.append(self.ep_return)
            self.ep_return, self.ep_length = 0.0, 0
            self.obs, _ = self.vec.reset(seed=self.seed + len(self.lengths))
            if self.max_episodes is not None and len(self.lengths) >= self.max_episodes:
                self.stop_reason = "episodes"

    def close(self) -> None:
        self.vec.close()

    def summary(self) -> dict[str, Any]:
        return {"episodes": len(self.lengths), "lengths": self.lengths, "returns": self.returns}


