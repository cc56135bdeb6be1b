"""The deploy policy as plain arrays: what the generated C computes, read off the torch modules.

:func:`describe` walks a :class:`~..export.DeployPolicy` (the frozen actor that the TorchScript,
pt2 and ONNX exports hold) and returns a :class:`Network`: the normaliser as ``mean`` and
``std``, the layers in order, and the action mapping. Every number is the float32 value the
torch module computes with, so the C reproduces the exported actor, not an approximation of it.
Layers other than linear, tanh, relu and elu are refused with :class:`CExportError`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..export import DeployPolicy, ExportError

#: The layer kinds the C export generates code for.
SUPPORTED = ("linear", "tanh", "relu", "elu")


class CExportError(ExportError):
    """The policy cannot be written as C, or the C it gave failed to build or to match."""


@dataclass(frozen=True)
class Layer:
    """One step of the actor: ``kind`` is one of :data:`SUPPORTED`.

    Linear layers hold ``weight`` ``(out, in)`` and ``bias`` ``(out,)`` as float32, exactly
    as in the checkpoint; ``alpha`` is ELU's.
    """

    kind: str
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    alpha: float = 1.0

    @property
    def width(self) -> int | None:
        return None if self.weight is None else int(self.weight.shape[0])


@dataclass(frozen=True)
class Network:
    """Everything ``policy_act`` computes, as float32 arrays.

    ``mean``/``std`` are None without a normaliser; ``std`` is ``sqrt(var + epsilon)`` computed
    in float32, as :func:`~..normalizer.normalize_obs` does. ``act_range`` is ``high - low``
    in float32 (the tanh-squash scale).
    """

    obs_dim: int
    layers: list[Layer]
    discrete: bool
    head_dim: int
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    obs_clip: float = 10.0
    squash: bool = False
    low: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    high: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def act_dim(self) -> int:
        """Values written to ``action``: one (the index) for a discrete action space."""
        return 1 if self.discrete else self.head_dim

    @property
    def act_range(self) -> np.ndarray:
        return (self.high - self.low).astype(np.float32)

    @property
    def linears(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.kind == "linear"]

    def parameter_count(self) -> int:
        return sum(int(layer.weight.size + layer.bias.size) for layer in self.linears)

    def weights_sha256(self) -> str:
        """sha256 of the actor's parameters: every linear layer's weight ``(out, in)`` then its
        bias, as float32 little-endian bytes, in layer order (``actor_body`` then
        ``actor_head``). Recompute it from a checkpoint to prove the C holds those weights."""
        h = hashlib.sha256()
        for layer in self.linears:
            for array in (layer.weight, layer.bias):
                h.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
        return h.hexdigest()

    def describe(self) -> str:
        """One line: ``4 -> normalise -> linear 64 -> tanh -> ... -> argmax``."""
        parts = [str(self.obs_dim)]
        if self.mean is not None:
            parts.append(f"normalise (clip {self.obs_clip:g})")
        for layer in self.layers:
            parts.append(f"linear {layer.width}" if layer.kind == "linear" else (
                f"elu(alpha={layer.alpha:g})" if layer.kind == "elu" and layer.alpha != 1.0
                else layer.kind))
        if self.discrete:
            parts.append("argmax")
        else:
            parts.append("tanh-scale to [low, high]" if self.squash else "clip to [low, high]")
        return " -> ".join(parts)


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).contiguous().numpy().copy()


def _layer(module: nn.Module, where: str) -> Layer:
    if isinstance(module, nn.Linear):
        if module.bias is None:
            raise CExportError(f"{where} is a linear layer without a bias; the C export "
                               "expects the bias every actor layer of this project has")
        return Layer("linear", _array(module.weight), _array(module.bias))
    if isinstance(module, nn.Tanh):
        return Layer("tanh")
    if isinstance(module, nn.ReLU):
        return Layer("relu")
    if isinstance(module, nn.ELU):
        return Layer("elu", alpha=float(module.alpha))
    raise CExportError(f"{where} is {type(module).__name__}; the C export writes only "
                       f"{', '.join(SUPPORTED)} layers")


def describe(deploy: DeployPolicy) -> Network:
    """The :class:`Network` of ``deploy``; raises :class:`CExportError` for anything the C
    export does not cover (a layer kind, a missing bias, a non-finite weight)."""
    body = deploy.body
    if not isinstance(body, nn.Sequential):
        raise CExportError(f"the actor body is {type(body).__name__}, not nn.Sequential; the C "
                           "export reads the layers of a plain MLP")
    layers = [_layer(m, f"actor_body[{i}]") for i, m in enumerate(body)]
    layers.append(_layer(deploy.head, "actor_head"))
    if layers[-1].kind != "linear":
        raise CExportError("the actor head must be a linear layer")
    in_dim = deploy.obs_dim
    for i, layer in enumerate(layers):
        if layer.kind != "linear":
            continue
        if layer.weight.shape[1] != in_dim:
            raise CExportError(f"layer {i} takes {layer.weight.shape[1]} inputs but gets {in_dim}")
        for name, array in (("weight", layer.weight), ("bias", layer.bias)):
            if not np.isfinite(array).all():
                raise CExportError(f"layer {i}'s {name} holds NaN or inf: the checkpoint is "
                                   "broken, there is nothing sensible to export")
        in_dim = layer.width
    mean = std = None
    if deploy.normalize_obs:
        mean = _array(deploy.obs_mean)
        # The same float32 operations as normalize_obs: sqrt(var + epsilon).
        std = _array(torch.sqrt(deploy.obs_var.to(torch.float32) + deploy.epsilon))
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise CExportError("the observation normaliser holds NaN, inf or a zero std")
    low = _array(deploy.action_low) if not deploy.discrete else np.zeros(0, np.float32)
    high = _array(deploy.action_high) if not deploy.discrete else np.zeros(0, np.float32)
    if deploy.squash and not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise CExportError("a tanh-squashed action needs finite bounds")
    if not math.isfinite(deploy.obs_clip):
        raise CExportError(f"the observation clip is {deploy.obs_clip}")
    return Network(obs_dim=int(deploy.obs_dim), layers=layers, discrete=bool(deploy.discrete),
                   head_dim=int(in_dim), mean=mean, std=std, obs_clip=float(deploy.obs_clip),
                   squash=bool(deploy.squash), low=low, high=high)
