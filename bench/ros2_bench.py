"""ROS 2 transport benchmark: round-trip latency beside the UDP transport's, in one run.

The "robot" (this process) sends a state every period on a :class:`RateLoop` at 100 and
500 Hz; an echo controller in another process answers each state with a command at once;
the robot times each state from just before it is sent to the moment its command is back
(one clock, ``perf_counter``). Each transport as deploy.py uses it:

* ``udp``: the project's protocol (:class:`~dnne_robot.robot.protocol.Endpoint`): OBS out,
  ACT back with ``ref`` = the OBS's ``seq``; replies are read by a thread blocked in
  ``select``, as deploy.py's loop would find them.
* ``ros2``: ``sensor_msgs/JointState`` (two joints) out, ``std_msgs/Float64MultiArray`` back,
  with deploy.py's QoS (states best effort, commands reliable, keep last 1) on rclpy
  single-threaded executors in background threads (:class:`~dnne_robot.robot.ros2.RosNode`).
  Discovery stays on this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a random
  ``ROS_DOMAIN_ID`` unless one is set).

Per row: round trip p50/p99/max in ms, ``missed`` (deadlines the robot's loop skipped),
``late`` (commands back after more than one period) and ``lost`` (never back: with keep
last 1, a state or command that the next one overtakes before the callback runs is dropped,
by design, so ``lost`` counts those). The
``added`` column is ROS 2's p99 minus UDP's at the same rate. The echo answers in its
receive callback: this is the transport's latency, not deploy.py's (which also waits
``--phase`` and runs the policy).

``python bench/ros2_bench.py [--quick] [--json]``; ``python -m bench --only ros2``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rclpy  # noqa: E402, F401 - without ROS 2, ``python -m bench`` skips this section

from dnne_robot.robot.control import RateLoop  # noqa: E402
from dnne_robot.robot.protocol import Endpoint, MsgType  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RATES = (100.0, 500.0)
STATE, COMMAND = "/bench/joint_states", "/bench/commands"
JOINTS = ["shoulder", "elbow"]


# -- the echo controller (another process) ---------------------------------------------------
def echo_udp() -> None:
    ep = Endpoint("127.0.0.1", 0)
    print(ep.address[1], flush=True)
    while True:
        ep.wait_readable(1.0)
        for pkt in ep.receive():
            if pkt.msg.type == MsgType.STOP:
                return
            ep.send(MsgType.ACT, pkt.addr, [0.0, 0.0], ref=pkt.msg.seq)


def echo_ros2() -> None:
    from dnne_robot.robot.ros2 import RosNode, import_ros

    ros = import_ros()
    rn = RosNode(ros, "bench_echo")
    pub = rn.node.create_publisher(ros.Float64MultiArray, COMMAND, ros.command_qos)

    def on_state(msg: Any) -> None:
        out = ros.Float64MultiArray()
        out.data = [float(msg.position[0]), 0.0]
        pub.publish(out)

    rn.node.create_subscription(ros.JointState, STATE, on_state, ros.state_qos)
    print("ready", flush=True)
    sys.stdin.read()  # until the robot closes our stdin
    rn.close()


# -- the robot (this process) ------------------------------------------------------------------
def start_echo(kind: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--echo", kind],
                            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise RuntimeError(f"the {kind} echo did not start")
    return proc, line


def summarise(transport: str, rate: float, sent: dict[int, float], back: dict[int, float],
              loop: Any) -> dict[str, Any]:
    period = 1.0 / rate
    rtt = np.array([back[s] - t for s, t in sent.items() if s in back]) * 1e3
    pct = np.percentile(rtt, [50, 99]) if rtt.size else [np.nan, np.nan]
    return {"transport": transport, "rate_hz": rate, "states": len(sent),
            "achieved_hz": round(loop.achieved_hz or 0.0, 2), "missed": loop.missed,
            "late": int((rtt > period * 1e3).sum()), "lost": len(sent) - rtt.size,
            "p50_ms": round(float(pct[0]), 4), "p99_ms": round(float(pct[1]), 4),
            "max_ms": round(float(rtt.max()), 4) if rtt.size else None}


def measure_udp(rate: float, seconds: float) -> dict[str, Any]:
    proc, port = start_echo("udp")
    addr = ("127.0.0.1", int(port))
    ep = Endpoint("127.0.0.1", 0)
    sent: dict[int, float] = {}
    back: dict[int, float] = {}
    done = threading.Event()

    def receiver() -> None:
        while not done.is_set():
            if ep.wait_readable(0.05):
                for pkt in ep.receive():
                    back[pkt.msg.ref] = pkt.received

    thread = threading.Thread(target=receiver, daemon=True)
    thread.start()
    try:
        for _ in range(int(0.5 * rate)):  # warm up: the echo's first replies
            ep.send(MsgType.OBS, addr, [0.0] * 4)
            time.sleep(1.0 / rate)
        time.sleep(0.1)
        back.clear()

        def step(_: int) -> None:
            t = time.perf_counter()
            sent[ep.send(MsgType.OBS, addr, [0.0, 0.0, 0.0, 0.0])] = t

        stats = RateLoop(rate).run(step, duration=seconds)
        time.sleep(0.2)
    finally:
        done.set()
        thread.join(1.0)
        ep.send(MsgType.STOP, addr)
        ep.close()
        proc.wait(5)
    return summarise("udp", rate, sent, back, stats)


def measure_ros2(rate: float, seconds: float) -> dict[str, Any]:
    from dnne_robot.robot.ros2 import RosNode, import_ros

    ros = import_ros()
    proc, _ = start_echo("ros2")
    rn = RosNode(ros, "bench_robot")
    sent: dict[int, float] = {}
    back: dict[int, float] = {}

    def on_command(msg: Any) -> None:
        back[int(msg.data[0])] = time.perf_counter()

    pub = rn.node.create_publisher(ros.JointState, STATE, ros.state_qos)
    rn.node.create_subscription(ros.Float64MultiArray, COMMAND, on_command, ros.command_qos)
    msg = ros.JointState()
    msg.name = JOINTS
    try:
        end = time.perf_counter() + 20.0
        while not back and time.perf_counter() < end:  # discovery, then warm up
            msg.position, msg.velocity = [-1.0, 0.0], [0.0, 0.0]
            pub.publish(msg)
            time.sleep(0.02)
        if not back:
            raise RuntimeError("the ROS 2 echo never answered (discovery failed?)")
        time.sleep(0.5)
        back.clear()
        seq = [0]

        def step(_: int) -> None:
            seq[0] += 1
            msg.position = [float(seq[0]), 0.0]
            msg.velocity = [0.0, 0.0]
            sent[seq[0]] = time.perf_counter()
            pub.publish(msg)

        stats = RateLoop(rate).run(step, duration=seconds)
        time.sleep(0.2)
    finally:
        rn.close()
        proc.stdin.close()
        proc.wait(10)
    back.pop(-1, None)
    return summarise("ros2", rate, sent, back, stats)


def run(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randrange(0, 102)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    seconds = 3.0 if quick else 10.0
    rows = []
    for rate in RATES:
        rows.append(measure_udp(rate, seconds))
        rows.append(measure_ros2(rate, seconds))
    for r in rows:
        udp = next(u for u in rows if u["transport"] == "udp" and u["rate_hz"] == r["rate_hz"])
        r["added_p99_ms"] = round(r["p99_ms"] - udp["p99_ms"], 4)
    return {"quick": quick, "seconds_per_row": seconds, "cpus": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
            "ros_domain_id": int(os.environ["ROS_DOMAIN_ID"]), "rows": rows}


def format_results(report: dict[str, Any]) -> str:
    lines = [f"round trip: state sent -> command back ({report['seconds_per_row']:g} s per row, "
             f"{report['cpus']} CPUs, load {report['load_avg_1min']})"]
    head = (f"{'rate Hz':>8} {'transport':<9} {'states':>7} {'achieved':>9} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'max ms':>8} {'added p99':>10} {'missed':>7} {'late':>5} "
            f"{'lost':>5}")
    lines += [head, "-" * len(head)]
    for r in report["rows"]:
        lines.append(f"{r['rate_hz']:>8g} {r['transport']:<9} {r['states']:>7} "
                     f"{r['achieved_hz']:>9.2f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
                     f"{r['max_ms']:>8.3f} {r['added_p99_ms']:>10.3f} {r['missed']:>7} "
                     f"{r['late']:>5} {r['lost']:>5}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 s per row instead of 10")
    p.add_argument("--json", action="store_true")
    p.add_argument("--echo", choices=["udp", "ros2"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.echo:
        (echo_udp if args.echo == "udp" else echo_ros2)()
        return
    report = run(args.quick)
    print(json.dumps(report) if args.json else format_results(report))


if __name__ == "__main__":
    main()
