"""The PPO nodes: a stream-style agent and trainer pair, and DNNE's compact-style agent.

Stream style (``scenarios/cartpole_ppo.json``): the agent acts on each observation and sends
its policy to the trainer on its ``model`` output; the trainer keeps the rollout buffer as its
own state, updates the policy when a rollout is full, and holds the agent in lock-step
(:mod:`.sync`), so rollouts are exactly on-policy. Compact style
(``scenarios/cartpole_compact.json``): one node owns the simulator, the policy and the
trainer, configured by the env and PPO config nodes.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, ClassVar

import torch

from ..envs import evaluate_policy
from ..rl import (
    ActionSpec,
    ActorCritic,
    DeployPolicy,
    MetricsLogger,
    PPOConfig,
    PPOTrainer,
    preload_optimizer,
)
from ..runtime import END, In, QueueNode, RunComplete
from .sim import SimHandle
from .sync import PolicyModel
from .timing import checkpoint_trigger_value, parse_duration


class PPOAgentNode(QueueNode):
    """Actor-critic policy (``LAYER_SIZES`` hidden widths, ``ACTIVATION``): acts on each
    observation. The simulator's action space wins over ``ACTION_SPACE``/``ACTION_DIM``
    when they disagree. The learning rate belongs to the trainer node it feeds."""

    INPUTS = (In("observations"),)
    OUTPUTS = ("policy_output", "model")
    LAYER_SIZES: ClassVar[tuple[int, ...]]
    ACTIVATION: ClassVar[str]
    ACTION_SPACE: ClassVar[str]
    ACTION_DIM: ClassVar[int]
    LEARNING_RATE: ClassVar[float]
    DETERMINISTIC: ClassVar[bool]
    INIT_LOG_STD: ClassVar[float]
    NORMALIZE_OBSERVATIONS: ClassVar[bool]

    def setup(self) -> None:
        info = self.ctx.env_info
        self.policy = ActorCritic(
            info["obs_dim"],
            self._action_spec(info.get("action")),
            hidden_sizes=self.LAYER_SIZES,
            activation=self.ACTIVATION,
            init_log_std=self.INIT_LOG_STD,
            normalize_obs=self.NORMALIZE_OBSERVATIONS,
        ).to(self.ctx.device)
        self.device = torch.device(self.ctx.device)
        self.model = PolicyModel(self.policy, learning_rate=self.LEARNING_RATE)
        # Lock-step with the trainer only when one takes this node's model.
        self.model.gate.attached = bool(self.consumers["model"])
        self.training = self.ctx.command == "train"
        self.steps = 0

    def _action_spec(self, env_action: dict[str, Any] | None) -> ActionSpec:
        if env_action is None:
            if self.ACTION_SPACE == "discrete":
                return ActionSpec.discrete(self.ACTION_DIM)
            return ActionSpec.continuous([-1.0] * self.ACTION_DIM, [1.0] * self.ACTION_DIM)
        spec = ActionSpec.from_dict(env_action)
        mismatch = spec.kind == "continuous" and spec.dim != self.ACTION_DIM
        if spec.kind != self.ACTION_SPACE or mismatch:
            self.ctx.notice(
                f"node #{self.node_id}: action_space={self.ACTION_SPACE}, "
                f"action_dim={self.ACTION_DIM} follow the task instead: {spec.kind} "
                f"with {spec.dim} {'actions' if spec.kind == 'discrete' else 'dimensions'}"
            )
        return spec

    async def compute(self, observations: torch.Tensor) -> dict[str, Any]:
        await self.model.gate.wait_for(self.steps)  # the trainer has used every earlier step
        if observations.device != self.device:
            observations = observations.to(self.device)
        step = self.policy.act(
            observations,
            deterministic=self.DETERMINISTIC or not self.training,
            update_normalizer=self.training,
            # A trainer scores the whole rollout at its end (log-probabilities and values)
            # in one batched pass; without one, the step carries them itself.
            score=not self.model.gate.attached,
        )
        self.steps += 1
        outputs: dict[str, Any] = {"policy_output": step}
        if self.steps == 1:
            outputs["model"] = self.model
        return outputs

    def state_dict(self) -> dict[str, Any]:
        return {"policy_config": self.policy.config(), "policy": self.policy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])


class PPOTrainerNode(QueueNode):
    """Collects rollouts in its buffer and runs the PPO update every ``HORIZON_LENGTH``
    steps; logs metrics and writes checkpoints on its ``CHECKPOINT_TRIGGER_TYPE`` (every
    ``CHECKPOINT_TRIGGER_VALUE`` updates, seconds, or on a new best recent return). With
    ``NORMALIZE_REWARDS`` the rollout stores rewards scaled as CleanRL's NormalizeReward and
    clip do (:mod:`~dnne_robot.rl.reward_scaling`); metrics and episodes stay raw."""

    INPUTS = (
        In("state"),
        In("policy_output"),
        In("reward"),
        In("done"),
        In("model", mode="sticky"),
    )
    OUTPUTS = ("loss", "training_complete")
    HORIZON_LENGTH: ClassVar[int]
    NUM_EPOCHS: ClassVar[int]
    MINIBATCH_SIZE: ClassVar[int]
    GAMMA: ClassVar[float]
    GAE_LAMBDA: ClassVar[float]
    CLIP_PARAM: ClassVar[float]
    VALUE_COEF: ClassVar[float]
    ENTROPY_COEF: ClassVar[float]
    LEARNING_RATE: ClassVar[float]
    MAX_GRAD_NORM: ClassVar[float]
    CHECKPOINT_ENABLED: ClassVar[bool]
    CHECKPOINT_TRIGGER_TYPE: ClassVar[str]
    CHECKPOINT_TRIGGER_VALUE: ClassVar[str]
    ANNEAL_LR: ClassVar[bool]
    TARGET_KL: ClassVar[float]
    CLIP_VLOSS: ClassVar[bool]
    NORMALIZE_REWARDS: ClassVar[bool]

    def config(self) -> PPOConfig:
        return PPOConfig(
            num_steps=self.HORIZON_LENGTH,
            num_epochs=self.NUM_EPOCHS,
            minibatch_size=self.MINIBATCH_SIZE,
            gamma=self.GAMMA,
            gae_lambda=self.GAE_LAMBDA,
            clip_coef=self.CLIP_PARAM,
            clip_vloss=self.CLIP_VLOSS,
            vf_coef=self.VALUE_COEF,
            ent_coef=self.ENTROPY_COEF,
            learning_rate=self.LEARNING_RATE,
            anneal_lr=self.ANNEAL_LR,
            max_grad_norm=self.MAX_GRAD_NORM,
            target_kl=self.TARGET_KL or None,
            normalize_rewards=self.NORMALIZE_REWARDS,
        )

    def setup(self) -> None:
        self.trainer: PPOTrainer | None = None
        self.pending_state: dict[str, Any] | None = None
        self.updates = 0
        self.last_checkpoint = time.monotonic()
        self.best = float("-inf")
        try:  # checked before the run starts: --set can change the exported value
            self.trigger_value = checkpoint_trigger_value(self.CHECKPOINT_TRIGGER_TYPE,
                                                          self.CHECKPOINT_TRIGGER_VALUE)
        except ValueError as exc:
            raise ValueError(f"field 'checkpoint_trigger_value': {exc}") from None
        self.logger: MetricsLogger | None = None
        if self.ctx.command == "train":
            hparams = {"node": self.node_id, **self.config().to_dict()}
            self.logger = MetricsLogger(
                self.ctx.run_dir, hparams, self.ctx.seed, run=self.ctx.run_record(),
                tensorboard=self.ctx.options.get("tensorboard"))
            preload_optimizer()
            self.ctx.boundary_nodes.add(self.node_id)  # Ctrl-C stops the run after an update

    def start(self, model: PolicyModel) -> None:
        """Make the PPO trainer for the agent's policy (at the first step, or by Ray)."""
        num_envs = self.ctx.env_info.get("num_envs", 1)
        self.trainer = PPOTrainer(
            model.policy,
            self.config(),
            num_envs,
            self.ctx.max_steps or 0,
            seed=self.ctx.seed,
            device=self.ctx.device,
        )
        if self.pending_state is not None:
            # The policy is the agent node's, which restored it from its own state and may
            # have acted since (its observation normaliser counts that step): keep it.
            self.trainer.load_state_dict(
                {**self.pending_state, "policy": model.policy.state_dict()})
            self.updates = self.pending_state["updates"]
            self.best = self.pending_state.get("best", self.best)

    def compute(
        self, state: torch.Tensor, policy_output: Any, reward: torch.Tensor, done: Any,
        model: PolicyModel,
    ) -> Any:
        if self.trainer is None:
            self.start(model)
        assert self.trainer is not None
        if isinstance(done, tuple):  # the step node's Done: termination and truncation
            terminated, truncated, final_obs = done
        else:  # a plain done tensor (e.g. from a reward node) means termination
            terminated, truncated, final_obs = done.bool(), torch.zeros_like(done.bool()), None
        stats = self.trainer.record(policy_output, reward, terminated, truncated, state, final_obs)
        outputs: dict[str, Any] = {}
        if stats is not None:
            self.updates += 1
            self.report(stats)
            if self.ctx.stop_at_boundary():  # a signal asked to stop: checkpoint, stop
                return END
            if self.checkpoint_due():
                self.ctx.checkpointer.save(f"update {self.updates}")
            outputs = {"loss": torch.tensor(stats["loss"]), "training_complete": self.updates}
        model.gate.advance()  # after the update: the agent may act on the next step
        return outputs

    def report(self, stats: dict[str, Any]) -> None:
        """Counters, the summary, metrics.csv and the progress bar after an update."""
        assert self.trainer is not None
        self.ctx.opt_steps = self.updates
        self.ctx.summary["updates"] = self.updates
        if stats.get("episode_return_mean") is not None:
            self.ctx.summary["recent_return"] = stats["episode_return_mean"]
        if self.logger is not None:
            self.logger.log(self.trainer.global_step, stats)
            self.logger.log_episodes(self.trainer.global_step, self.trainer.pop_episodes())
        if self.ctx.progress is not None:
            self.ctx.progress(self.ctx.env_steps, stats)

    def checkpoint_due(self) -> bool:
        """Whether the update just made is one to checkpoint at."""
        assert self.trainer is not None
        if not self.CHECKPOINT_ENABLED or self.ctx.checkpointer is None:
            return False
        if self.ctx.max_steps is not None:
            batch = self.trainer.buffer.batch_size
            if self.ctx.env_steps + batch > self.ctx.max_steps:
                return True  # the last full rollout of the run
        value = self.trigger_value
        if self.CHECKPOINT_TRIGGER_TYPE == "best_metric":
            current = self.ctx.summary.get("recent_return")
            if current is not None and current > self.best:
                self.best = current
                return True
            return False
        if self.CHECKPOINT_TRIGGER_TYPE == "time":
            if time.monotonic() - self.last_checkpoint >= value:
                self.last_checkpoint = time.monotonic()
                return True
            return False
        return self.updates % max(1, int(value)) == 0

    def state_dict(self) -> dict[str, Any] | None:
        if self.trainer is None:
            return self.pending_state
        return {**self.trainer.state_dict(), "updates": self.updates, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pending_state = state
        if self.logger is not None:
            self.logger.rewind(state["global_step"])

    def close(self, reason: str) -> None:
        if getattr(self, "logger", None) is not None:
            self.logger.close()


def dnne_ppo_config(ppo: dict[str, Any], batch_size: int) -> PPOConfig:
    """DNNE's PPO Config values (rl_games' names and meanings) as this PPO's hyperparameters.

    ``minibatch_size`` is capped at the rollout (rl_games requires it to fit); without
    ``truncate_grads`` gradients are not clipped; ``value_loss_coef`` is rl_games'
    ``critic_coef``, whose value loss carries the same 1/2 as this PPO's. ``lr_schedule``:
    ``constant`` keeps the learning rate, ``linear`` anneals it to zero, ``adaptive`` steers
    it to ``lr_schedule_kl_threshold`` (rl_games' AdaptiveScheduler, after every minibatch as
    its default ``schedule_type: legacy`` does).
    """
    return PPOConfig(
        num_steps=ppo["horizon_length"],
        num_epochs=ppo["num_epochs"],
        minibatch_size=min(ppo["minibatch_size"], batch_size),
        gamma=ppo["gamma"],
        gae_lambda=ppo["gae_lambda"],
        clip_coef=ppo["clip_param"],
        clip_vloss=ppo["use_clipped_value_loss"],
        vf_coef=ppo["value_loss_coef"],
        ent_coef=ppo["entropy_coef"],
        learning_rate=ppo["learning_rate"],
        anneal_lr=ppo["lr_schedule"] == "linear",
        adaptive_kl=(ppo["lr_schedule_kl_threshold"] if ppo["lr_schedule"] == "adaptive"
                     else None),
        max_grad_norm=ppo["max_grad_norm"] if ppo["truncate_grads"] else float("inf"),
        norm_adv=ppo["normalize_advantage"],
        normalize_value=ppo["normalize_value"],
        target_kl=None,
    )


class CompactPPOAgentNode(QueueNode):
    """DNNE's PPO Agent: trains PPO on ``ENV``'s task with ``PPO``'s settings (DNNE's PPO
    Config values), in its own loop, for PPO Config's ``max_iterations`` rollouts (unless
    ``runner.py train --steps`` says otherwise). The actor-critic is the task's own
    (``HIDDEN_SIZES``, ``ACTIVATION``), with a running observation normaliser when
    ``normalize_input`` is on; rewards are scaled by ``reward_shaper_scale``."""

    OUTPUTS = ("agent", "training_stats", "eval_stats")
    ENV: ClassVar[dict[str, Any]]
    PPO: ClassVar[dict[str, Any]]
    BALANCING: ClassVar[dict[str, Any] | None]
    HIDDEN_SIZES: ClassVar[tuple[int, ...]]
    ACTIVATION: ClassVar[str]
    MAX_ITERATIONS: ClassVar[int]
    CHECKPOINT_INTERVAL: ClassVar[int]
    EVAL_INTERVAL: ClassVar[int]
    EVAL_EPISODES: ClassVar[int]
    LOG_INTERVAL: ClassVar[int]
    SAVE_PATH: ClassVar[str]
    RESUME_FROM: ClassVar[str]

    def setup(self) -> None:
        env, ppo = self.ENV, self.PPO
        num_envs = self.ctx.options.get("num_envs") or env["num_envs"]
        self.sim = SimHandle(self.ctx, task=env["dnne_task"], engine=env["engine"],
                             num_envs=num_envs, seed=self.ctx.seed + env["seed"])
        self.policy = ActorCritic(
            self.ctx.env_info["obs_dim"],
            ActionSpec.from_dict(self.ctx.env_info["action"]),
            hidden_sizes=self.HIDDEN_SIZES,
            activation=self.ACTIVATION,
            normalize_obs=ppo["normalize_input"],
        ).to(self.ctx.device)
        config = dnne_ppo_config(ppo, ppo["horizon_length"] * num_envs)
        if self.ctx.max_steps is None:
            self.ctx.max_steps = ppo["max_iterations"] * config.num_steps * num_envs
        self.reward_scale = float(ppo["reward_shaper_scale"])
        self.trainer = PPOTrainer(self.policy, config, num_envs, self.ctx.max_steps,
                                  seed=self.ctx.seed, device=self.ctx.device)
        self.logger: MetricsLogger | None = None
        self.updates = 0
        if self.ctx.command == "train":
            hparams = {"node": self.node_id, **config.to_dict(), "env": env,
                       "dnne_ppo_config": ppo, "balancing": self.BALANCING}
            self.logger = MetricsLogger(
                self.ctx.run_dir, hparams, self.ctx.seed, run=self.ctx.run_record(),
                tensorboard=self.ctx.options.get("tensorboard"))
            preload_optimizer()
            self.ctx.boundary_nodes.add(self.node_id)  # Ctrl-C stops the run after an update

    async def compute(self) -> Any:
        sim, policy, trainer = self.sim, self.policy, self.trainer
        obs = sim.obs
        while self.ctx.budget_left() and not self.ctx.stopping:
            # log-probabilities and values: scored per rollout by the trainer
            step = policy.act(obs, update_normalizer=True, score=False)
            result = sim.step(step.env_action)
            done = result.done
            rewards = result.rewards * self.reward_scale if self.reward_scale != 1.0 \
                else result.rewards
            stats = trainer.record(
                step, rewards, done.terminated, done.truncated,
                result.next_observations, done.final_observations,
            )
            obs = result.next_observations
            if stats is not None:
                self.after_update(stats)
                if self.ctx.stop_at_boundary():  # a signal asked to stop: checkpoint, stop
                    return END
                await asyncio.sleep(0)  # let Ctrl-C and the other nodes in
        return END

    def after_update(self, stats: dict[str, Any]) -> None:
        """Counters, evaluation, metrics, progress and checkpoints after an update."""
        sim, trainer = self.sim, self.trainer
        self.updates += 1
        self.ctx.opt_steps = self.updates
        self.ctx.summary["updates"] = self.updates
        if stats.get("episode_return_mean") is not None:
            self.ctx.summary["recent_return"] = stats["episode_return_mean"]
        if self.EVAL_INTERVAL and self.updates % self.EVAL_INTERVAL == 0:
            deploy = DeployPolicy(self.policy).eval()
            result = evaluate_policy(
                lambda o: deploy(torch.as_tensor(o, dtype=torch.float32)).numpy(),
                sim.task, sim.engine,
                episodes=self.EVAL_EPISODES, seed=10_000 + self.updates,
            )
            stats["eval_return"] = result["mean_return"]
            self.ctx.summary["eval_return"] = result["mean_return"]
        if self.logger is not None:
            self.logger.log_episodes(trainer.global_step, trainer.pop_episodes())
            if self.updates % self.LOG_INTERVAL == 0:
                self.logger.log(trainer.global_step, stats)
        if self.ctx.progress is not None:
            self.ctx.progress(self.ctx.env_steps, stats)
        last = self.ctx.env_steps + trainer.buffer.batch_size > self.ctx.max_steps
        due = self.CHECKPOINT_INTERVAL and self.updates % self.CHECKPOINT_INTERVAL == 0
        if (due or last) and self.ctx.checkpointer is not None:
            self.ctx.checkpointer.save(f"update {self.updates}")

    def state_dict(self) -> dict[str, Any]:
        return {
            "sim": self.sim.state_dict(),
            "policy_config": self.policy.config(),
            "policy": self.policy.state_dict(),
            "trainer": self.trainer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sim.load_state_dict(state["sim"])
        self.policy.load_state_dict(state["policy"])
        self.trainer.load_state_dict(state["trainer"])
        self.updates = state["updates"]
        if self.logger is not None:
            self.logger.rewind(self.trainer.global_step)

    def close(self, reason: str) -> None:
        if getattr(self, "logger", None) is not None:
            self.logger.close()
        if getattr(self, "sim", None) is not None:
            self.ctx.summary["episodes"] = self.sim.num_episodes
            self.sim.close()


class SimulationTrackerNode(QueueNode):
    """DNNE's Simulation Tracker: counts steps (``step_done``), episodes (``episode_done``)
    and the losses between them, and ends the run when it is done: ``MAX_EPISODES``
    episodes; a success rate of ``SUCCESS_THRESHOLD`` over the last 100 (``custom_metrics``
    ``success``); or no better average episode loss for min(500, max_episodes / 10)
    episodes. With ``TELEMETRY_LEVEL`` on, it logs its counts every ``TELEMETRY_INTERVAL``
    ("<N>_steps", "<N>_episodes" or a duration such as "30s")."""

    INPUTS = (
        In("step_done", mode="any", optional=True),
        In("episode_done", mode="any", optional=True),
        In("loss", mode="any", optional=True),
        In("custom_metrics", mode="any", optional=True),
    )
    OUTPUTS = ()
    MAX_EPISODES: ClassVar[int]
    SUCCESS_THRESHOLD: ClassVar[float]
    TELEMETRY_INTERVAL: ClassVar[str]
    TELEMETRY_LEVEL: ClassVar[str]

    def setup(self) -> None:
        self.steps = self.episodes = 0
        self.episode_length = 0
        self.loss_sum = 0.0
        self.metrics: dict[str, Any] = {}
        self.successes: deque[bool] = deque(maxlen=100)
        self.best_loss = float("inf")
        self.best_episode = 0
        self.last_report = (time.monotonic(), 0, 0)

    def compute(self, **inputs: Any) -> dict[str, Any]:
        ((name, value),) = inputs.items()
        if name == "step_done":
            self.steps += 1
            self.episode_length += 1
        elif name == "loss":
            self.loss_sum += float(value.detach()) if isinstance(value, torch.Tensor) \
                else float(value)
        elif name == "custom_metrics":
            self.metrics = dict(value) if isinstance(value, dict) else {}
        else:
            self._episode_done()
        self._telemetry()
        return {}

    def _episode_done(self) -> None:
        self.episodes += 1
        average = self.loss_sum / max(1, self.episode_length)
        self.successes.append(bool(self.metrics.get("success", False)))
        if average < self.best_loss:
            self.best_loss, self.best_episode = average, self.episodes
        self.ctx.summary.update(tracked_episodes=self.episodes, episode_loss=average)
        self.loss_sum, self.episode_length = 0.0, 0
        patience = min(500, self.MAX_EPISODES // 10)
        if self.episodes >= self.MAX_EPISODES:
            raise RunComplete(f"{self.episodes} episodes (max_episodes)")
        if len(self.successes) == 100 and \
                sum(self.successes) / 100 >= self.SUCCESS_THRESHOLD:
            raise RunComplete(f"success rate {sum(self.successes)}% over 100 episodes")
        if self.episodes - self.best_episode > patience:
            raise RunComplete(f"no better episode loss for {patience} episodes")

    def _telemetry(self) -> None:
        if self.TELEMETRY_LEVEL == "off":
            return
        when, steps, episodes = self.last_report
        text = self.TELEMETRY_INTERVAL.strip()
        if text.endswith("_steps"):
            due = self.steps - steps >= max(1, int(text.removesuffix("_steps") or 1))
        elif text.endswith("_episodes"):
            due = self.episodes - episodes >= max(1, int(text.removesuffix("_episodes") or 1))
        else:
            due = time.monotonic() - when >= (parse_duration(text) or 30.0)
        if due:
            self.last_report = (time.monotonic(), self.steps, self.episodes)
            self.log.warning("steps %d, episodes %d, best episode loss %.5f", self.steps,
                             self.episodes, self.best_loss)
