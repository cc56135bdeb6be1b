"""``deploy.py``: run an exported policy on a robot at a fixed rate.

    python deploy.py --policy policy.pt --robot udp://192.168.1.20:9870
    python deploy.py --policy policy.pt --robot udp://127.0.0.1:9870 --duration 10 --json
    python deploy.py --policy policy.pt --robot sim:gymnasium --episodes 3
    python deploy.py --policy policy.pt \
        --robot "ros2:///joint_states?command=/forward_effort_controller/commands"

Every cycle: take the freshest observation from the robot, run the policy, send the action.
The UDP message format is in README.md and framework/robot/protocol.py;
`python runner.py serve-robot` plays the robot in simulation.

Safety:
  * a cycle whose observation is not finite, whose action is not a valid one (not finite,
    or not an action index: the exported network returns NaN or index -1 when its own output
    is not finite), or whose policy call raises, sends the safe action instead (counted as
    bad_obs, bad_actions or policy_errors, and logged at most once a second);
  * the watchdog: when --watchdog-periods periods pass without a good cycle (a fresh, finite
    observation turned into a finite action), the safe action is sent and deploy stops;
  * SIGINT / SIGTERM: the safe action, then STOP, then a clean exit;
  * every exit sends the safe action and then STOP;
  * only the robot is heard: datagrams from another address, or from another session at
    the robot's address, are dropped, counted per sender and logged at most once a second.
The safe action is "zero" (all zeros, clipped into the action bounds; for a discrete action
space, action index 0, which is not always a neutral action: in CartPole it pushes left) or
"hold" (the last action the policy produced).

Exit codes:
  0  ran to the end: --duration, --episodes, SIGINT or SIGTERM
  1  error before the loop: the policy file, its checksum, a malformed policy.json (one
     line naming the field), the robot address
  2  bad command-line arguments
  3  watchdog: no good cycle for --watchdog-periods periods, or no observation at all
     within --connect-timeout
  4  the robot sent STOP
  5  emergency stop (ROS 2: True on the estop topic)

This module and the ones it imports need only the standard library and numpy (and, for
--robot ros2:// only, rclpy with the ROS 2 messages, imported then); the policy runs on
torch (and --robot sim:ENGINE imports the simulator), or an ONNX policy (``export-policy
--format onnx``) on onnxruntime instead of torch. TorchScript files are code: load only
policies you trust.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from .contract import Contract
from .control import RateLoop, StopSignals, finite_positive, int_between, resolve_rate
from .controller import Controller
from .errors import DeployError, warn
from .policy import Policy
from .ramp import Ramp
from .transports import SimRobot, UdpRobot

EXIT_OK, EXIT_ERROR, EXIT_WATCHDOG, EXIT_ROBOT_STOP, EXIT_ESTOP = 0, 1, 3, 4, 5  # 2: usage
EXIT_CODES = {"duration": EXIT_OK, "episodes": EXIT_OK, "signal": EXIT_OK,
              "watchdog": EXIT_WATCHDOG, "no_robot": EXIT_WATCHDOG, "robot_stop": EXIT_ROBOT_STOP,
              "estop": EXIT_ESTOP}


def parse_args(argv: list[str] | None = None, description: str | None = None
               ) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="deploy.py",
        description=description or "Run the exported policy on a robot at a fixed rate.",
        epilog="exit codes: 0 done or stopped by SIGINT/SIGTERM, 1 error before the loop, "
               "2 bad arguments, 3 watchdog, 4 the robot sent STOP, 5 emergency stop")
    p.add_argument("--policy", type=Path, default=Path("policy.pt"),
                   help="exported policy, with its .json sidecar (default: %(default)s)")
    p.add_argument("--robot", required=True,
                   metavar="udp://HOST:PORT | ros2:///STATE_TOPIC?command=TOPIC | sim:ENGINE",
                   help="the robot: its UDP address, its ROS 2 topics (joint states, command, "
                        "estop; for Franka also pose, target, episode: see docs/deploy.md), "
                        "or the simulator in this process")
    p.add_argument("--rate-hz", type=finite_positive,
                   help="control rate (default: control_rate_hz from policy.json)")
    p.add_argument("--duration", type=finite_positive, metavar="SECONDS",
                   help="stop after this long")
    p.add_argument("--episodes", type=int_between(1, 2**31),
                   help="sim: stop after this many episodes")
    p.add_argument("--watchdog-periods", type=int_between(1, 2**31), default=5,
                   help="stop after this many periods without a good cycle (default: "
                        "%(default)s)")
    p.add_argument("--safe-action", choices=["zero", "hold"], default="zero",
                   help="what to send when a cycle fails and on exit (default: %(default)s)")
    p.add_argument("--phase", type=float, default=0.25, metavar="FRACTION",
                   help="run each cycle this fraction of a period after the robot's "
                        "observation arrives (default: %(default)s)")
    p.add_argument("--connect-timeout", type=finite_positive, default=5.0, metavar="SECONDS",
                   help="how long to wait for the first observation (default: %(default)s)")
    p.add_argument("--max-age-ms", type=finite_positive,
                   help="drop observations older than this (default: two periods)")
    p.add_argument("--bind", metavar="HOST:PORT",
                   help="local UDP address (default: loopback for a loopback robot, else any)")
    p.add_argument("--seed", type=int, default=0, help="sim: seed of the first episode")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    p.add_argument("--threads", type=int_between(1, cpus or 1, " (the CPUs this process may use)"),
                   default=1, help="CPU threads of torch (or onnxruntime) (default: %(default)s)")
    p.add_argument("--rt-priority", type=int_between(1, 99), metavar="1-99",
                   help="run the loop under SCHED_FIFO at this priority (Linux; needs root or "
                        "CAP_SYS_NICE; a warning, not an error, when refused)")
    p.add_argument("--ramp-s", type=non_negative, metavar="SECONDS",
                   help="start-up: ramp to the contract's default pose over this long before "
                        "the policy runs; 0: no ramp (default: the contract's ramp_s, else 2)")
    p.add_argument("--ramp-kp", type=number_list, metavar="KP[,KP...]",
                   help="ramp of effort commands: P gain per joint, command units per rad "
                        "(default: the contract's ramp_gains)")
    p.add_argument("--ramp-kd", type=number_list, metavar="KD[,KD...]",
                   help="ramp of effort commands: D gain per joint, command units per rad/s "
                        "(default: the contract's ramp_gains)")
    p.add_argument("--json", action="store_true", help="print the statistics as one JSON object")
    args = p.parse_args(argv)
    if not 0 <= args.phase < 1:
        p.error("--phase must be in [0, 1)")
    if not args.robot.startswith(("udp://", "sim:", "ros2://")):
        p.error(f"--robot must be udp://HOST:PORT, ros2:///TOPIC?command=TOPIC or sim:ENGINE, "
                f"not {args.robot!r}")
    if args.episodes is not None and not args.robot.startswith("sim:"):
        p.error("--episodes needs --robot sim:ENGINE")
    return args


def non_negative(text: str) -> float:
    """An ``argparse`` type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def number_list(text: str) -> list[float]:
    """An ``argparse`` type: one finite number >= 0, or several separated by commas."""
    return [non_negative(x.strip()) for x in text.split(",")]


