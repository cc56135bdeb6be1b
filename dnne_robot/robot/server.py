"""``runner.py serve-robot``: the simulator behind the robot's UDP protocol, in real time.

    python runner.py serve-robot --port 9870                  # then, elsewhere:
    python deploy.py --policy policy.pt --robot udp://127.0.0.1:9870

The simulated robot steps one env of the task at the control rate and speaks
:mod:`.protocol` like robot firmware would: every cycle it applies the newest ACT (or holds
the last action when none came), steps, and sends the observation to the controller. It
serves one controller at a time: the first HELLO or ACT binds its sender (address and
session), and every other sender is rejected, counted and logged until that controller sends
STOP or is silent for ``--controller-timeout``; then the robot holds still and the next
controller (another session: an ended one does not come back) may bind. ``--allow`` (or
``--peer``) limits which addresses may bind at all. It does not step until the first ACT
not flagged SAFE arrives (a SAFE ACT while still, the controller's hold, keeps it
still), so a slow-starting controller does not find the pole already fallen. At the end it
prints one JSON line: episodes, lengths, steps, held steps, dropped packets, rejected
senders, the actions applied per controller, and ``action_age_steps``, the number of steps
between the observation an action was computed from and the step that applies it (0
everywhere: the same timing as in training).

``runner.py`` of an RL export offers it as the ``serve-robot`` command (:data:`COMMAND`).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..envs import make_env
from .control import (
    RateLoop,
    Samples,
    Throttled,
    finite_positive,
    int_between,
    run_until_stopped,
)
from .protocol import (
    EPISODE_START,
    SAFE,
    Endpoint,
    MsgType,
    PeerGate,
    is_loopback,
    parse_allow,
    udp_url,
)

log = logging.getLogger("serve-robot")


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


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
        p.add_argument("--transport", choices=["udp", "ros2"], default="udp",
                       help="udp: this project's protocol; ros2: JointState (and Franka's pose, "
                            "target and episode start) out, Float64MultiArray commands in "
                            "(default: %(default)s)")
        p.add_argument("--state-topic", default="/joint_states",
                       help="ros2: the JointState topic (default: %(default)s)")
        p.add_argument("--command-topic",
                       help="ros2: the command topic (default: /forward_effort_controller/"
                            "commands; /eef_delta_controller/commands for an end-effector "
                            "command, Franka's osc)")
        p.add_argument("--pose-topic", default="/grip_site_pose",
                       help="ros2: the grip site's PoseStamped, for a policy that observes "
                            "it (default: %(default)s)")
        p.add_argument("--target-topic", default="/target",
                       help="ros2: the target's PointStamped, latched (default: %(default)s)")
        p.add_argument("--episode-topic", default="/episode_start",
                       help="ros2: a std_msgs/Header whose stamp is the episode's start, "
                            "latched (default: %(default)s)")
        p.add_argument("--joint-order", metavar="J1,J2",
                       help="ros2: publish the joints in this order (default: the task's)")
        p.add_argument("--sim", dest="engine", default=meta.get("engine"),
                       help="simulator engine (default: %(default)s)")
        p.add_argument("--task", default=meta.get("task"), help="task (default: %(default)s)")
        p.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s, this machine only)")
        p.add_argument("--port", type=int_between(0, 65535), default=9870,
                       help="UDP port to listen on; 0 picks a free one (default: %(default)s)")
        p.add_argument("--peer", metavar="HOST:PORT", type=address_arg(port_required=True),
                       help="the controller's address: send observations there from the start, "
                            "and accept no other controller")
        p.add_argument("--allow", action="append", default=[], metavar="HOST[:PORT]",
                       type=address_arg(port_required=False),
                       help="only these addresses may become the controller (repeatable; "
                            "default: the first to say HELLO or ACT)")
        p.add_argument("--controller-timeout", type=finite_positive, metavar="SECONDS",
                       help="end the controller's session after this long without a message "
                            "from it: hold still and accept a new controller (default: 25 "
                            "periods, at least 0.5 s)")
        p.add_argument("--rate-hz", type=finite_positive,
                       help="steps per second (default: the task's control rate, 1/dt)")
        p.add_argument("--duration", type=finite_positive, metavar="SECONDS",
                       help="stop after this long")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-age-ms", type=finite_positive, default=100.0,
                       help="drop ACT packets older than this (default: %(default)s)")
        return p

    def run(self, args: argparse.Namespace, build_graph: Any, meta: dict[str, Any]) -> int:
        if not args.task or not args.engine:
            raise ValueError("serve-robot needs --task and --sim (this export names neither)")
        if args.transport == "ros2":
            from .ros2_server import serve  # rclpy is imported there, only for ros2

            return serve(args)
        server = RobotServer(args.task, args.engine, host=args.host, port=args.port,
                             rate_hz=args.rate_hz, seed=args.seed, peer=args.peer,
                             max_age_s=args.max_age_ms / 1e3, allow=args.allow,
                             controller_timeout_s=args.controller_timeout)
        return run_until_stopped(server, args.duration)


COMMAND = ServeRobotCommand()


def address_arg(port_required: bool) -> Callable[[str], tuple[str, int | None]]:
    """An ``argparse`` type: ``HOST[:PORT]`` resolved to ``(IPv4 address, port or None)``."""
    def parse(text: str) -> tuple[str, int | None]:
        try:
            host, port = parse_allow(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if port_required and port is None:
            raise argparse.ArgumentTypeError(f"{text!r} names no port: HOST:PORT")
        return host, port

    return parse


class RobotServer:
    """One simulated env behind a UDP :class:`~.protocol.Endpoint`, stepped in real time.

    Args:
        task, engine: As for ``make_env``.
        host, port: Where to listen (port 0: a free port, see :attr:`address`).
        rate_hz: Steps per second; None uses the env's ``1 / dt`` (real time).
        seed: Seed of the env.
        peer: The controller's address, if known in advance: observations go there from the
            start, and no other address may bind.
        max_age_s: ACT messages older than this are dropped.
        allow: Addresses that may bind as ``(ip, port or None)``; empty: any.
        controller_timeout_s: A controller silent for this long loses its session (the
            robot holds still); None: 25 periods, at least 0.5 s.
    """

    def __init__(self, task: str, engine: str, *, host: str = "127.0.0.1", port: int = 0,
                 rate_hz: float | None = None, seed: int = 0,
                 peer: tuple[str, int] | None = None, max_age_s: float = 0.1,
                 allow: Sequence[tuple[str, int | None]] = (),
                 controller_timeout_s: float | None = None) -> None:
        self.vec = make_env(task, engine, num_envs=1, seed=seed)
        self.task, self.engine = task, engine
        self.rate_hz = float(rate_hz) if rate_hz else 1.0 / float(self.vec.metadata["dt"])
        space = self.vec.single_action_space
        self.n_actions: int | None = int(space.n) if hasattr(space, "n") else None
        self.action_shape: tuple[int, ...] = () if self.n_actions else tuple(space.shape)
        if not is_loopback(host):
            log.warning("listening on %s: anyone who can reach this port can drive the "
                        "simulator until a controller binds it", host)
        self.endpoint = Endpoint(host, port)
        timeout = controller_timeout_s or max(0.5, 25.0 / self.rate_hz)
        self.gate = PeerGate(
            max_age_s, allow=[*allow, *([peer] if peer else [])], timeout_s=timeout,
            report=Throttled(say),
            busy=f"bound to {{peer}} until it sends STOP or is silent for {timeout:g} s")
        self.default_peer = peer
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
        self.applied: Counter[str] = Counter()  # actions applied, per controller

    @property
    def address(self) -> tuple[str, int]:
        return self.endpoint.address

    @property
    def peer(self) -> tuple[str, int] | None:
        """Where observations go: the bound controller, else ``peer`` if one was given."""
        return self.gate.addr or self.default_peer

    # -- one cycle ---------------------------------------------------------------------------
    def poll(self) -> None:
        """Handle every waiting datagram from the controller: HELLO binds it, STOP ends its
        session, the newest ACT is kept. Other senders are rejected (``foreign``)."""
        for pkt in self.endpoint.receive():
            msg = pkt.msg
            verdict = self.gate.admit(pkt, opens=msg.type in (MsgType.HELLO, MsgType.ACT))
            if verdict not in ("open", "ok"):
                self.counts[verdict] += 1
                continue
            if verdict == "open":
                say(f"controller at {udp_url(pkt.addr)} (session {msg.session:08x})")
            if msg.type == MsgType.STOP:
                self._end_session("controller sent STOP")
            elif msg.type == MsgType.ACT:
                self._take_action(msg)
            elif msg.type != MsgType.HELLO:
                self.counts["unexpected_type"] += 1

    def _end_session(self, why: str) -> None:
        if self.running:
            say(f"{why}: holding still until a controller binds")
        self.running = False
        self.gate.release()

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
        if msg.flags & SAFE and not self.running:
            # A controller holding before its first observation: stay still, as a robot
            # would on its safe command; the first ordinary ACT starts the stepping.
            self.counts["safe_while_still"] += 1
            return
        self.action, self.action_ref, self.fresh, self.running = action, msg.ref, True, True
        self.counts["actions"] += 1
        self.applied[self.gate.peer] += 1

    def step(self) -> None:
        """Apply the newest (or held) action and step, once running; then send the OBS."""
        if self.gate.expired(self.endpoint.clock()):
            self._end_session(f"controller silent for {self.gate.timeout_s:g} s")
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
        say(f"serving {self.task} on {self.engine} at udp://{host}:{port}, "
            f"{self.rate_hz:g} Hz; waiting for a controller")

        def cycle(_: int) -> None:
            self.poll()
            self.step()

        stats = RateLoop(self.rate_hz).run(cycle, duration=duration, should_stop=should_stop)
        return self.summary(stats.as_dict())

    def summary(self, loop: dict[str, Any] | None = None) -> dict[str, Any]:
        lengths = [e["length"] for e in self.episodes]
        returns = [e["return"] for e in self.episodes]
        dropped = self.counts + self.endpoint.counts
        for key in ("actions", "held", "safe_while_still"):
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
            "safe_while_still": self.counts["safe_while_still"],
            "dropped": dict(sorted(dropped.items())),
            "rejected_peers": dict(sorted(self.gate.rejected.items())),
            "actions_by_controller": dict(self.applied),
            "action_age_steps": self.action_age.percentiles(1.0, 2),
            "loop": loop,
        }

    def close(self) -> None:
        if self.peer is not None:
            self.endpoint.send(MsgType.STOP, self.peer)
        self.endpoint.close()
        self.vec.close()
