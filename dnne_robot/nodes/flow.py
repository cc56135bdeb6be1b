"""Graph plumbing: the OR merge that closes a feedback loop, and the config nodes."""

from __future__ import annotations

from typing import Any, ClassVar

from ..runtime import In, QueueNode


class OrMergeNode(QueueNode):
    """Forwards whichever input arrives: the env's first observation, then each step's.

    This is how a feedback loop closes: the env feeds one input once, the step node the
    other on every step, and the agent sees one stream.
    """

    INPUTS = (
        In("input_a", mode="any", optional=True),
        In("input_b", mode="any", optional=True),
        In("input_c", mode="any", optional=True),
    )
    OUTPUTS = ("output",)

    def compute(self, **inputs: Any) -> dict[str, Any]:
        (value,) = inputs.values()  # exactly one input arrives per call
        return {"output": value}


class ConfigNode(QueueNode):
    """A source that emits its settings once, as a dict (DNNE's compact-style config nodes).

    The generated subclass sets ``CONFIG``, the node's widget values.
    """

    CONFIG: ClassVar[dict[str, Any]]

    def compute(self) -> dict[str, Any]:
        return {self.OUTPUTS[0]: dict(self.CONFIG)}


class PPOConfigNode(ConfigNode):
    """PPO hyperparameters for a compact-style PPO agent."""

    OUTPUTS = ("config",)


class BalancerConfigNode(ConfigNode):
    """Scheduling hints for a compact-style PPO agent (recorded; one process runs here)."""

    OUTPUTS = ("config",)


class EnvConfigNode(ConfigNode):
    """Simulator settings for a compact-style PPO agent (task, engine, envs, seed)."""

    OUTPUTS = ("env",)
