"""``runner.py serve-robot --transport ros2``: the simulator as a ROS 2 robot, in real time.

    python runner.py serve-robot --transport ros2 --sim mujoco      # then, elsewhere:
    python deploy.py --policy policy.pt \\
        --robot "ros2:///joint_states?command=/forward_effort_controller/commands"

Every period it applies the newest ``std_msgs/Float64MultiArray`` command the way a
ros2_control forward controller would (one value per commanded joint, in the contract's
joint order; Franka's osc: the end-effector delta and gripper, which the task's own
operational-space control applies), steps one env of the task, and publishes
``sensor_msgs/JointState`` (and ``rosgraph_msgs/Clock`` with the simulated time on
``/clock``), stamped with the simulated time. For a task that observes more than joints
(Franka) it also publishes, before the JointState, the grip site's
``geometry_msgs/PoseStamped`` and, latched, the target's ``geometry_msgs/PointStamped`` and
the episode start (a ``std_msgs/Header``, its stamp), all in the world frame. The task's
env takes its own actions, so a command is turned back into the nearest env action through
the task's contract (:meth:`~.contract.Contract.action`): CartPole takes only +-10 N, and
its safe command, 0 N, becomes the nearest one, -10 N. It does not step until the first
command arrives, and holds still again when commands stop for ``--controller-timeout``.
``--joint-order`` publishes the joints in another order (mapping is by name). Unlike the UDP
robot it cannot refuse a second controller: it counts the publishers on its command topic
and reports them.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from ..envs import make_env
from .contract import Contract, build
from .control import RateLoop
from .ros2 import (
    DEFAULT_EPISODE_TOPIC,
    DEFAULT_POSE_TOPIC,
    DEFAULT_STATE_TOPIC,
    DEFAULT_TARGET_TOPIC,
    QOS_TEXT,
    RosNode,
    command_topic_default,
    import_ros,
    set_stamp,
)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def task_contract(task: str, vec: Any) -> Contract:
    """The contract of any policy for ``task``: the joints and the command mapping."""
    space = vec.single_action_space
    discrete = hasattr(space, "n")
    obs_dim = int(np.prod(vec.single_observation_space.shape))
    action = ({"kind": "discrete", "n": int(space.n)} if discrete else
              {"kind": "continuous", "low": space.low.tolist(), "high": space.high.tolist()})
    data = build({"metadata": {"task": task}, "observation": {"dim": obs_dim},
                  "action": action})
    if data is None:
        raise ValueError(f"task {task!r} names no joints: it cannot be served over ROS 2")
    return Contract(data, f"the {task} task")


class Ros2RobotServer:
    """One simulated env behind ROS 2 topics, stepped at the task's rate."""

    def __init__(self, task: str, engine: str, *, rate_hz: float | None = None, seed: int = 0,
                 state_topic: str = DEFAULT_STATE_TOPIC,
                 command_topic: str | None = None,
                 pose_topic: str = DEFAULT_POSE_TOPIC,
                 target_topic: str = DEFAULT_TARGET_TOPIC,
                 episode_topic: str = DEFAULT_EPISODE_TOPIC,
                 joint_order: list[str] | None = None,
                 controller_timeout_s: float | None = None) -> None:
        self.vec = make_env(task, engine, num_envs=1, seed=seed)
        self.task, self.engine = task, engine
        self.dt = float(self.vec.metadata["dt"])
        self.rate_hz = float(rate_hz) if rate_hz else 1.0 / self.dt
        self.contract = task_contract(task, self.vec)
        self.contract.require_ros2(
            "task", "serve it over UDP (serve-robot --transport udp) for deploy.py --robot "
                    "udp://HOST:PORT")
        self.obs, _ = self.vec.reset(seed=seed)
        #: The env's physics where the observation lacks some of the contract's joints
        #: (Franka's osc policy sees only the fingers): the JointState carries them all.
        self.physics = None
        env = getattr(self.vec, "envs", [None])[0]
        physics = getattr(getattr(env, "unwrapped", None), "physics", None)
        names = self.contract.joint_state(self.obs[0])[0]
        joint_names = list(self.contract.data.get("joint_names") or [])
        if physics is not None and set(names) != set(joint_names) and set(joint_names) <= set(
                physics.joint_names()):
            self.physics = physics
            names = joint_names
        if joint_order:
            unknown = sorted(set(joint_order) - set(names))
            if unknown or len(joint_order) != len(names):
                raise ValueError(f"--joint-order must name the joints {', '.join(names)} "
                                 f"once each, not {', '.join(joint_order)}")
        self.joint_order = joint_order or names
        self.timeout_s = controller_timeout_s or max(0.5, 25.0 / self.rate_hz)
        command_topic = command_topic or command_topic_default(self.contract)
        self.state_topic, self.command_topic = state_topic, command_topic
        #: The topics of the values that are not joint states, by contract source.
        self.needs = self.contract.needs
        self.source_topics = {s: t for s, t in (("forward_kinematics", pose_topic),
                                                ("target", target_topic),
                                                ("episode_time", episode_topic))
                              if s in self.needs}
        ros = import_ros()
        self.ros = ros
        try:
            from rosgraph_msgs.msg import Clock
        except ImportError:
            Clock = None  # noqa: N806 - a message class
        self.Clock = Clock
        self.rn = RosNode(ros, "dnne_sim_robot")
        node = self.rn.node
        self.state_pub = node.create_publisher(ros.JointState, state_topic, ros.state_qos)
        self.clock_pub = node.create_publisher(Clock, "/clock", 10) if Clock else None
        node.create_subscription(ros.Float64MultiArray, command_topic, self._on_command,
                                 ros.command_qos)
        self.source_pubs = {s: node.create_publisher(ros.sources[s][0], topic, ros.sources[s][1])
                            for s, topic in self.source_topics.items()}
        #: What the latched topics last carried: published again only when it changes.
        self.sent_target: list[float] | None = None
        self.sent_start: int | None = None
        self.lock = threading.Lock()
        self.command: np.ndarray | None = None
        self.command_at = -np.inf
        self.counts: Counter[str] = Counter()
        self.running = False
        self.action: Any = None
        self.episodes: list[dict[str, Any]] = []
        self.ep_return, self.ep_length, self.steps = 0.0, 0, 0
        self.publishers: set[str] = set()
        self.max_publishers = 0

    def _on_command(self, msg: Any) -> None:
        values = np.asarray(msg.data, dtype=np.float64)
        with self.lock:
            if values.shape != self.contract.safe_command.shape or not np.all(
                    np.isfinite(values)):
                self.counts["bad_command"] += 1
                return
            self.command, self.command_at = values, time.perf_counter()
            self.counts["commands"] += 1

    def check_publishers(self) -> None:
        infos = self.rn.node.get_publishers_info_by_topic(self.command_topic)
        names = {f"{i.node_namespace.rstrip('/')}/{i.node_name}" for i in infos}
        if len(names) > 1 and len(names) > self.max_publishers:
            say(f"{len(names)} publishers on {self.command_topic}: {', '.join(sorted(names))}; "
                "each command applies until the next, whoever sent it")
        self.max_publishers = max(self.max_publishers, len(names))
        self.publishers |= names

    def cycle(self, k: int) -> None:
        now = time.perf_counter()
        with self.lock:
            command, self.command = self.command, None
            last_at = self.command_at
        if k % max(1, int(self.rate_hz / 2)) == 0:
            self.check_publishers()
        if command is not None:
            if not self.running:
                say(f"controller on {self.command_topic}: stepping")
            self.action, self.running = self.contract.action(command), True
        elif self.running and now - last_at > self.timeout_s:
            say(f"no command for {self.timeout_s:g} s: holding still")
            self.running = False
        elif self.running:
            self.counts["held"] += 1
        if self.running:
            a = np.asarray([self.action])
            obs, reward, terminated, truncated, _ = self.vec.step(a)
            self.obs = obs
            self.steps += 1
            self.ep_return += float(reward[0])
            self.ep_length += 1
            if terminated[0] or truncated[0]:
                how = "terminated" if terminated[0] else "truncated"
                self.episodes.append({"return": self.ep_return, "length": self.ep_length,
                                      "end": how, "step": self.steps})
                print(f"episode {len(self.episodes)}: return {self.ep_return:.1f}, "
                      f"length {self.ep_length} ({how})", flush=True)
                self.ep_return, self.ep_length = 0.0, 0
        self.publish()

    def publish(self) -> None:
        """The state after the last step, stamped with the simulated time (that of /clock):
        the sources' messages first, then the JointState (deploy.py's trigger)."""
        t = self.steps * self.dt
        if self.needs:
            self.publish_sources(t)
        if self.physics is not None:
            names = list(self.contract.data["joint_names"])
            index = {n: i for i, n in enumerate(self.physics.joint_names())}
            qpos, qvel = self.physics.qpos, self.physics.qvel
            pos = [float(qpos[index[n]]) for n in names]
            vel = [float(qvel[index[n]]) for n in names]
        else:
            names, pos, vel = self.contract.joint_state(self.obs[0])
        index = {n: i for i, n in enumerate(names)}
        msg = self.ros.JointState()
        set_stamp(msg.header, t)
        msg.name = list(self.joint_order)
        msg.position = [pos[index[n]] for n in self.joint_order]
        msg.velocity = [vel[index[n]] for n in self.joint_order]
        self.state_pub.publish(msg)
        if self.clock_pub is not None:
            clock = self.Clock()
            clock.clock.sec, clock.clock.nanosec = msg.header.stamp.sec, msg.header.stamp.nanosec
            self.clock_pub.publish(clock)

    def publish_sources(self, t: float) -> None:
        """The target (PointStamped, when it changes), the episode start (Header, when it
        changes) and the grip site's pose (PoseStamped), in the world frame, from the
        observation the sim computed: deploy.py assembles that observation again."""
        values = self.contract.source_values(self.obs[0])
        ros = self.ros
        target = values.get("target")
        if target is not None and target != self.sent_target:
            msg = ros.PointStamped()
            set_stamp(msg.header, t)
            msg.header.frame_id = "world"
            msg.point.x, msg.point.y, msg.point.z = target
            self.source_pubs["target"].publish(msg)
            self.sent_target = target
        start = self.steps - self.ep_length
        if "episode_time" in self.source_pubs and start != self.sent_start:
            header = ros.Header()
            set_stamp(header, start * self.dt)
            header.frame_id = "world"
            self.source_pubs["episode_time"].publish(header)
            self.sent_start = start
        pose = values.get("forward_kinematics")
        if pose is not None:
            msg = ros.PoseStamped()
            set_stamp(msg.header, t)
            msg.header.frame_id = "world"
            p, q = msg.pose.position, msg.pose.orientation
            p.x, p.y, p.z, q.x, q.y, q.z, q.w = pose
            self.source_pubs["forward_kinematics"].publish(msg)

    def serve(self, duration: float | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        say(f"serving {self.task} on {self.engine} over ROS 2 at {self.rate_hz:g} Hz: joint "
            f"states on {self.state_topic} ({', '.join(self.joint_order)}), commands on "
            f"{self.command_topic} ({', '.join(self.command_names)})"
            + "".join(f", {s} on {t}" for s, t in self.source_topics.items())
            + "; waiting for a controller")
        stats = RateLoop(self.rate_hz).run(self.cycle, duration=duration,
                                           should_stop=should_stop)
        lengths = [e["length"] for e in self.episodes]
        return {
            "transport": "ros2", "task": self.task, "engine": self.engine,
            "episodes": len(self.episodes),
            "mean_length": sum(lengths) / len(lengths) if lengths else None,
            "lengths": lengths,
            "terminated": sum(e["end"] == "terminated" for e in self.episodes),
            "truncated": sum(e["end"] == "truncated" for e in self.episodes),
            "current_length": self.ep_length, "steps": self.steps,
            "episode_ends": [[e["step"], e["end"]] for e in self.episodes],
            "commands": self.counts["commands"], "held_steps": self.counts["held"],
            "dropped": {k: v for k, v in self.counts.items() if k not in ("commands", "held")},
            "command_publishers": sorted(self.publishers),
            "topics": {"state": self.state_topic, "command": self.command_topic,
                       **self.source_topics},
            "qos": QOS_TEXT, "loop": stats.as_dict(),
        }

    @property
    def command_names(self) -> list[str]:
        return self.contract.command_joints or list(self.contract.data["action"]["names"])

    def close(self) -> None:
        self.rn.close()
        self.vec.close()


def serve(args: Any) -> int:
    """``serve-robot --transport ros2``."""
    from .control import run_until_stopped

    order = [j for j in (args.joint_order or "").split(",") if j]
    server = Ros2RobotServer(args.task, args.engine, rate_hz=args.rate_hz, seed=args.seed,
                             state_topic=args.state_topic, command_topic=args.command_topic,
                             pose_topic=args.pose_topic, target_topic=args.target_topic,
                             episode_topic=args.episode_topic,
                             joint_order=order or None,
                             controller_timeout_s=args.controller_timeout)
    return run_until_stopped(server, args.duration)
