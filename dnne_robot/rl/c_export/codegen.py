"""C99 source text for a :class:`~.network.Network`: ``policy.h`` and ``policy.c``.

The generated ``policy_act`` keeps every intermediate value in local arrays and reads only
``static const`` data, so it allocates nothing, needs nothing but ``<math.h>`` and is
thread-safe and reentrant. Float constants are written as the shortest decimal that reads back
as the same float32 (a C compiler rounds a decimal ``f`` constant correctly), so the arrays
hold the checkpoint's weights bit for bit.

A linear layer is ``y = W x + b`` with ``W`` stored input-major (PyTorch's ``weight``
transposed): the inner loop runs over the outputs, whose sums are independent, so a compiler
vectorises it at ``-O2`` without reordering any sum (no ``-ffast-math``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .network import Layer, Network

#: policy_act's return codes, in the header and in the documentation.
ERROR_CODES = {
    "POLICY_OK": (0, "the action was written"),
    "POLICY_ERR_NONFINITE_OBS": (1, "an observation value is NaN or infinite"),
    "POLICY_ERR_NONFINITE_ACTION": (2, "the action came out NaN or infinite (an unbounded "
                                       "action overflowed)"),
    "POLICY_ERR_NULL": (3, "obs or action is NULL"),
}
LINE = 100
#: Products summed per block in a linear layer (see :func:`_linear`).
BLOCK = 8


@dataclass(frozen=True)
class Provenance:
    """What the generated files record about where the weights came from."""

    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    task: str | None = None
    control_rate_hz: float | None = None
    workflow: str | None = None


def literal(value: float) -> str:
    """The shortest C float constant that reads back as ``value`` in float32."""
    v = np.float32(value)
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    if np.isnan(v):
        raise ValueError("NaN has no place in a policy's constants")
    text = str(v)
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + "f"


def _wrap(items: Iterable[str], indent: str) -> list[str]:
    """Comma-separated items over lines of at most :data:`LINE` characters."""
    lines: list[str] = []
    current = indent
    for item in items:
        piece = item + ","
        if len(current) + len(piece) + 1 > LINE and current.strip():
            lines.append(current.rstrip())
            current = indent
        current += piece + " "
    if current.strip():
        lines.append(current.rstrip())
    if lines:
        lines[-1] = lines[-1].rstrip(",")
    return lines


def array_1d(name: str, values: np.ndarray, comment: str) -> list[str]:
    body = _wrap((literal(v) for v in values.reshape(-1)), "    ")
    return [f"/* {comment} */", f"static const float {name}[{values.size}] = {{", *body, "};"]


def array_2d(name: str, values: np.ndarray, comment: str) -> list[str]:
    rows, cols = values.shape
    lines = [f"/* {comment} */", f"static const float {name}[{rows}][{cols}] = {{"]
    for r in range(rows):
        body = _wrap((literal(v) for v in values[r]), "        ")
        tail = "," if r < rows - 1 else ""
        lines += ["    {", *body, f"    }}{tail}"]
    return lines + ["};"]


def header(net: Network, prov: Provenance) -> str:
    rate = prov.control_rate_hz or 0.0
    lines = [
        "/* policy.h: the trained policy as a C99 function (dnne-robot export-policy --format c)",
        " *",
        " *   float obs[POLICY_OBS_DIM], action[POLICY_ACT_DIM];",
        " *   if (policy_act(obs, action) != POLICY_OK) policy_safe_action(action);",
        " *",
        " * policy_act maps one raw observation, as the robot measures it, to the action to",
        " * send: the normaliser, the network, the deterministic action (argmax or mean) and the",
        " * action bounds are all inside. No heap, no state: safe to call from any thread.",
        " * Generated: do not edit; export again instead.",
        " */",
        "#ifndef DNNE_POLICY_H",
        "#define DNNE_POLICY_H",
        "",
        f"#define POLICY_OBS_DIM {net.obs_dim}",
        f"#define POLICY_ACT_DIM {net.act_dim}  /* values policy_act writes */",
        f"#define POLICY_DISCRETE {int(net.discrete)}  /* 1: action[0] is an action index */",
    ]
    if net.discrete:
        lines.append(f"#define POLICY_NUM_ACTIONS {net.head_dim}")
    lines += [
        f"#define POLICY_CONTROL_RATE_HZ {float(rate)!r}  /* training's rate; 0.0: unknown */",
        "",
    ]
    lines.append("/* policy_act's return codes; on any but POLICY_OK it leaves action untouched */")
    for name, (code, meaning) in ERROR_CODES.items():
        lines.append(f"#define {name} {code}  /* {meaning.split(' (')[0]} */")
    lines += [
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        "/* obs: POLICY_OBS_DIM floats; action: POLICY_ACT_DIM floats. Returns a POLICY_ code;",
        " * on anything but POLICY_OK the action is left as it was: send the safe action. */",
        "int policy_act(const float *obs, float *action);",
        "",
        "/* Zeros clipped into the action bounds (action index 0 for a discrete space), as",
        " * deploy.py's \"zero\" safe action; not always a neutral action (docs/deploy.md). */",
        "void policy_safe_action(float *action);",
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        "#endif /* DNNE_POLICY_H */",
    ]
    return "\n".join(lines) + "\n"


def _provenance_comment(net: Network, prov: Provenance) -> list[str]:
    lines = [
        "/* policy.c: the trained policy's actor as C99 (dnne-robot export-policy --format c).",
        " *",
        *textwrap.wrap(net.describe(), LINE - 3, initial_indent=" * Network: ",
                       subsequent_indent=" *   ", break_on_hyphens=False),
        f" * Parameters: {net.parameter_count()} float32, "
        f"sha256 {net.weights_sha256()}",
        " *   (every linear layer's weight (out, in) then bias, float32 little-endian, in order)",
    ]
    if prov.checkpoint:
        lines.append(f" * Source checkpoint: {prov.checkpoint}")
    if prov.checkpoint_sha256:
        lines.append(f" *   sha256 {prov.checkpoint_sha256}")
    if prov.task:
        lines.append(f" * Task: {prov.task}")
    if prov.workflow:
        lines.append(f" * Workflow: {prov.workflow}")
    lines += [
        " *",
        " * Needs only <math.h>; no heap, and nothing here changes after start-up, so policy_act",
        " * is thread-safe and reentrant. Build with IEEE float semantics (no -ffast-math).",
        " * Generated: do not edit; export again instead.",
        " */",
    ]
    return lines


def _linear(index: int, layer: Layer, src: str, dst: str) -> list[str]:
    """``dst = W src + b``, :data:`BLOCK` inputs per pass over the outputs.

    Each output sums its products in a fixed order that the compiler may not change (no
    ``-ffast-math``): each block of :data:`BLOCK` products left to right, then the block sums
    in turn, then the bias. That is about as accurate as torch's float32 BLAS (more than one
    long running sum), and the partial sums stay in registers between loads.
    """
    n_out, n_in = layer.weight.shape
    w, b = f"L{index}_WEIGHT", f"L{index}_BIAS"
    lines = [
        f"    /* layer {index}: linear {n_in} -> {n_out} */",
        f"    for (i = 0; i < {n_out}; ++i) acc[i] = 0.0f;",
    ]
    full = n_in - n_in % BLOCK
    if full:
        terms = [f"{w}[j + {k}][i] * x{k}" for k in range(BLOCK)]
        sums = [" + ".join(terms[k : k + 2]) for k in range(0, BLOCK, 2)]
        lead = "            acc[i] = acc[i] + ("
        pad = " " * len(lead)
        lines += [
            f"    for (j = 0; j < {full}; j += {BLOCK}) {{",
            *[f"        const float x{k} = {src}[j + {k}];" for k in range(BLOCK)],
            f"        for (i = 0; i < {n_out}; ++i)",
            lead + sums[0],
            *[f"{pad}+ {part}" for part in sums[1:-1]],
            f"{pad}+ {sums[-1]});",
            "    }",
        ]
    for j in range(full, n_in):
        lines.append(f"    for (i = 0; i < {n_out}; ++i) acc[i] += {w}[{j}][i] * {src}[{j}];")
    lines.append(f"    for (i = 0; i < {n_out}; ++i) {dst}[i] = acc[i] + {b}[i];")
    return lines


def _activation(layer: Layer, buf: str, width: int) -> list[str]:
    if layer.kind == "tanh":
        return _tanh_loops(buf, width)
    if layer.kind == "relu":
        expr = f"{buf}[i] > 0.0f ? {buf}[i] : 0.0f"
    else:  # elu: x > 0 ? x : alpha * (exp(x) - 1)
        scale = "" if layer.alpha == 1.0 else f"{literal(layer.alpha)} * "
        expr = f"{buf}[i] > 0.0f ? {buf}[i] : {scale}expm1f({buf}[i])"
    return [f"    for (i = 0; i < {width}; ++i) {buf}[i] = {expr};  /* {layer.kind} */"]


def _normaliser(net: Network) -> list[str]:
    if net.mean is None:
        return [f"    for (i = 0; i < {net.obs_dim}; ++i) x[i] = obs[i];  /* no normaliser */"]
    clip = literal(net.obs_clip)
    return [
        "    /* normalise with the training statistics, then clip */",
        f"    for (i = 0; i < {net.obs_dim}; ++i) {{",
        "        float v = (obs[i] - OBS_MEAN[i]) / OBS_STD[i];",
        f"        x[i] = v < -{clip} ? -{clip} : (v > {clip} ? {clip} : v);",
        "    }",
    ]


def _action(net: Network, out: str) -> list[str]:
    if net.discrete:
        return [
            "    /* deterministic action: the first index of the largest logit (torch.argmax) */",
            "    best = 0;",
            f"    for (i = 1; i < {net.head_dim}; ++i) if ({out}[i] > {out}[best]) best = i;",
            "    action[0] = (float)best;",
            "    return POLICY_OK;",
        ]
    if net.squash:
        mapping = [
            "    /* deterministic action: the mean, tanh-squashed into [low, high] */",
            *_tanh_loops(out, net.head_dim),
            f"    for (i = 0; i < {net.head_dim}; ++i)",
            f"        {out}[i] = ACTION_LOW[i] + ({out}[i] + 1.0f) * 0.5f * ACTION_RANGE[i];",
        ]
    else:
        mapping = [
            "    /* deterministic action: the mean, clipped into [low, high] */",
            f"    for (i = 0; i < {net.head_dim}; ++i) {{",
            f"        float v = {out}[i] < ACTION_HIGH[i] ? {out}[i] : ACTION_HIGH[i];",
            f"        {out}[i] = v > ACTION_LOW[i] ? v : ACTION_LOW[i];",
            "    }",
        ]
    return mapping + [
        f"    for (i = 0; i < {net.head_dim}; ++i)",
        f"        if (!isfinite({out}[i])) return POLICY_ERR_NONFINITE_ACTION;",
        f"    for (i = 0; i < {net.head_dim}; ++i) action[i] = {out}[i];",
        "    return POLICY_OK;",
    ]


def _safe_action(net: Network) -> list[str]:
    lines = ["void policy_safe_action(float *action)", "{"]
    if net.discrete:
        lines.append("    if (action) action[0] = 0.0f;")
    else:
        lines += [
            "    int i;",
            "    if (!action) return;",
            f"    for (i = 0; i < {net.head_dim}; ++i)",
            "        action[i] = ACTION_LOW[i] > 0.0f ? ACTION_LOW[i]",
            "                  : (ACTION_HIGH[i] < 0.0f ? ACTION_HIGH[i] : 0.0f);",
        ]
    return lines + ["}"]


#: tanh(x) = x P(x^2) / Q(x^2) within 7e-12 on [-TANH_EDGE, TANH_EDGE]: a rational fit
#: (Loeb's linearised least squares with Lawson weights, in float64) made for this module.
TANH_EDGE = 9.1
TANH_P = (0.9999999999613393, 0.13957805858126868, 0.0042271384599959026, 3.611752146844975e-05,
          5.6625257092046036e-08, -5.061376943465892e-11, 7.213513269498951e-14,
          -6.961119025654089e-17)
TANH_Q = (1.0, 0.47291139171429797, 0.02853093599902065, 0.00045983103189096866,
          1.922512178609459e-06)


def _horner(name: str, coefs: tuple[float, ...]) -> list[str]:
    """``name = c[0] + c[1] s + c[2] s^2 + ...`` in double, highest power first."""
    lines = [f"    double {name} = {coefs[-1]!r};"]
    lines += [f"    {name} = {name} * s + {c!r};" for c in reversed(coefs[:-1])]
    return lines


def _tanh_function() -> list[str]:
    return [
        "/* tanh for x in [-TANH_EDGE, TANH_EDGE], where the caller has clamped it (beyond, tanh",
        " * is +-1 in float32): x P(x^2) / Q(x^2), a rational fit within 7e-12 of tanh there,",
        " * evaluated in double. The float result is tanh correctly rounded in all but a few",
        " * cases, and then 1 ulp off. Written out, instead of calling tanhf, so that the loops",
        " * over a layer vectorise. */",
        f"#define TANH_EDGE {literal(TANH_EDGE)}",
        "static inline float tanh_core(float v)",
        "{",
        "    const double x = v, s = x * x;",
        *_horner("p", TANH_P),
        *_horner("q", TANH_Q),
        "    return (float)(x * p / q);",
        "}",
        "",
    ]


def _tanh_loops(buf: str, width: int) -> list[str]:
    # Two loops: the clamp and the rational function in one loop body do not vectorise.
    return [
        f"    for (i = 0; i < {width}; ++i)",
        f"        {buf}[i] = {buf}[i] > TANH_EDGE ? TANH_EDGE"
        f" : ({buf}[i] < -TANH_EDGE ? -TANH_EDGE : {buf}[i]);",
        f"    for (i = 0; i < {width}; ++i) {buf}[i] = tanh_core({buf}[i]);  /* tanh */",
    ]


def source(net: Network, prov: Provenance) -> str:
    lines = _provenance_comment(net, prov)
    lines += [
        "#include <math.h>",
        "",
        '#include "policy.h"',
        "",
        "#if defined(__FAST_MATH__)",
        '#error "policy.c needs IEEE float semantics (its NaN check): build without -ffast-math"',
        "#endif",
        "",
    ]
    if net.mean is not None:
        lines += array_1d("OBS_MEAN", net.mean, "observation mean (training statistics)")
        lines += array_1d("OBS_STD", net.std, "sqrt(var + epsilon), as float32")
        lines.append("")
    index = 0
    for layer in net.layers:
        if layer.kind != "linear":
            continue
        n_out, n_in = layer.weight.shape
        lines += array_2d(f"L{index}_WEIGHT", layer.weight.T,
                          f"layer {index}: weight [in {n_in}][out {n_out}] (PyTorch's, transposed)")
        lines += array_1d(f"L{index}_BIAS", layer.bias, f"layer {index}: bias")
        lines.append("")
        index += 1
    if not net.discrete:
        lines += array_1d("ACTION_LOW", net.low, "action lower bounds")
        lines += array_1d("ACTION_HIGH", net.high, "action upper bounds")
        if net.squash:
            lines += array_1d("ACTION_RANGE", net.act_range, "high - low, as float32")
        lines.append("")

    body: list[str] = []
    buffers = [f"    float x[{net.obs_dim}];"]
    src, index, width = "x", 0, net.obs_dim
    for layer in net.layers:
        if layer.kind == "linear":
            dst = f"h{index}"
            width = layer.width
            buffers.append(f"    float {dst}[{width}];")
            body += _linear(index, layer, src, dst)
            src, index = dst, index + 1
        else:
            body += _activation(layer, src, width)
    widest = max(layer.width for layer in net.linears)
    buffers.append(f"    float acc[{widest}];")
    if any(layer.kind == "tanh" for layer in net.layers) or net.squash:
        lines += _tanh_function()
    lines += [
        "int policy_act(const float *obs, float *action)",
        "{",
        *buffers,
        "    int i, j;" if any(layer.weight.shape[1] >= BLOCK for layer in net.linears)
        else "    int i;",
        *(["    int best;"] if net.discrete else []),
        "",
        "    if (!obs || !action) return POLICY_ERR_NULL;",
        f"    for (i = 0; i < {net.obs_dim}; ++i)",
        "        if (!isfinite(obs[i])) return POLICY_ERR_NONFINITE_OBS;",
        *_normaliser(net),
        *body,
        *_action(net, src),
        "}",
        "",
        *_safe_action(net),
    ]
    return "\n".join(lines) + "\n"
