"""scenarios/franka_reach_ppo.json end to end on MuJoCo, in subprocesses of the exported
package: a short training, ``evaluate`` and ``sim2sim`` with the success rate, ``record`` (a
GIF of the arm) and ``export-policy`` with its contract, deployed over UDP against
``serve-robot`` (7 continuous action values; on MuJoCo, and on PyBullet from a PyBullet
export), and over ROS 2 against ``serve-robot --transport ros2`` (the JointState, the grip
site's PoseStamped, the target's PointStamped and the episode start's Header in; the
end-effector command out)."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from dnne_robot.envs import engine_installed
from dnne_robot.envs.env import TaskEnv
from dnne_robot.envs.tasks import FRANKA, FrankaDNNE
from dnne_robot.pipeline import export
from dnne_robot.robot.contract import Contract, build
from dnne_robot.robot.errors import DeployError
from dnne_robot.robot.policy import Policy

from .helpers import LineReader, last_json, run_script, start_script, start_server

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "franka_reach_ppo.json"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mujoco") is None, reason="mujoco not installed"
)


@pytest.fixture(scope="module")
def franka(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MuJoCo export after 1,024 PPO steps (one update), with ``policy.pt``."""
    out = tmp_path_factory.mktemp("franka") / "franka_reach"
    export(SCENARIO, out, sim="mujoco")
    proc = run_script(out, "runner.py", "train", "--steps", "1024", "--seed", "0", "--run-dir",
                      "run", "--no-progress", "--no-export-policy", sim=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_script(out, "runner.py", "export-policy", "--run-dir", "run", "-o", "policy.pt",
                      sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_evaluate_reports_the_success_rate(franka: Path) -> None:
    proc = run_script(franka, "runner.py", "evaluate", "--run-dir", "run", "--episodes", "3",
                      "--json", sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = last_json(proc.stdout)
    assert out["task"] == "FrankaReach" and out["engine"] == "mujoco"
    assert out["lengths"] == [150, 150, 150]
    # One verdict per episode (within 5 cm at its last step): a multiple of 1/3.
    assert out["success_rate"] in (0.0, 1 / 3, 2 / 3, 1.0)


@pytest.mark.slow
def test_evaluate_text_names_the_success_rate(franka: Path) -> None:
    proc = run_script(franka, "runner.py", "evaluate", "--policy", "policy.pt", "--episodes",
                      "2", sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FrankaReach on mujoco: mean return" in proc.stdout
    assert "success rate" in proc.stdout and "%" in proc.stdout


@pytest.mark.slow
def test_sim2sim_shows_the_success_rate(franka: Path) -> None:
    proc = run_script(franka, "runner.py", "sim2sim", "--run-dir", "run", "--episodes", "2",
                      sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, *rows = proc.stdout.strip().splitlines()
    assert "success" in header.split()
    mujoco = next(r for r in rows if r.split()[1] == "mujoco")
    assert mujoco.split()[5].endswith("%")
    # pybullet's physics is not in a --sim mujoco package: that row says so.
    assert any("pybullet" in r and "Re-export with --sim pybullet" in r for r in rows)

    proc = run_script(franka, "runner.py", "sim2sim", "--run-dir", "run", "--episodes", "2",
                      "--json", sim=True, timeout=120)
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    ran = [r for r in rows if not r["skipped"]]
    assert [r["engine"] for r in ran] == ["mujoco"] and 0 <= ran[0]["success_rate"] <= 1


def test_record_writes_a_gif_of_the_arm(franka: Path) -> None:
    imageio = pytest.importorskip("imageio.v3")
    proc = run_script(franka, "runner.py", "record", "--run-dir", "run", "--steps", "8", "-o",
                      "reach.gif", sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "skipped" in proc.stdout:  # MuJoCo has no GL backend here: one line, no file
        assert "MuJoCo cannot render" in proc.stdout or "MUJOCO_GL" in proc.stdout
        pytest.skip(proc.stdout.strip())
    assert "wrote reach.gif" in proc.stdout
    frames = imageio.imread(franka / "reach.gif")
    assert frames.shape[0] == 9 and frames.shape[-1] == 3
    # The frames show a scene (not one flat colour) and the arm moves between them.
    assert frames[0].std() > 10
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).max() > 0


def _deploy_over_udp(export_dir: Path, engine: str, seconds: str) -> None:
    """deploy.py against serve-robot, both in subprocesses of ``export_dir``: actions flow,
    all valid, and deploy.py read the policy's contract (its line on the ramp says so)."""
    server, port, _ = start_server(export_dir, "--duration", "30")
    try:
        proc = run_script(export_dir, "deploy.py", "--policy", "policy.pt", "--robot",
                          f"udp://127.0.0.1:{port}", "--duration", seconds, "--json",
                          "--watchdog-periods", "60", timeout=60)
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    # The UDP path loads the contract (an end-effector command, no default pose: no ramp).
    assert "startup: no ramp (the contract names no default pose)" in proc.stderr, proc.stderr
    stats = last_json(proc.stdout)
    assert stats["reason"] == "duration"
    # A busy machine misses some of the 60 Hz cycles (no new observation, no action): only
    # that actions flowed is checked here, not the rate (test_deploy.py checks the rate).
    assert stats["loop"]["cycles"] >= 60 and stats["counts"]["actions"] >= 30, stats
    for bad in ("bad_obs", "bad_actions", "policy_errors"):
        assert stats["counts"].get(bad, 0) == 0, stats

    robot = last_json(out.decode())
    assert robot["task"] == "FrankaReach" and robot["engine"] == engine
    assert robot["stopped_by"] == "SIGINT"
    # The simulator applied the controller's actions: 7 finite values each (anything else is
    # counted as a dropped "bad_action" and not applied), most of those deploy.py sent. The
    # robot steps once per period with the newest action: on a busy machine two can land in
    # one period (the later replaces the earlier), and the safe action comes with STOP, so
    # a few more actions than steps is expected.
    assert robot["actions"] >= 30 and robot["steps"] >= 0.9 * robot["actions"], robot
    assert robot["actions"] >= 0.8 * stats["counts"]["actions"], (robot, stats)
    assert robot["dropped"].get("bad_action", 0) == 0, robot


def test_policy_deploys_over_udp_with_seven_finite_actions(franka: Path) -> None:
    _deploy_over_udp(franka, "mujoco", "2")


@pytest.mark.slow
@pytest.mark.skipif(not engine_installed("pybullet"), reason="pybullet not installed")
def test_the_policy_deploys_over_udp_on_pybullet(franka: Path, tmp_path: Path) -> None:
    """The MuJoCo-trained policy and its contract on a PyBullet export's serve-robot."""
    out = tmp_path / "franka_pybullet"
    export(SCENARIO, out, sim="pybullet")
    for name in ("policy.pt", "policy.json"):
        shutil.copy(franka / name, out / name)
    _deploy_over_udp(out, "pybullet", "2")


# -- the policy contract -----------------------------------------------------------------------
ARM = [f"panda_joint{i}" for i in range(1, 8)]
FINGERS = ["panda_finger_joint1", "panda_finger_joint2"]


def _contract(task: str, obs_dim: int) -> dict | None:
    return build({"metadata": {"task": task}, "observation": {"dim": obs_dim},
                  "action": {"kind": "continuous", "low": [-1.0] * 7, "high": [1.0] * 7}})


def test_export_policy_writes_the_franka_contract(franka: Path) -> None:
    info = json.loads((franka / "policy.json").read_text())
    c = info["contract"]
    assert c["task"] == "FrankaReach" and c["joint_names"] == [*ARM, *FINGERS]
    assert c["observation"]["names"] == [
        "target_x", "target_y", "target_z", "eef_x", "eef_y", "eef_z", "eef_qx", "eef_qy",
        "eef_qz", "eef_qw", "panda_finger_joint1_position", "panda_finger_joint2_position",
        "episode_time"]
    fields = c["observation"]["fields"]
    assert [f["joint"] for f in fields] == [None] * 10 + FINGERS + [None]
    assert [f["source"] for f in fields] == (["target"] * 3 + ["forward_kinematics"] * 7
                                             + [None, None, "episode_time"])
    action = c["action"]
    assert action["joints"] is None and action["interface"] == "end_effector_delta"
    assert action["names"][-1] == "gripper" and action["safe_command"] == [0.0] * 7
    contract = Contract(c, "policy.json")
    assert contract.check_examples(Policy(franka / "policy.pt")) == 4
    assert contract.command_joints == [] and contract.cartesian == "end_effector_delta"


def test_the_franka_contract_says_what_the_env_computes() -> None:
    """Every number of the contract is the task's: the observation's layout and sources,
    the joints' names, the command's scale and the controller's gains and joints."""
    c = _contract("FrankaReach", 13)
    assert c is not None
    names = c["observation"]["names"]
    for field, (lo, hi) in FrankaDNNE.fields("osc").items():
        prefix = {"target_pos": "target_", "eef_pos": "eef_", "eef_quat": "eef_q",
                  "gripper_theta": "panda_finger", "episode_time": "episode_time"}[field]
        assert all(n.startswith(prefix) for n in names[lo:hi + 1]), (field, names[lo:hi + 1])
    env = TaskEnv("FrankaReach", "mujoco")
    try:
        assert list(env.physics.joint_names()) == c["joint_names"]
        obs, _ = env.reset(seed=2)
        for _ in range(3):
            obs, *_ = env.step(env.action_space.sample())
        contract = Contract(c, "FrankaReach")
        q = dict(zip(c["joint_names"], env.physics.qpos, strict=True))
        from_joints = contract.observation(q, {}, {})
        joint = [f["joint"] is not None for f in c["observation"]["fields"]]
        np.testing.assert_allclose(from_joints[joint], obs[joint], atol=1e-6)
        pos, _ = env.physics.site_pose("panda_grip_site")
        np.testing.assert_allclose(obs[:3], env.task.target, atol=1e-6)  # source: target
        np.testing.assert_allclose(obs[3:6], pos, atol=1e-6)  # forward kinematics
        assert obs[12] == pytest.approx(3 * FRANKA.dt)  # episode_time
    finally:
        env.close()
    action = c["action"]
    assert action["scale"] == [*FRANKA.osc_cmd_limit, 1.0]
    ctl = action["controller"]
    assert (ctl["kp"], ctl["kp_null"]) == (FRANKA.kp, FRANKA.kp_null)
    assert (ctl["kd"], ctl["kd_null"]) == (2 * math.sqrt(FRANKA.kp), 2 * math.sqrt(FRANKA.kp_null))
    assert ctl["null_pose"] == list(FRANKA.default_dof_pos[:7])
    assert ctl["effort_limit"] == list(FRANKA.effort)
    assert ctl["torque_joints"] == [ARM[j] for j in FRANKA.controlled_joints]
    assert ctl["held_joints"] == [j for i, j in enumerate(ARM) if i not in
                                  FRANKA.controlled_joints]
    assert (ctl["gripper"]["open"], ctl["gripper"]["closed"]) == (FRANKA.upper[7],
                                                                 FRANKA.lower[7])
    assert c["frames"]["panda_link0"]["position"] == list(FRANKA.base_position)
    assert c["frames"]["panda_grip_site"]["position"] == [0.0, 0.0, FRANKA.grip_offset]
    assert c["observation"]["clip"] == FRANKA.clip_observations


def test_joint_torque_franka_policies_get_their_own_layout() -> None:
    """joint_tor (20 values): all 9 joint positions observed, 7 torques commanded."""
    c = _contract("FrankaDNNE", 20)
    assert c is not None
    fields = c["observation"]["fields"]
    assert [f["joint"] for f in fields[10:19]] == [*ARM, *FINGERS]
    assert FrankaDNNE.fields("joint_tor")["joint_theta"] == (10, 18)
    assert c["action"]["joints"] == ARM and c["action"]["interface"] == "effort"
    assert c["action"]["scale"] == list(FRANKA.joint_cmd_limit)
    assert c["action"]["controller"]["torque_joints"] == ["panda_joint1", "panda_joint2",
                                                          "panda_joint4"]
    assert _contract("FrankaReach", 14) is None  # no layout of that size: no contract


def test_ros2_accepts_both_franka_contracts_and_refuses_an_incomplete_source() -> None:
    for obs_dim in (13, 20):
        Contract(_contract("FrankaReach", obs_dim), "policy.json").require_ros2()
    c = _contract("FrankaReach", 13)
    c["observation"]["fields"][9]["source"] = None  # eef_qw: no source, no joint
    with pytest.raises(DeployError) as err:
        Contract(c, "policy.json").require_ros2()
    text = str(err.value)
    assert "\n" not in text and "1 of its 13 observation values are neither in a JointState " \
        "nor from a known source: eef_qw" in text, text
    assert "6 observation values from forward_kinematics, which gives 7" in text, text


# -- over ROS 2 --------------------------------------------------------------------------------
def _messages(env: TaskEnv, frame: str = "world") -> tuple:
    """What a Franka robot publishes, from the sim's own state (not its observation): the
    JointState of all nine joints, the grip site's PoseStamped (in ``frame``: world or
    panda_link0), the target's PointStamped and the episode start's Header, stamped as
    serve-robot does (the simulated time)."""
    from geometry_msgs.msg import PointStamped, PoseStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Header

    from dnne_robot.robot.ros2 import set_stamp

    dt = env.task.params.dt
    t0 = 7.0  # the episode started 7 s into the robot's clock
    state = JointState(name=list(env.physics.joint_names()),
                       position=[float(x) for x in env.physics.qpos[:9]])
    set_stamp(state.header, t0 + env.task.steps * dt)
    start = Header(frame_id="world")
    set_stamp(start, t0)
    base = np.array(FRANKA.base_position) if frame == "panda_link0" else np.zeros(3)
    pos, quat = env.task.eef(env.physics)
    pose = PoseStamped()
    pose.header.frame_id = frame
    p, q = pose.pose.position, pose.pose.orientation
    p.x, p.y, p.z = (float(v) for v in pos - base)
    # Either sign of the quaternion: the transport picks qx >= 0, as the env does.
    q.x, q.y, q.z, q.w = (float(-v) for v in quat)
    target = PointStamped()
    target.header.frame_id = frame
    target.point.x, target.point.y, target.point.z = (float(v) for v in
                                                      np.array(env.task.target) - base)
    return state, pose, target, start


@pytest.mark.parametrize(("task", "options", "obs_dim"), [
    ("FrankaReach", {}, 13), ("FrankaDNNE", {"control_type": "joint_tor"}, 20)])
@pytest.mark.parametrize("frame", ["world", "panda_link0"])
def test_ros2_messages_assemble_the_observation_the_env_computes(
        task: str, options: dict, obs_dim: int, frame: str) -> None:
    from dnne_robot.robot.ros2 import source_values

    contract = Contract(_contract(task, obs_dim), "policy.json")
    env = TaskEnv(task, "mujoco", **options)
    try:
        obs, _ = env.reset(seed=4)
        rng = np.random.default_rng(0)
        for _ in range(5):
            obs, *_ = env.step(rng.uniform(-1, 1, 7).astype(np.float32))
            state, pose, target, start = _messages(env, frame)
            sources, problem = source_values(contract.data["frames"], state.header.stamp,
                                             pose, target, start)
            assert problem is None
            got = contract.observation(dict(zip(state.name, state.position, strict=True)),
                                       {}, {}, sources)
            np.testing.assert_allclose(got, obs, atol=2e-6)
        pose.header.frame_id = "panda_hand"  # not a frame of the contract
        assert source_values(contract.data["frames"], state.header.stamp, pose, target,
                             start)[1] == "pose frame 'panda_hand'"
    finally:
        env.close()


def test_franka_deploys_over_ros2_against_serve_robot(franka: Path, ros_domain: int) -> None:
    _deploy_over_ros2(franka, "mujoco")


@pytest.mark.slow
@pytest.mark.skipif(not engine_installed("pybullet"), reason="pybullet not installed")
def test_franka_deploys_over_ros2_on_pybullet(franka: Path, ros_domain: int,
                                              tmp_path: Path) -> None:
    """The MuJoCo-trained policy on a PyBullet export's ROS 2 serve-robot."""
    out = tmp_path / "franka_pybullet"
    export(SCENARIO, out, sim="pybullet")
    for name in ("policy.pt", "policy.json"):
        shutil.copy(franka / name, out / name)
    _deploy_over_ros2(out, "pybullet")


def _deploy_over_ros2(franka: Path, engine: str) -> None:
    """serve-robot --transport ros2 publishes the JointState, the grip site's pose, the
    target and the episode start; deploy.py assembles the 13 values from them and publishes
    the 7-value end-effector command, which the simulated arm applies through OSC."""
    server = start_script(franka, "runner.py", "serve-robot", "--transport", "ros2",
                          "--duration", "60", sim=True)
    try:
        err = LineReader(server.stderr)
        err.wait_for("waiting for a controller", 60)
        proc = run_script(franka, "deploy.py", "--policy", "policy.pt", "--robot", "ros2:///",
                          "--duration", "3", "--json", "--watchdog-periods", "60", timeout=60)
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    stats = last_json(proc.stdout)
    robot = last_json(out.decode())
    print(json.dumps({"deploy": stats, "robot": robot}))
    assert stats["reason"] == "duration"
    assert stats["robot"].startswith("ros2:///joint_states?command=/eef_delta_controller/"
                                     "commands&estop=/emergency_stop&pose=/grip_site_pose&"
                                     "target=/target&episode=/episode_start"), stats["robot"]
    ros2 = stats["ros2"]
    assert ros2["command_topic"] == "/eef_delta_controller/commands"
    assert ros2["source_messages"]["forward_kinematics"] >= 60, ros2
    assert ros2["source_messages"]["target"] >= 1 and ros2["source_messages"][
        "episode_time"] >= 1, ros2
    # A busy machine misses some of the 60 Hz cycles: that actions flowed is checked here.
    assert stats["loop"]["cycles"] >= 90 and stats["counts"]["actions"] >= 60, stats
    for bad in ("bad_obs", "bad_actions", "policy_errors"):
        assert stats["counts"].get(bad, 0) == 0, stats
    assert robot["task"] == "FrankaReach" and robot["transport"] == "ros2"
    assert robot["engine"] == engine
    assert robot["topics"] == {"state": "/joint_states",
                               "command": "/eef_delta_controller/commands",
                               "forward_kinematics": "/grip_site_pose", "target": "/target",
                               "episode_time": "/episode_start"}, robot
    # The arm applied them: 7 finite values each (anything else is a dropped bad_command).
    assert robot["commands"] >= 0.8 * stats["counts"]["actions"], (robot, stats)
    assert robot["steps"] >= 60 and robot["dropped"].get("bad_command", 0) == 0, robot


def test_deploy_names_the_franka_topic_that_stays_silent(franka: Path, ros_domain: int) -> None:
    """Joint states but no pose, target or episode start: deploy waits for all of them and
    then says which never came."""
    from .test_ros2 import RosPeer

    def state(k: int) -> tuple[list[str], list[float], list[float]]:
        return [*ARM, *FINGERS], [0.0] * 9, [0.0] * 9

    with RosPeer(ros_domain, state):
        proc = run_script(franka, "deploy.py", "--policy", "policy.pt", "--robot", "ros2:///",
                          "--connect-timeout", "6", timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "joint states on /joint_states, but no target on /target (0 publisher(s)), no " \
        "pose on /grip_site_pose (0 publisher(s)), no episode_start on /episode_start" \
        in proc.stderr, proc.stderr


def test_bad_ros2_topics_for_franka_are_one_line(franka: Path) -> None:
    proc = run_script(franka, "deploy.py", "--policy", "policy.pt", "--robot",
                      "ros2:///joint_states?pose=/bad topic", "--duration", "1", timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "pose topic '/bad topic' is not a valid name" in lines[0], lines
    proc = run_script(franka, "deploy.py", "--policy", "policy.pt", "--robot",
                      "ros2:///joint_states?goal=/g", "--duration", "1", timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "unknown parameter 'goal' (known: command, estop, pose, target, episode)" in lines[0]


def test_serve_robot_messages_give_deploy_the_sim_observation(ros_domain: int) -> None:
    """serve-robot's publishers and deploy.py's subscriptions, in this process over DDS: after
    every step, the observation deploy.py assembles from the JointState, PoseStamped,
    PointStamped and episode-start Header is the one the sim env computed, across an episode's
    end (new target, episode time back to 0)."""
    from dnne_robot.robot.ros2 import Ros2Robot
    from dnne_robot.robot.ros2_server import Ros2RobotServer

    server = Ros2RobotServer("FrankaReach", "mujoco", seed=5)
    robot = Ros2Robot("ros2:///", Contract(server.contract.data, "the task"), max_age_s=10.0,
                      safe_mode="zero", period=server.dt)

    def heard() -> list[int]:
        """How many poses, targets and episode starts deploy's node received."""
        with robot.lock:
            return [robot.heard[s] for s in ("forward_kinematics", "target", "episode_time")]

    def observe(before: list[int], new_episode: bool) -> np.ndarray:
        """Once this step's messages are in (the JointState comes last but may overtake)."""
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            now = heard()
            if now[0] > before[0] and (not new_episode or min(now[1] - before[1],
                                                              now[2] - before[2]) > 0):
                obs = robot.observe()
                if obs is not None:
                    return obs.values
            time.sleep(0.001)
        raise AssertionError(f"no observation over ROS 2 after {server.steps} steps: "
                             f"{dict(robot.counts)}, {dict(robot.heard)}")

    try:
        end = time.monotonic() + 10.0  # discovery: publish until all three are heard
        while min(heard()) == 0 and time.monotonic() < end:
            server.publish()
            time.sleep(0.02)
        rng = np.random.default_rng(1)
        checked, times = 0, []
        for k in range(155):
            before, start = heard(), server.sent_start
            with server.lock:
                server.command = server.contract.command(rng.uniform(-1, 1, 7))
            server.cycle(k + 1)
            got = observe(before, server.sent_start != start)
            np.testing.assert_allclose(got, server.obs[0], atol=1e-6, err_msg=f"step {k + 1}")
            checked += 1
            times.append(float(got[12]))
        assert server.episodes and server.episodes[0]["length"] == 150, server.episodes
        assert checked == 155 and times[149] == 0.0 and times[150] > 0.0, times[145:]
    finally:
        robot.close()
        server.close()


def test_a_pose_in_an_unknown_frame_gets_the_safe_command(franka: Path,
                                                          ros_domain: int) -> None:
    """A pose in a frame that the contract cannot place in the world (panda_hand) is not
    guessed at: NaN values, the safe command, one line a second naming the frame, and the
    watchdog stops deploy after its periods without a good cycle (exit 3)."""
    from geometry_msgs.msg import PointStamped, PoseStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Float64MultiArray, Header

    from .test_ros2 import RosPeer

    def state(k: int) -> tuple[list[str], list[float], list[float]]:
        return [*ARM, *FINGERS], [0.0] * 7 + [0.04, 0.04], [0.0] * 9

    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    with RosPeer(ros_domain, state) as peer:
        node = peer.node
        node.create_publisher(PointStamped, "/target", latched).publish(
            PointStamped(header=Header(frame_id="world")))
        node.create_publisher(Header, "/episode_start", latched).publish(Header())
        pose = node.create_publisher(PoseStamped, "/grip_site_pose", 10)
        msg = PoseStamped(header=Header(frame_id="panda_hand"))
        msg.pose.orientation.w = 1.0
        node.create_timer(0.02, lambda: pose.publish(msg))
        sent: list[list[float]] = []
        node.create_subscription(Float64MultiArray, "/eef_delta_controller/commands",
                                 lambda m: sent.append(list(m.data)), 100)
        proc = run_script(franka, "deploy.py", "--policy", "policy.pt", "--robot", "ros2:///",
                          "--duration", "10", "--json", "--watchdog-periods", "30",
                          "--connect-timeout", "6", timeout=60)
        time.sleep(0.2)
    assert proc.returncode == 3, proc.stderr
    stats = last_json(proc.stdout)
    assert stats["reason"] == "watchdog", stats
    assert stats["counts"]["bad_obs"] >= 10 and "actions" not in stats["counts"], stats
    assert "pose frame 'panda_hand' is neither world nor one of the contract's frames " \
        "(panda_grip_site, panda_link0)" in proc.stderr, proc.stderr
    assert sent and all(c == [0.0] * 7 for c in sent), sent[:5]
