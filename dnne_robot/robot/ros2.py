"""The ROS 2 transport of ``deploy.py``: a robot that publishes ``sensor_msgs/JointState``
and takes ``std_msgs/Float64MultiArray`` commands, as a ros2_control forward controller does.

    python deploy.py --policy policy.pt \\
        --robot "ros2:///joint_states?command=/forward_effort_controller/commands"

The URL's path is the joint-state topic; its query names ``command`` (the command topic;
default ``/forward_effort_controller/commands``, or ``/eef_delta_controller/commands`` for an
end-effector command) and ``estop`` (a ``std_msgs/Bool`` topic; True stops the loop). A
policy that observes more than joint states (Franka: contract sources) also reads ``pose`` (a
``geometry_msgs/PoseStamped`` of the site, default ``/grip_site_pose``), ``target`` (a
``geometry_msgs/PointStamped``, default ``/target``) and ``episode`` (a ``std_msgs/Header``
whose stamp is the episode's start, default ``/episode_start``; the episode time is the
JointState's stamp minus it). The observation is built by joint NAME and by source in the
policy contract's order; the action becomes the contract's command (one value per joint, or
the end-effector delta and gripper).

QoS (see docs/deploy.md):
  * joint states and the pose: best effort, keep last 1, volatile: the newest state is the
    only one worth having; a best-effort subscription also matches a reliable publisher (a
    joint_state_broadcaster), while a reliable one would not match a best-effort publisher.
  * target and episode start: reliable, keep last 1, transient local (latched: they hold
    until replaced, and a controller that starts late still gets them).
  * commands: reliable, keep last 1, volatile: matches the forward controllers' reliable
    subscription (and best-effort ones); a dropped command is resent by the DDS layer, but
    only the newest is kept.
  * emergency stop: reliable, keep last 10, volatile (transient-local would refuse the
    volatile publishers of ``ros2 topic pub``).

rclpy and the messages are imported here only, when ``--robot ros2://`` is used; the UDP
path never imports ROS. Callbacks run on a single-threaded executor in a background thread;
the control loop reads the newest state under a lock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .contract import Contract
from .control import StopSignals, Throttled
from .errors import DeployError, warn
from .transports import Observation

DEFAULT_STATE_TOPIC = "/joint_states"
DEFAULT_COMMAND_TOPIC = "/forward_effort_controller/commands"
#: The command topic of a policy whose action is a Cartesian command (Franka's
#: ``end_effector_delta``): the input of a Cartesian controller on the robot.
DEFAULT_CARTESIAN_TOPIC = "/eef_delta_controller/commands"
DEFAULT_ESTOP_TOPIC = "/emergency_stop"
#: The topics of the values that are not joint states (contract sources), by URL parameter:
#: the site's pose (``geometry_msgs/PoseStamped``), the target (``geometry_msgs/PointStamped``)
#: and the episode start (``std_msgs/Header``, its stamp).
DEFAULT_POSE_TOPIC = "/grip_site_pose"
DEFAULT_TARGET_TOPIC = "/target"
DEFAULT_EPISODE_TOPIC = "/episode_start"
#: URL parameter -> (default topic, the contract source it carries).
SOURCE_TOPICS = {"pose": (DEFAULT_POSE_TOPIC, "forward_kinematics"),
                 "target": (DEFAULT_TARGET_TOPIC, "target"),
                 "episode": (DEFAULT_EPISODE_TOPIC, "episode_time")}
INSTALL = ("pip install 'dnne-robot[ros2]' (or pip install 'ros-rclpy[fastrtps]' ros-std-msgs "
           "ros-sensor-msgs ros-geometry-msgs), or source a ROS 2 installation")
#: The message each source comes in, as the log lines name it.
SOURCE_MSG = {"forward_kinematics": "pose", "target": "target", "episode_time": "episode_start"}
#: How often the command topic's publishers are counted.
PUBLISHER_CHECK_S = 0.5


@dataclass(frozen=True)
class Ros2Url:
    state: str
    command: str
    estop: str
    pose: str = DEFAULT_POSE_TOPIC
    target: str = DEFAULT_TARGET_TOPIC
    episode: str = DEFAULT_EPISODE_TOPIC

    def text(self, sources: list[str] = ()) -> str:
        """The URL, with the source topics of ``sources`` (contract sources) only."""
        extra = "".join(f"&{key}={getattr(self, key)}" for key, (_, src) in
                        SOURCE_TOPICS.items() if src in sources)
        return f"ros2://{self.state}?command={self.command}&estop={self.estop}{extra}"

    def __str__(self) -> str:
        return self.text()


def parse_ros2_url(url: str, command: str = DEFAULT_COMMAND_TOPIC) -> Ros2Url:
    """``ros2:///joint_states?command=/x/commands&estop=/estop&pose=/p&target=/t&episode=/e``
    -> the topics (``command``: the default command topic)."""
    parts = urlsplit(url)
    if parts.scheme != "ros2":
        raise ValueError(f"not a ros2:// URL: {url!r}")
    if parts.netloc:
        raise ValueError(f"ros2 URL {url!r}: write the topic after three slashes "
                         f"(ros2:///joint_states), not a host ({parts.netloc!r})")
    query = parse_qs(parts.query, keep_blank_values=True)
    known = ["command", "estop", *SOURCE_TOPICS]
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise ValueError(f"ros2 URL {url!r}: unknown parameter {unknown[0]!r} "
                         f"(known: {', '.join(known)})")

    def topic(value: str | None, default: str, what: str) -> str:
        value = value or default
        if not value.startswith("/"):
            value = "/" + value
        name = value.strip("/")
        if not name or not all(c.isalnum() or c in "_/" for c in name) or "//" in value:
            raise ValueError(f"ros2 URL {url!r}: {what} topic {value!r} is not a valid name")
        return value

    def param(key: str, default: str, what: str) -> str:
        return topic((query.get(key) or [None])[-1], default, what)

    return Ros2Url(topic(parts.path if parts.path not in ("", "/") else None,
                         DEFAULT_STATE_TOPIC, "joint-state"),
                   param("command", command, "command"),
                   param("estop", DEFAULT_ESTOP_TOPIC, "estop"),
                   *(param(key, default, key) for key, (default, _) in SOURCE_TOPICS.items()))


def command_topic_default(contract: Contract) -> str:
    """The forward controller's topic, or a Cartesian controller's for a Cartesian command."""
    return DEFAULT_CARTESIAN_TOPIC if contract.cartesian else DEFAULT_COMMAND_TOPIC


def import_ros() -> Any:
    """rclpy and the message types, or one line naming the install."""
    try:
        import rclpy
        from geometry_msgs.msg import PointStamped, PoseStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import (
            DurabilityPolicy,
            HistoryPolicy,
            QoSProfile,
            ReliabilityPolicy,
        )
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, Float64MultiArray, Header
    except ImportError as exc:
        raise DeployError(f"the ROS 2 transport needs rclpy ({exc}): {INSTALL}") from exc

    class Ros:
        pass

    ros = Ros()
    ros.rclpy, ros.Executor, ros.SignalHandlerOptions = rclpy, SingleThreadedExecutor, \
        SignalHandlerOptions
    ros.JointState, ros.Bool, ros.Float64MultiArray = JointState, Bool, Float64MultiArray
    ros.PoseStamped, ros.PointStamped, ros.Header = PoseStamped, PointStamped, Header
    ros.state_qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                               reliability=ReliabilityPolicy.BEST_EFFORT,
                               durability=DurabilityPolicy.VOLATILE)
    ros.command_qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                                 reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.VOLATILE)
    # The target and the episode start hold until replaced: latched, as /robot_description.
    ros.latched_qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                                 reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
    #: Per contract source: its message type and QoS (the pose is a state: best effort).
    ros.sources = {"forward_kinematics": (PoseStamped, ros.state_qos),
                   "target": (PointStamped, ros.latched_qos),
                   "episode_time": (Header, ros.latched_qos)}
    ros.estop_qos = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                               reliability=ReliabilityPolicy.RELIABLE,
                               durability=DurabilityPolicy.VOLATILE)
    return ros


QOS_TEXT = {"joint_states": "best_effort, keep_last 1, volatile",
            "pose": "best_effort, keep_last 1, volatile",
            "target, episode_start": "reliable, keep_last 1, transient_local",
            "commands": "reliable, keep_last 1, volatile",
            "estop": "reliable, keep_last 10, volatile"}


def set_stamp(header: Any, t: float) -> None:
    """``header.stamp`` = ``t`` seconds (>= 0)."""
    ns = int(round(t * 1e9))
    header.stamp.sec, header.stamp.nanosec = ns // 10**9, ns % 10**9


def frame_offset(frames: dict[str, Any] | None, frame: str) -> np.ndarray | None:
    """Where ``frame``'s origin is in the world: through the contract's ``frames`` (each an
    origin in its parent, no rotation); the world itself for ``""`` and ``"world"``; None for a
    frame that does not lead to the world through them."""
    offset = np.zeros(3)
    for _ in range(len(frames or {}) + 1):
        if frame in ("", "world"):
            return offset
        spec = (frames or {}).get(frame)
        if not isinstance(spec, dict):
            return None
        offset = offset + np.asarray(spec.get("position", (0.0, 0.0, 0.0)), dtype=np.float64)
        frame = str(spec.get("parent", ""))
    return None


def source_values(frames: dict[str, Any] | None, state_stamp: Any, pose: Any, target: Any,
                  start: Any) -> tuple[dict[str, list[float]], str | None]:
    """The values of the contract sources from their messages (each None when not read):
    the target point and the site's pose in the world frame (moved there through ``frames``),
    the quaternion with ``qx >= 0``; the episode time, the joint state's stamp minus the
    episode start's. Returns ``(values, problem)``; problem names a frame it cannot place."""
    out: dict[str, list[float]] = {}
    if target is not None:
        offset = frame_offset(frames, target.header.frame_id)
        if offset is None:
            return out, f"target frame {target.header.frame_id!r}"
        p = target.point
        out["target"] = list(np.array([p.x, p.y, p.z]) + offset)
    if pose is not None:
        offset = frame_offset(frames, pose.header.frame_id)
        if offset is None:
            return out, f"pose frame {pose.header.frame_id!r}"
        p, q = pose.pose.position, pose.pose.orientation
        quat = [q.x, q.y, q.z, q.w]
        if quat[0] < 0.0:
            quat = [-x for x in quat]
        out["forward_kinematics"] = [*(np.array([p.x, p.y, p.z]) + offset), *quat]
    if start is not None:
        a, b = state_stamp, start.stamp
        out["episode_time"] = [(a.sec - b.sec) + (a.nanosec - b.nanosec) * 1e-9]
    return out, None