def load_contract(policy: Policy) -> Contract | None:
    """The contract of ``policy.json``, checked; None when it has none (UDP and sim robots
    run without one, and then without a ramp)."""
    data = policy.info.get("contract")
    return None if data is None else Contract(data, str(policy.path.with_suffix(".json")))


def make_robot(args: argparse.Namespace, policy: Policy, period: float) -> Any:
    if args.robot.startswith("sim:"):
        task = policy.metadata.get("task")
        if not task:
            raise DeployError(f"{policy.path.with_suffix('.json')} names no task to simulate")
        return SimRobot(args.robot.removeprefix("sim:") or policy.metadata.get("engine"), task,
                        args.seed, args.episodes)
    max_age = 2 * period if args.max_age_ms is None else args.max_age_ms / 1e3
    if args.robot.startswith("ros2://"):
        from .ros2 import Ros2Robot  # rclpy is imported there, only for ros2://

        contract = Contract(policy.info.get("contract"), str(policy.path.with_suffix(".json")))
        contract.check_examples(policy)
        return Ros2Robot(args.robot, contract, max_age_s=max_age, safe_mode=args.safe_action,
                         period=period, policy_sha256=policy.info.get("sha256"))
    try:
        robot = UdpRobot(args.robot, bind=args.bind, max_age_s=max_age)
    except ValueError as exc:
        raise DeployError(str(exc)) from exc
    robot.hold_action = policy.zero_action()
    return robot


