"""``runner.py serve-robot``: the simulator behind the robot's UDP protocol, in real time.

    python runner.py serve-robot --port 9870                  # then, elsewhere:
    python deploy.py --policy policy.pt --robot udp://127.0.0.1:9870

The simulated robot steps one env of the task at the control rate and speaks
:mod:`.protocol` like robot firmware would: every cycle it applies the newest ACT (or holds
the last action when none came), steps, and sends the observation to the controller. It
learns the controller's address from the first HELLO or ACT it receives (or ``--peer``),
and it does not step until the first ACT arrives, so a slow-starting controller does not
find the pole already fallen. A STOP from the controller pauses it again. At the end it
prints one JSON line: episodes, lengths, steps, held steps, dropped packets, and
``action_age_steps``, the number of steps between the observation an action was computed
from and the step that applies it (0 everywhere: the same timing as in training).

``runner.py`` of an RL export offers it as the ``serve-robot`` command (:data:`COMMAND`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..envs import make_env
from .control import RateLoop, Samples, StopSignals
from .protocol import EPISODE_START, Endpoint, MsgType, StreamFilter, is_loopback, parse_udp_url

log = logging.getLogger("serve-robot")

#: How many sent observations are remembered to time the ACTs that answer them.
SENT_HISTORY = 1024


@dataclass(frozen=True)
class ServeRobotCommand:
    """The ``serve-robot`` subcommand of ``runner.py`` (a ``session.Command``)."""

    name: str = "serve-robot"

    def add_parser(self, subparsers: Any, meta: dict[str, Any]) -> argparse.ArgumentParser:
        p = subparsers.add_parser(
            self.name, help="run the simulator as a robot on UDP, in real time, for deploy.py",
            description="Step the simulator in real time and speak the robot UDP protocol "
                        "(see README.md): send observations, apply the controller's actions.")
        p.add_argument("--sim", dest="engine", default=meta.get("engine"),
                       help="simulator engine (default: %(default)s)")
        p.add_argument("--task", default=meta.get("task"), help="task (default: %(default)s)")
        p.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s, this machine only)")
        p.add_argument("--port", type=int, default=9870,
                       help="UDP port to listen on; 0 picks a free one (default: %(default)s)")
        p.add_argument("--peer", metavar="HOST:PORT",
                       help="send observations here from the start, instead of waiting for a "
                            "HELLO or ACT to reveal the controller")
        p.add_argument("--rate-hz", type=float,
                       help="steps per second (default: the task's control rate, 1/dt)")
        p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-age-ms", type=float, default=100.0,
                       help="drop ACT packets older than this (default: %(default)s)")
        return p

    def run(self, args: argparse.Namespace, build_graph: Any, meta: dict[str, Any]) -> int:
        if not args.task or not args.engine:
            raise ValueError("serve-robot needs --task and --sim (this export names neither)")
        if args.duration is not None and not args.duration > 0:
            raise ValueError(f"--duration must be > 0, got {args.duration}")
        peer = None
        if args.peer:
            host, port = parse_udp_url(args.peer)
            peer = (host, port)
        server = RobotServer(args.task, args.engine, host=args.host, port=args.port,
                             rate_hz=args.rate_hz, seed=args.seed, peer=peer,
                             max_age_s=args.max_age_ms / 1e3)
        try:
            with StopSignals() as stop:
                summary = server.serve(duration=args.duration, should_stop=lambda: bool(stop))
                summary["stopped_by"] = stop.name or "duration"
        finally:
            server.close()
        print(json.dumps(summary), flush=True)
        return 0


COMMAND = ServeRobotCommand()


class RobotServer:
    """One simulated env behind a UDP :class:`~.protocol.Endpoint`, stepped in real time.

    Args:
        task, engine: As for ``make_env``.
        host, port: Where to listen (port 0: a free port, see :attr:`address`).
        rate_hz: Steps per second; None uses the env's ``1 / dt`` (real time).
        seed: Seed of the env.
        peer: The controller's address, if known in advance.
        max_age_s: ACT messages older than this are dropped.
    """

    def __init__(self, task: str, engine: str, *, host: str = "127.0.0.1", port: int = 0,
                 rate_hz: float | None = None, seed: int = 0,
                 peer: tuple[str, int] | None = None, max_age_s: float = 0.1) -> None:
        self.vec = make_env(task, engine, num_envs=1, seed=seed)
        self.task, self.engine = task, engine
        self.rate_hz = float(rate_hz) if rate_hz else 1.0 / float(self.vec.metadata["dt"])
        space = self.vec.single_action_space
        self.n_actions: int | None = int(space.n) if hasattr(space, "n") else None
        self.action_shape: tuple[int, ...] = () if self.n_actions else tuple(space.shape)
        if not is_loopback(host):
            log.warning("listening on %s: anyone who can reach this port can drive the "
                        "simulator", host)
        self.endpoint = Endpoint(host, port)
        self.filter = StreamFilter(max_age_s)
        self.peer = peer
        self.counts: Counter[str] = Counter()
        self.obs, _ = self.vec.reset(seed=seed)
        self.episode_start = True
        self.running = False  # stepping: after the first ACT, until a STOP
        self.action: Any = None  # the action applied every step until a newer ACT arrives
        self.action_ref = 0  # the seq of the OBS that action was computed from
        self.fresh = False  # a new ACT arrived since the last step
        self.episodes: list[dict[str, Any]] = []
        self.ep_return, self.ep_length, self.steps = 0.0, 0, 0
        self.sent: dict[int, int] = {}  # OBS seq -> the step count when it was sent
        self.action_age = Samples()

    @property
    def address(self) -> tuple[str, int]:
        return self.endpoint.address

    # -- one cycle ---------------------------------------------------------------------------
    def poll(self) -> None:
        """Handle every waiting datagram: HELLO and STOP change state, the newest ACT is kept."""
        for pkt in self.endpoint.receive():
            msg = pkt.msg
            if msg.type == MsgType.HELLO:
                if pkt.addr != self.peer:
                    print(f"controller at udp://{pkt.addr[0]}:{pkt.addr[1]}", file=sys.stderr,
                          flush=True)
                self.peer = pkt.addr
                self.filter.reset()
                self.filter.check(msg, pkt.received)
                continue
            if msg.type not in (MsgType.ACT, MsgType.STOP):
                self.counts["unexpected_type"] += 1
                continue
            if self.peer is None and msg.type == MsgType.ACT:
                self.peer = pkt.addr
            if pkt.addr != self.peer:
                self.counts["foreign"] += 1
                continue
            drop = self.filter.check(msg, pkt.received)
            if drop is not None:
                self.counts[drop] += 1
            elif msg.type == MsgType.STOP:
                if self.running:
                    print("controller sent STOP: holding still until it comes back",
                          file=sys.stderr, flush=True)
                self.running = False
            else:
                self._take_action(msg)

    def _take_action(self, msg: Any) -> None:
        values = np.asarray(msg.payload, dtype=np.float64)
        action: Any = None
        if np.all(np.isfinite(values)):
            if self.n_actions is not None:
                index = int(round(float(values[0]))) if values.size == 1 else -1
                action = index if 0 <= index < self.n_actions else None
            elif values.size == math.prod(self.action_shape):
                action = values.astype(np.float32).reshape(self.action_shape)
        if action is None:
            self.counts["bad_action"] += 1
            return
        self.action, self.action_ref, self.fresh, self.running = action, msg.ref, True, True
        self.counts["actions"] += 1

    def step(self) -> None:
        """Apply the newest (or held) action and step, once running; then send the OBS."""
        if self.running:
            if not self.fresh:
                self.counts["held"] += 1
            self.fresh = False
            sent_at = self.sent.get(self.action_ref)
            if sent_at is not None:
                self.action_age.add(self.steps - sent_at)
            obs, reward, terminated, truncated, _ = self.vec.step(np.asarray([self.action]))
            self.obs = obs
            self.steps += 1
            self.ep_return += float(reward[0])
            self.ep_length += 1
            if terminated[0] or truncated[0]:
                self._end_episode("terminated" if terminated[0] else "truncated")
        if self.peer is not None:
            seq = self.endpoint.send(MsgType.OBS, self.peer, self.obs[0],
                                     flags=EPISODE_START if self.episode_start else 0)
            self.sent[seq] = self.steps
            self.sent.pop(seq - SENT_HISTORY, None)
            self.episode_start = False

    def _end_episode(self, how: str) -> None:
        self.episodes.append({"return": self.ep_return, "length": self.ep_length, "end": how})
        print(f"episode {len(self.episodes)}: return {self.ep_return:.1f}, "
              f"length {self.ep_length} ({how})", flush=True)
        self.ep_return, self.ep_length = 0.0, 0
        self.episode_start = True

    # -- the loop ----------------------------------------------------------------------------
    def serve(self, duration: float | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Run at :attr:`rate_hz` until ``duration`` s passed or ``should_stop()``."""
        host, port = self.address
        print(f"serving {self.task} on {self.engine} at udp://{host}:{port}, "
              f"{self.rate_hz:g} Hz; waiting for a controller", file=sys.stderr, flush=True)

        def cycle(_: int) -> None:
            self.poll()
            self.step()

        stats = RateLoop(self.rate_hz).run(cycle, duration=duration, should_stop=should_stop)
        return self.summary(stats.as_dict())

    def summary(self, loop: dict[str, Any] | None = None) -> dict[str, Any]:
        lengths = [e["length"] for e in self.episodes]
        returns = [e["return"] for e in self.episodes]
        dropped = self.counts + self.endpoint.counts
        for key in ("actions", "held"):
            dropped.pop(key, None)
        return {
            "task": self.task,
            "engine": self.engine,
            "episodes": len(self.episodes),
            "mean_length": sum(lengths) / len(lengths) if lengths else None,
            "mean_return": sum(returns) / len(returns) if returns else None,
            "lengths": lengths,
            "terminated": sum(e["end"] == "terminated" for e in self.episodes),
            "truncated": sum(e["end"] == "truncated" for e in self.episodes),
            "current_length": self.ep_length,
            "steps": self.steps,
            "actions": self.counts["actions"],
            "held_steps": self.counts["held"],
            "dropped": dict(sorted(dropped.items())),
            "action_age_steps": self.action_age.percentiles(1.0, 2),
            "loop": loop,
        }

    def close(self) -> None:
        if self.peer is not None:
            self.endpoint.send(MsgType.STOP, self.peer)
        self.endpoint.close()
        self.vec.close()
