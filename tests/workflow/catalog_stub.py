"""A stand-in for the catalog's widget lookup: the DNNE vocabulary of FORMATS.md section 4,
plus the stock ComfyUI nodes the fixtures use."""

from __future__ import annotations

from dnne_robot.workflow import WidgetInfo

_WIDGETS: dict[str, list[WidgetInfo]] = {
    "IsaacGymEnvNode": [
        WidgetInfo(n)
        for n in (
            "env_name",
            "num_envs",
            "isaac_gym_path",
            "isaac_gym_envs_path",
            "headless",
            "device",
            "physics_engine",
        )
    ],
    "IsaacGymStepNode": [],
    "ORNode": [],
    "PPOAgentNode": [
        WidgetInfo(n)
        for n in (
            "hidden_sizes",
            "activation",
            "action_space",
            "action_dim",
            "learning_rate",
            "deterministic",
            "init_log_std",
        )
    ],
    "PPOTrainerNode": [
        WidgetInfo(n)
        for n in (
            "horizon_length",
            "num_epochs",
            "minibatch_size",
            "gamma",
            "gae_lambda",
            "clip_param",
            "value_coef",
            "entropy_coef",
            "learning_rate",
            "max_grad_norm",
            "checkpoint_enabled",
            "checkpoint_trigger_type",
            "checkpoint_trigger_value",
        )
    ],
    "CartpoleActionNode": [WidgetInfo("max_push_effort")],
    "CartpoleRewardNode": [WidgetInfo("reset_dist"), WidgetInfo("invert_for_loss")],
    "LinearLayerNode": [WidgetInfo(n) for n in ("output_size", "bias", "activation", "dropout")],
    "ActivationNode": [WidgetInfo("activation")],
    "KSampler": [
        WidgetInfo("seed", control_after_generate=True),
        WidgetInfo("steps"),
        WidgetInfo("cfg"),
        WidgetInfo("sampler_name"),
        WidgetInfo("scheduler"),
        WidgetInfo("denoise"),
    ],
    "CheckpointLoaderSimple": [WidgetInfo("ckpt_name")],
    "EmptyLatentImage": [WidgetInfo("width"), WidgetInfo("height"), WidgetInfo("batch_size")],
}


def widgets(class_type: str, n_values: int | None = None) -> list[WidgetInfo] | None:
    """The stub lookup: ``None`` for unknown types, like the catalog's."""
    found = _WIDGETS.get(class_type)
    return list(found) if found is not None else None