def set_realtime(priority: int) -> None:
    """SCHED_FIFO for this thread: the scheduler no longer preempts it for ordinary work."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, OSError, ValueError) as exc:
        warn(f"--rt-priority {priority} refused ({exc}); running at normal priority")


def run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    policy = Policy(args.policy, threads=args.threads)
    try:
        rate_hz = resolve_rate(args.rate_hz, policy.metadata)
    except ValueError as exc:
        raise DeployError(str(exc)) from exc
    loop = RateLoop(rate_hz, warn=warn)
    robot = make_robot(args, policy, loop.period)
    contract = None if isinstance(robot, SimRobot) else getattr(robot, "contract", None) \
        or load_contract(policy)
    out: dict[str, Any] = {"robot": robot.url, "policy": str(args.policy), "rate_hz": rate_hz,
                           "watchdog_periods": args.watchdog_periods,
                           "safe_action": args.safe_action}
    gc.collect()
    gc.freeze()  # fewer and shorter collections inside the loop
    if args.rt_priority is not None:
        set_realtime(args.rt_priority)
    with StopSignals() as stop:
        t_connect = time.perf_counter()
        first = robot.connect(args.connect_timeout, stop)
        if first is None:
            reason = robot.stop_reason or ("signal" if stop else "no_robot")
            if reason == "no_robot":
                warn(robot.no_answer(args.connect_timeout))
            robot.close()
            return EXIT_CODES[reason], {**out, "reason": reason,
                                        "connect_timeout_s": args.connect_timeout,
                                        **robot.summary()}
        warn(f"startup: first fresh state after {(first.received - t_connect) * 1e3:.0f} ms")
        if isinstance(robot, SimRobot):
            ramp, why = None, "the simulator starts each episode from its own reset"
        else:
            ramp, why = Ramp.plan(contract, args.ramp_s, args.ramp_kp, args.ramp_kd)
        warn(f"startup: ramp {ramp.describe()}" if ramp else f"startup: no ramp ({why})")
        controller = Controller(policy, robot, period=loop.period,
                                watchdog_periods=args.watchdog_periods,
                                safe_mode=args.safe_action, first=first, ramp=ramp)
        stopped: list[str] = []

        def step(_: int) -> bool:
            if stop:
                stopped.append("signal")
                return False
            reason = controller.cycle(time.perf_counter())
            if reason is not None:
                stopped.append(reason)
                return False
            return True

        # Cycles run --phase periods after the robot's observations arrive: late enough to
        # absorb the robot's timing jitter, early enough for the action to reach it in time.
        start_at = first.received + args.phase * loop.period
        try:
            stats = loop.run(step, duration=args.duration, start_at=start_at)
        finally:
            warn("stop: policy off, safe action" if controller.ramp is None else
                 "stop: ramp off, safe action")
            controller.send_safe()
            stop_time = time.perf_counter()
            robot.close()
    reason = stopped[0] if stopped else "duration"
    if reason == "watchdog":
        warn(f"watchdog: no good cycle for {controller.silence_s * 1e3:.1f} ms "
             f"({args.watchdog_periods} periods allowed): sent the safe action and stopped")
    elif reason == "robot_stop":
        warn("the robot sent STOP")
    elif reason == "estop":
        warn("emergency stop: sent the safe action and stopped")
        out["estop_to_safe_command_ms"] = round((robot.estop_safe_at - robot.estop_at) * 1e3, 3)
        out["estop_to_stop_ms"] = round((stop_time - robot.estop_at) * 1e3, 3)
    out.update(reason=reason, exit_code=EXIT_CODES[reason], loop=stats.as_dict(),
               counts=dict(sorted(controller.counts.items())),
               policy_ms=controller.policy_time.percentiles(1e3),
               ramp=ramp.summary() if ramp else {"skipped": why},
               silence_ms=None if controller.silence_s is None else
               round(controller.silence_s * 1e3, 3),
               **robot.summary())
    return EXIT_CODES[reason], out


def report(out: dict[str, Any]) -> str:
    loop = out.get("loop") or {}
    late = loop.get("lateness_ms") or {}
    counts = out.get("counts") or {}
    if out["reason"] == "no_robot":
        return f"{out['robot']}: no robot answered within {out['connect_timeout_s']:g} s"
    lines = [f"{out['robot']}: stopped by {out['reason']}"]
    if loop:
        lines += [
            f"rate       {loop['achieved_hz']} Hz achieved / {loop['target_hz']} Hz target, "
            f"{loop['cycles']} cycles, {loop['missed']} missed, {loop['overruns']} overruns",
            f"lateness   p50 {late['p50']} ms, p99 {late['p99']} ms, max {late['max']} ms",
            f"policy     p50 {out['policy_ms']['p50']} ms, p99 {out['policy_ms']['p99']} ms",
        ]
    lines.append("counts     " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "-"))
    if out.get("dropped"):
        lines.append("dropped    " + ", ".join(f"{k} {v}" for k, v in out["dropped"].items()))
    if out.get("lengths") is not None:
        lines.append(f"episodes   {out['episodes']}, lengths {out['lengths']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, trained_from: str | None = None) -> int:
    """Entry point of an export's ``deploy.py``; returns the exit code."""
    what = f"the policy trained from {trained_from}" if trained_from else "the exported policy"
    args = parse_args(argv, f"Run {what} on a robot at a fixed rate.")
    try:
        code, out = run(args)
    except DeployError as exc:
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"error: {text}", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(out) if args.json else report(out), flush=True)
    return code

