"""One control cycle: the freshest observation, checks, the policy (or, first, the start-up
ramp of :mod:`.ramp`), checks, the action."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np

from .control import Samples, Throttled
from .errors import warn
from .policy import Policy
from .ramp import Ramp
from .transports import Observation


class Controller:
    """One cycle: freshest observation -> checks -> policy -> checks -> action to the robot."""

    def __init__(self, policy: Policy, robot: Any, *, period: float, watchdog_periods: int,
                 safe_mode: str, first: Observation, ramp: Ramp | None = None) -> None:
        self.policy = policy
        self.robot = robot
        self.watchdog_s = watchdog_periods * period
        self.safe_mode = safe_mode
        self.pending: Observation | None = first
        self.last_good = first.received
        self.last_action: np.ndarray | None = None
        self.counts: Counter[str] = Counter()
        self.policy_time = Samples()
        self.silence_s: float | None = None
        self.report = Throttled(warn)
        #: The start-up ramp while it runs; None once the policy runs.
        self.ramp = ramp
        if ramp is None:
            warn("startup: policy")

    def safe_action(self) -> np.ndarray:
        if self.safe_mode == "hold" and self.last_action is not None:
            return self.last_action
        return self.policy.zero_action()

    def send_safe(self, ref: int = 0) -> None:
        self.robot.act(self.safe_action(), ref, safe=True)
        self.counts["safe_actions"] += 1

    def cycle(self, now: float) -> str | None:
        """Run one cycle at ``now``; returns why the loop must stop, or None."""
        obs = self.robot.observe() or self.pending
        self.pending = None
        if self.robot.stop_reason:
            return self.robot.stop_reason
        if obs is None:
            self.counts["no_new_obs"] += 1
        else:
            self.act_on(obs)
            if self.robot.stop_reason:
                return self.robot.stop_reason
        silence = now - self.last_good
        if silence > self.watchdog_s:
            self.silence_s = silence
            return "watchdog"
        return None

    def act_on(self, obs: Observation) -> None:
        values = obs.values
        if values.shape != (self.policy.obs_dim,) or not np.all(np.isfinite(values)):
            self.counts["bad_obs"] += 1
            self.report(f"observation {obs.seq} is not {self.policy.obs_dim} finite values: "
                        f"sent the safe action")
            self.send_safe(obs.seq)
            return
        if self.ramp is not None:
            ramp_action = self.ramp.action(values, time.perf_counter())
            if ramp_action is not None:
                self.robot.act(ramp_action, obs.seq)
                self.counts["ramp_actions"] += 1
                self.last_good = time.perf_counter()
                return
            warn(f"startup: policy (ramp done in {self.ramp.cycles} cycles, joints "
                 f"{self.ramp.errors[-1]:.4f} rad from the default pose, "
                 f"{self.ramp.errors[0]:.4f} at its start)")
            self.ramp = None
        t = time.perf_counter()
        try:
            action = self.policy(values)
        except Exception as exc:  # noqa: BLE001 - the robot must get an action regardless
            self.counts["policy_errors"] += 1
            self.report(f"the policy raised {type(exc).__name__}: {exc}: sent the safe action")
            self.send_safe(obs.seq)
            return
        self.policy_time.add(time.perf_counter() - t)
        if not self.policy.valid(action):
            self.counts["bad_actions"] += 1
            self.report(f"the policy returned {action.tolist()}, not a valid action (NaN or "
                        "index -1: its network's output was not finite): sent the safe action")
            self.send_safe(obs.seq)
            return
        self.robot.act(action, obs.seq)
        self.counts["actions"] += 1
        self.last_action = action
        self.last_good = time.perf_counter()