class RosNode:
    """An rclpy context, one node and a single-threaded executor spinning in a daemon thread."""

    def __init__(self, ros: Any, name: str) -> None:
        self.ros = ros
        self.context = ros.rclpy.context.Context()
        # No rclpy signal handler: SIGINT and SIGTERM stay with the control loop's StopSignals.
        ros.rclpy.init(context=self.context,
                       signal_handler_options=ros.SignalHandlerOptions.NO)
        self.node = ros.rclpy.create_node(name, context=self.context)
        self.executor = ros.Executor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, name=f"{name}-executor", daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown from another thread ends spin()
            pass

    def close(self) -> None:
        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            if self.context.ok():
                self.ros.rclpy.shutdown(context=self.context)
        self.thread.join(timeout=2.0)


class Ros2Robot:
    """A ros2_control robot seen through its joint states and a forward controller.

    A robot for :class:`~.controller.Controller`: ``connect``, ``observe``, ``act``, ``close``,
    ``summary``, ``url``, ``stop_reason`` ("estop" after a True on the e-stop topic).
    """

    def __init__(self, url: str, contract: Contract, *, max_age_s: float, safe_mode: str,
                 period: float, policy_sha256: str | None = None) -> None:
        try:
            self.topics = parse_ros2_url(url, command_topic_default(contract))
        except ValueError as exc:
            raise DeployError(str(exc)) from exc
        contract.require_ros2()
        self.contract = contract
        #: The contract sources read from topics: forward_kinematics, target, episode_time.
        self.needs = contract.needs
        self.frames = contract.data.get("frames")
        if contract.data.get("policy_sha256") != policy_sha256:
            raise DeployError(f"{contract.where}: contract.policy_sha256 is not the sha256 of "
                              "the policy file: the contract belongs to another export")
        self.max_age_s = max_age_s
        self.safe_mode = safe_mode
        self.period = period
        self.url = self.topics.text(self.needs)
        ros = import_ros()
        self.ros = ros
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.newest: tuple[Any, float] | None = None
        #: The newest message of each source topic and when it arrived (never consumed: the
        #: pose must be fresh, the target and the episode start hold until replaced).
        self.latest: dict[str, tuple[Any, float]] = {}
        self.heard: Counter[str] = Counter()
        self.states = 0
        self.stop_reason: str | None = None
        self.estop_at: float | None = None
        self.estop_safe_at: float | None = None
        self.report = Throttled(warn)
        self.others: dict[str, int] = {}
        self.last_command: np.ndarray | None = None
        self.next_check = 0.0
        self.rn = RosNode(ros, "dnne_deploy")
        node = self.rn.node
        self.name = node.get_fully_qualified_name()
        self.pub = node.create_publisher(ros.Float64MultiArray, self.topics.command,
                                         ros.command_qos)
        node.create_subscription(ros.JointState, self.topics.state, self._on_state,
                                 ros.state_qos)
        node.create_subscription(ros.Bool, self.topics.estop, self._on_estop, ros.estop_qos)
        for source in self.needs:
            kind, qos = ros.sources[source]
            node.create_subscription(kind, self.source_topic(source),
                                     lambda msg, s=source: self._on_source(s, msg), qos)

    def source_topic(self, source: str) -> str:
        key = next(k for k, (_, s) in SOURCE_TOPICS.items() if s == source)
        return getattr(self.topics, key)

    # -- callbacks (executor thread) ---------------------------------------------------------
    def _on_state(self, msg: Any) -> None:
        received = time.perf_counter()
        with self.lock:
            if self.newest is not None:
                self.counts["superseded"] += 1
            self.newest = (msg, received)

    def _on_source(self, source: str, msg: Any) -> None:
        received = time.perf_counter()
        with self.lock:
            self.latest[source] = (msg, received)
            self.heard[source] += 1

    def _on_estop(self, msg: Any) -> None:
        """True: the safe command at once, from this thread; the loop stops on its next
        cycle, and :meth:`act` publishes nothing but the safe command from now on."""
        if msg.data and self.stop_reason is None:
            self.estop_at = time.perf_counter()
            self.stop_reason = "estop"
            self.publish(self.contract.safe_command)
            self.estop_safe_at = time.perf_counter()

    # -- the robot interface -----------------------------------------------------------------
    def connect(self, timeout: float, stop: StopSignals) -> Observation | None:
        """Hold: publish the safe command every 0.1 s until the first fresh joint state."""
        inputs = [f"joint state on {self.topics.state}",
                  *(f"{SOURCE_MSG[s]} on {self.source_topic(s)}" for s in self.needs)]
        warn(f"startup: hold (safe command on {self.topics.command}) until the first "
             f"{', '.join(inputs)}")
        end = time.perf_counter() + timeout
        next_hold = 0.0
        while (now := time.perf_counter()) < end and not stop and not self.stop_reason:
            obs = self.observe()
            if obs is not None:
                return obs
            if now >= next_hold:
                self.publish(self.contract.safe_command)
                next_hold = now + 0.1
            time.sleep(0.002)
        return None

    def observe(self) -> Observation | None:
        now = time.perf_counter()
        if now >= self.next_check:
            self.check_publishers()
            self.next_check = now + PUBLISHER_CHECK_S
        with self.lock:
            newest, self.newest = self.newest, None
        if newest is None:
            return None
        msg, received = newest
        self.states += 1
        if now - received > self.max_age_s:
            self.counts["stale"] += 1
            return None
        n = len(msg.name)
        pos = {name: x for name, x in zip(msg.name, msg.position, strict=False)} \
            if len(msg.position) == n else {}
        vel = {name: x for name, x in zip(msg.name, msg.velocity, strict=False)} \
            if len(msg.velocity) == n else {}
        eff = {name: x for name, x in zip(msg.name, msg.effort, strict=False)} \
            if len(msg.effort) == n else {}
        sources: dict[str, list[float]] = {}
        if self.needs:
            with self.lock:
                latest = dict(self.latest)
            waiting = [s for s in self.needs if s not in latest]
            if waiting:
                self.counts["waiting_for_" + SOURCE_MSG[waiting[0]]] += 1
                return None
            if now - latest.get("forward_kinematics", (None, now))[1] > self.max_age_s:
                self.counts["stale_pose"] += 1
                return None
            sources, problem = source_values(
                self.frames, msg.header.stamp, *(latest.get(s, (None,))[0] for s in
                                                 ("forward_kinematics", "target",
                                                  "episode_time")))
            if problem:
                self.report(f"{problem} is neither world nor one of the contract's frames "
                            f"({', '.join(self.frames or {})}): sent the safe action")
        values = self.contract.observation(pos, vel, eff, sources)
        if not np.all(np.isfinite(values)):
            missing = [f[0] for f, v in zip(self.contract.fields, values, strict=True)
                       if not math.isfinite(v)]
            self.report(f"joint state {self.states} has no finite value for {', '.join(missing)}"
                        f" (joints {list(msg.name)})")
        return Observation(values, self.states, received)

    def act(self, action: np.ndarray, ref: int, safe: bool = False) -> None:
        if self.stop_reason == "estop":
            if not safe:
                self.counts["refused_after_estop"] += 1
            self.publish(self.contract.safe_command)
            return
        if safe and (self.safe_mode == "zero" or self.last_command is None):
            self.publish(self.contract.safe_command)
            return
        command = self.contract.command(action)
        if self.contract.rate_limit is not None and self.last_command is not None:
            step = self.contract.rate_limit * self.period
            command = np.clip(command, self.last_command - step, self.last_command + step)
        self.publish(command)

    def publish(self, command: np.ndarray) -> None:
        msg = self.ros.Float64MultiArray()
        msg.data = [float(x) for x in command]
        self.pub.publish(msg)
        self.last_command = np.asarray(command, dtype=np.float64)

    def check_publishers(self) -> None:
        """Another publisher on the command topic: ROS 2 cannot refuse it, so report it."""
        try:
            infos = self.rn.node.get_publishers_info_by_topic(self.topics.command)
        except Exception:  # noqa: BLE001 - graph queries fail during shutdown
            return
        for info in infos:
            if info.node_name.startswith("_NODE_NAME_UNKNOWN"):
                continue  # discovered before its node: named on a later check
            ns = info.node_namespace.rstrip("/")
            name = f"{ns}/{info.node_name}"
            if name == self.name:
                continue
            if name not in self.others:
                warn(f"another publisher on the command topic {self.topics.command}: node "
                     f"{name} ({info.topic_type}); ROS 2 cannot refuse it, and the robot may "
                     "apply its commands between this controller's")
            self.others[name] = self.others.get(name, 0) + 1

    def no_answer(self, timeout: float) -> str:
        import os

        domain = os.environ.get("ROS_DOMAIN_ID", "0")
        serve = ("To play the robot in simulation, start `python runner.py serve-robot "
                 "--transport ros2` in the export folder first.")
        missing = [s for s in self.needs if not self.heard[s]]
        if self.states and missing:
            what = ", ".join(f"no {SOURCE_MSG[s]} on {self.source_topic(s)} ("
                             f"{self.rn.node.count_publishers(self.source_topic(s))} "
                             "publisher(s))" for s in missing)
            return (f"joint states on {self.topics.state}, but {what} within {timeout:g} s "
                    f"(ROS_DOMAIN_ID {domain}): this policy also observes "
                    f"{', '.join(missing)}. {serve}")
        publishers = self.rn.node.count_publishers(self.topics.state)
        return (f"no joint state on {self.topics.state} within {timeout:g} s (ROS_DOMAIN_ID "
                f"{domain}, {publishers} publisher(s) on the topic). Is the robot's "
                f"joint_state_broadcaster running in this domain? {serve}")

    def close(self) -> None:
        """Stop: the safe command (the controller already sent it), then release the node."""
        warn("stop: release (safe command sent; releasing the ROS 2 node)")
        try:
            self.publish(self.contract.safe_command)
            time.sleep(0.01)  # let the DDS layer hand the last command over
        finally:
            self.rn.close()

    def summary(self) -> dict[str, Any]:
        return {"dropped": dict(sorted(self.counts.items())),
                "ros2": {"state_topic": self.topics.state, "command_topic": self.topics.command,
                         "estop_topic": self.topics.estop, "joint_states": self.states,
                         "source_topics": {s: self.source_topic(s) for s in self.needs},
                         "source_messages": {s: self.heard[s] for s in self.needs},
                         "qos": QOS_TEXT,
                         "other_command_publishers": sorted(self.others)}}
