"""deploy.py over ROS 2, end to end: real rclpy nodes and topics, discovery on this machine
only (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) and a ROS_DOMAIN_ID of its own per test
(tests/conftest.py).

The robot is ``runner.py serve-robot --transport ros2 --sim mujoco`` or a scripted JointState
publisher (an rclpy node in this process) for the faults.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

# The test extra installs ROS 2 (ros-rclpy and the messages): these tests never skip.
import rclpy
import rclpy.executors
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray

from dnne_robot.pipeline import export

from .conftest import SCENARIOS
from .helpers import LineReader, last_json, run_script, script_env, start_script

PERIOD = 0.02
STATE, COMMAND, ESTOP = "/joint_states", "/forward_effort_controller/commands", "/emergency_stop"
URL = f"ros2://{STATE}?command={COMMAND}"
PATIENT = ("--watchdog-periods", "50")


@pytest.fixture
def domain(ros_domain: int) -> int:
    """This test's own ROS_DOMAIN_ID (tests/conftest.py) and localhost-only discovery."""
    return ros_domain


@pytest.fixture(scope="session")
def ros2_export(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CartPole export for mujoco, with the trained policy and its contract."""
    out = tmp_path_factory.mktemp("ros2") / "cartpole"
    export(SCENARIOS / "cartpole_ppo.json", out, sim="mujoco")
    for name in ("policy.pt", "policy.json"):
        shutil.copy(trained / name, out / name)
    return out


class RosPeer:
    """An rclpy node in this process: publishes joint states from ``state(k)`` every period,
    records the commands it hears, and can publish the e-stop or a rival command."""

    def __init__(self, domain: int, state: Callable[[int], tuple[list[str], list[float],
                                                                  list[float]]] | None) -> None:
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("test_peer", context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.state = state
        self.commands: list[tuple[float, list[float]]] = []
        self.state_pub = self.node.create_publisher(JointState, STATE, 10)
        self.estop_pub = self.node.create_publisher(Bool, ESTOP, 10)
        self.node.create_subscription(
            Float64MultiArray, COMMAND,
            lambda m: self.commands.append((time.perf_counter(), list(m.data))),
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        self.k = 0
        if state is not None:
            self.node.create_timer(PERIOD, self._tick)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)

    def _tick(self) -> None:
        names, pos, vel = self.state(self.k)
        self.state_pub.publish(JointState(name=names, position=pos, velocity=vel))
        self.k += 1

    def __enter__(self) -> RosPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.executor.shutdown(timeout_sec=2)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(5)


def upright(k: int) -> tuple[list[str], list[float], list[float]]:
    return ["slider", "hinge"], [0.0, 0.01 * np.sin(k)], [0.0, 0.0]


def start_ros_server(export_dir: Path, *args: str) -> tuple[object, LineReader]:
    proc = start_script(export_dir, "runner.py", "serve-robot", "--transport", "ros2", *args,
                        sim=True)
    err = LineReader(proc.stderr)
    try:
        err.wait_for("waiting for a controller", 60)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, err


def stop(proc: object) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out.decode()


@pytest.fixture
def cleanup() -> Iterator[list]:
    procs: list = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_pole_stays_up_over_ros2_for_10_s(ros2_export: Path, domain: int, cleanup: list) -> None:
    server, _ = start_ros_server(ros2_export, "--duration", "60")
    cleanup.append(server)
    proc = run_script(ros2_export, "deploy.py", "--policy", "policy.pt", "--robot", URL,
                      "--duration", "10", "--json", *PATIENT, timeout=90)
    robot = last_json(stop(server))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    stats = last_json(proc.stdout)
    loop = stats["loop"]
    print(json.dumps({"deploy": stats, "robot": robot}))
    assert stats["reason"] == "duration"
    assert abs(loop["achieved_hz"] - 50.0) <= 5.0, loop
    assert loop["missed"] <= max(5, 0.05 * loop["cycles"]), loop
    assert stats["counts"]["actions"] >= 0.8 * loop["cycles"], stats
    assert stats["counts"].get("bad_obs", 0) == 0
    assert robot["steps"] >= 400, robot
    # The pole stays up while the policy drives: no episode terminates (falls) before the
    # last policy command; after it the safe command (0 N, applied as -10 N) may topple it.
    assert all(how != "terminated" or step >= stats["counts"]["actions"] - 2
               for step, how in robot["episode_ends"]), robot
    assert "startup: hold" in proc.stderr and "stop: policy off" in proc.stderr


def test_shuffled_joint_order_still_balances(ros2_export: Path, domain: int,
                                             cleanup: list) -> None:
    server, _ = start_ros_server(ros2_export, "--duration", "60", "--joint-order",
                                 "hinge,slider")
    cleanup.append(server)
    proc = run_script(ros2_export, "deploy.py", "--policy", "policy.pt", "--robot", URL,
                      "--duration", "3", "--json", *PATIENT, timeout=60)
    robot = last_json(stop(server))
    assert proc.returncode == 0, proc.stderr
    stats = last_json(proc.stdout)
    assert robot["steps"] >= 100, robot
    assert all(how != "terminated" or step >= stats["counts"]["actions"] - 2
               for step, how in robot["episode_ends"]), robot


WATCHDOG = 10


def test_killed_robot_leads_to_a_safe_stop(ros2_export: Path, domain: int,
                                           cleanup: list) -> None:
    server, err = start_ros_server(ros2_export, "--duration", "60")
    cleanup.append(server)
    with RosPeer(domain, None) as peer:
        deploy = start_script(ros2_export, "deploy.py", "--policy", "policy.pt", "--robot", URL,
                              "--duration", "30", "--watchdog-periods", str(WATCHDOG), "--json")
        cleanup.append(deploy)
        err.wait_for("stepping", 60)
        time.sleep(1.0)
        server.kill()
        killed = time.perf_counter()
        out, _ = deploy.communicate(timeout=30)
        exited = time.perf_counter() - killed
        time.sleep(0.2)
    stats = last_json(out.decode())
    assert deploy.returncode == 3 and stats["reason"] == "watchdog", stats
    assert stats["silence_ms"] <= (WATCHDOG + 2) * PERIOD * 1e3 + 50, stats
    assert exited < WATCHDOG * PERIOD + 2.0, exited
    assert stats["counts"]["safe_actions"] >= 1
    assert peer.commands and peer.commands[-1][1] == [0.0], peer.commands[-3:]


def test_nan_joint_states_get_the_safe_action(ros2_export: Path, domain: int) -> None:
    def state(k: int) -> tuple[list[str], list[float], list[float]]:
        names, pos, vel = upright(k)
        if k % 50 >= 40:  # 10 of every 50 states
            pos[1] = float("nan")
        return names, pos, vel

    with RosPeer(domain, state) as peer:
        proc = run_script(ros2_export, "deploy.py", "--policy", "policy.pt", "--robot", URL,
                          "--duration", "1.5", "--json", *PATIENT, timeout=60)
    stats = last_json(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert stats["counts"]["bad_obs"] >= 5, stats
    assert stats["counts"]["safe_actions"] >= 5, stats
    assert "no finite value for pole_angle" in proc.stderr, proc.stderr
    sent = [c for _, c in peer.commands]
    assert [0.0] in sent and all(c in ([0.0], [-10.0], [10.0]) for c in sent), sent[:20]


def test_estop_stops_the_loop_within_one_period(ros2_export: Path, domain: int,
                                                cleanup: list) -> None:
    with RosPeer(domain, upright) as peer:
        deploy = start_script(ros2_export, "deploy.py", "--policy", "policy.pt", "--robot", URL,
                              "--duration", "30", "--json", *PATIENT)
        cleanup.append(deploy)
        err = LineReader(deploy.stderr)
        err.wait_for("startup: policy", 60)
        end = time.monotonic() + 10
        while peer.estop_pub.get_subscription_count() < 1 and time.monotonic() < end:
            time.sleep(0.05)  # a volatile message sent before discovery matched is lost
        time.sleep(0.5)
        peer.estop_pub.publish(Bool(data=True))
        out = deploy.stdout.read()
        deploy.wait(timeout=30)
        time.sleep(0.2)
    stats = last_json(out.decode())
    assert deploy.returncode == 5 and stats["reason"] == "estop", stats
    # The e-stop callback publishes the safe command at once; the loop runs no policy cycle
    # after it and ends on its next cycle: within one period, plus scheduling slack on a
    # shared 2-core machine.
    assert stats["estop_to_safe_command_ms"] <= PERIOD * 1e3, stats
    assert stats["dropped"].get("refused_after_estop", 0) <= 1, stats
    assert stats["estop_to_stop_ms"] <= PERIOD * 1e3 + 30, stats
    assert peer.commands[-1][1] == [0.0]


def test_a_second_command_publisher_is_reported(ros2_export: Path, domain: int) -> None:
    with RosPeer(domain, upright) as peer:
        rival = peer.node.create_publisher(Float64MultiArray, COMMAND, 10)
        peer.node.create_timer(0.1, lambda: rival.publish(Float64MultiArray(data=[10.0])))
        proc = run_script(ros2_export, "deploy.py", "--policy", "policy.pt", "--robot", URL,
                          "--duration", "1.5", "--json", *PATIENT, timeout=60)
    stats = last_json(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert stats["ros2"]["other_command_publishers"] == ["/test_peer"], stats
    assert "another publisher on the command topic" in proc.stderr, proc.stderr


#: Runs deploy.py as on a robot computer, then lists the top-level modules it loaded.
IMPORTS = (
    "import runpy, sys, json; [sys.modules.__setitem__(m, None) for m in "
    "('gymnasium', 'mujoco', 'pybullet', 'dnne_robot')]; sys.argv = sys.argv[1:]\n"
    "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "finally:\n    print(json.dumps(sorted({m.split('.')[0] for m, v in sys.modules.items() "
    "if v is not None})))"
)


#: torch, numpy and ROS 2 used as deploy.py uses them (a node, a publisher, subscriptions):
#: the modules these load by themselves.
BASELINE = """
import sys, json, numpy, torch, rclpy, rclpy.executors
from geometry_msgs.msg import PointStamped, PoseStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, Header
from rclpy.signals import SignalHandlerOptions
ctx = rclpy.context.Context()
rclpy.init(context=ctx, signal_handler_options=SignalHandlerOptions.NO)
node = rclpy.create_node("baseline", context=ctx)
node.create_publisher(Float64MultiArray, "/c", 1)
node.create_subscription(JointState, "/s", print, 1)
node.create_subscription(Bool, "/e", print, 1)
ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
ex.add_node(node)
ex.spin_once(timeout_sec=0.01)
node.get_publishers_info_by_topic("/c")
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_deploy_over_ros2_imports_only_torch_numpy_stdlib_and_ros(ros2_export: Path,
                                                                    domain: int) -> None:
    import subprocess

    with RosPeer(domain, upright):
        proc = subprocess.run([sys.executable, "-c", IMPORTS, "deploy.py", "--policy",
                               "policy.pt", "--robot", URL, "--duration", "0.5", *PATIENT],
                              cwd=ros2_export, env=script_env(), capture_output=True, text=True,
                              timeout=60)
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    # What torch, numpy and the ROS 2 packages import by themselves (torch also imports
    # optional packages that happen to be installed, such as tqdm).
    baseline = subprocess.run([sys.executable, "-c", BASELINE], env=script_env(),
                              capture_output=True, text=True, timeout=60)
    allowed = set(json.loads(baseline.stdout.strip().splitlines()[-1]))
    foreign = [m for m in modules if m not in allowed and m not in sys.stdlib_module_names
               and not m.startswith("_") and m != "framework"]
    assert "rclpy" in modules and "torch" in modules
    assert not foreign, foreign


def test_ramp_over_ros2_moves_the_joint_to_the_default_pose(ros2_export: Path, domain: int,
                                                              tmp_path: Path) -> None:
    """Hold, ramp, policy over ROS 2. No task served over ROS 2 has a default pose (Reach's
    observation holds its target, which no JointState carries), so the CartPole contract is
    rewritten as a continuous effort on the slider with ``default_pose`` 0 m, and the robot is
    a scripted mass on the slider (1 kg, starting 0.3 m away) that applies the commands."""
    for name in ("policy.pt", "deploy.py", "framework"):
        src = ros2_export / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    info = json.loads((ros2_export / "policy.json").read_text())
    c = info["contract"]
    c["action"] = {**c["action"], "kind": "continuous", "size": 1, "scale": [1.0],
                   "offset": [0.0], "sign": [1.0], "clamp": {"low": [-10.0], "high": [10.0]}}
    c.update(default_pose={"slider": 0.0}, ramp_s=1.0, ramp_gains={"kp": [20.0], "kd": [6.0]})
    (tmp_path / "policy.json").write_text(json.dumps(info))
    x, v = [0.3], [0.0]
    peer: RosPeer

    def mass(k: int) -> tuple[list[str], list[float], list[float]]:
        u = peer.commands[-1][1][0] if peer.commands else 0.0
        v[0] += u * PERIOD
        x[0] += v[0] * PERIOD
        return ["slider", "hinge"], [x[0], 0.0], [v[0], 0.0]

    with RosPeer(domain, mass) as peer:
        proc = run_script(tmp_path, "deploy.py", "--policy", "policy.pt", "--robot", URL,
                          "--duration", "1.4", "--json", *PATIENT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    at = [err.find(p) for p in ("startup: hold", "startup: ramp to the default pose",
                                "startup: policy (ramp done", "stop: policy off",
                                "stop: release")]
    assert all(i >= 0 for i in at) and at == sorted(at), err
    ramp = last_json(proc.stdout)["ramp"]
    assert ramp["law"] == "pd_effort" and ramp["cycles"] >= 30, ramp
    errors = ramp["error_rad"]
    assert errors[0] > 0.25 and errors[-1] < 0.5 * errors[0], errors
