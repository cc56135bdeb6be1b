"""Flow node types: merges, gates, splits, constants, streams and user code.

The OR merge is dnne-robot's own; the rest are DNNE's (``custom_nodes/*_visnode.py``).
"""

from __future__ import annotations

from ..spec import NodeSpec
from .fields import BOOL, COMBO, FLOAT, INT, STRING, link, out

TENSOR_FILLS = ("zeros", "ones", "uniform", "normal", "kaiming_normal", "kaiming_uniform",
                "xavier_normal", "xavier_uniform", "custom")
TELEMETRY_LEVELS = ("off", "essential", "extended", "debug")

FLOW: tuple[NodeSpec, ...] = (
    # ---------------------------------------------------------------- dnne-robot
    NodeSpec(
        "ORNode", "OR Merge", "flow",
        (link("input_a", "TENSOR", required=False, mode="any"),
         link("input_b", "TENSOR", required=False, mode="any"),
         link("input_c", "TENSOR", required=False, mode="any")),
        (out("output", "TENSOR"),),
        "flow.or_merge", aliases=("OR", "OrNode"), starts_cycle=True,
        description="Forwards whichever input arrives; closes the control loop.",
    ),
    # ---------------------------------------------------------------- DNNE
    NodeSpec(
        "Balancer", "Balancer Node", "flow",
        (
            link("input", "*", tip="Any stream; passed on unchanged."),
            STRING("item_name", "items", required=False, tip="What the stream carries."),
            BOOL("enabled", True, required=False),
            FLOAT("min_hz", -1.0, -1.0, 1000.0, required=False,
                  tip="Warn below this rate (-1: off)."),
            FLOAT("max_hz", -1.0, -1.0, 1000.0, required=False,
                  tip="Hold items back to stay below this rate (-1: off)."),
            FLOAT("target_hz", -1.0, -1.0, 1000.0, required=False,
                  tip="Pace items at this rate (-1: off)."),
            FLOAT("target_percentage", -1.0, -1.0, 100.0, required=False,
                  unused="a share of the whole graph's work, which one process does not split"),
            INT("priority", 0, 0, 100, required=False,
                unused="one event loop runs every node: there is no priority to give"),
            BOOL("guaranteed", False, required=False,
                 unused="one event loop runs every node: nothing is dropped anyway"),
            FLOAT("max_latency_ms", -1.0, -1.0, 10000.0, required=False,
                  tip="Warn when an item waited longer than this (-1: off)."),
            INT("window_size", 100, 10, 1000, required=False,
                tip="Items the measured rate is averaged over."),
            BOOL("log_violations", True, required=False),
            INT("report_interval", 100, 1, 10000, required=False,
                tip="Items between rate reports in the log."),
            COMBO("telemetry_level", TELEMETRY_LEVELS, required=False),
        ),
        (out("output", "*"),),
        "flow.balancer", stateless=False, source="dnne",
        description="Measures a stream's rate, paces it to max_hz / target_hz, reports it.",
    ),
    NodeSpec(
        "BalancerConfig", "Balancer Config", "flow",
        (
            BOOL("enabled", True, required=False),
            FLOAT("min_hz", -1.0, -1.0, 1000.0, required=False),
            FLOAT("max_hz", -1.0, -1.0, 1000.0, required=False),
            FLOAT("target_hz", -1.0, -1.0, 1000.0, required=False),
            FLOAT("target_percentage", -1.0, -1.0, 100.0, required=False),
            INT("priority", 0, 0, 100, required=False),
            BOOL("guaranteed", False, required=False),
            FLOAT("max_latency_ms", -1.0, -1.0, 10000.0, required=False),
        ),
        (out("config", "BALANCING_CONFIG_PYDICT"),),
        "rl.balancer_config", source="dnne", virtual=True,
        description="Rate settings for a PPO Agent (recorded; one process runs it here).",
    ),
    NodeSpec(
        "Barrier", "Barrier", "flow",
        (
            COMBO("hold_mode", ("FIFO",)),
            link("input", "*TENSOR", required=False, mode="any", tip="Items to hold."),
            link("release", "*TRIGGER", required=False, mode="any",
                 tip="Each message releases one held item (several links: any of them)."),
        ),
        (out("output", "HELD_TENSOR"),),
        "flow.barrier", source="dnne",
        description="Holds items first in, first out; each release lets one through.",
    ),
    NodeSpec(
        "Concat", "Concat", "flow",
        (
            COMBO("mode", ("wait for all", "as available")),
            COMBO("pad_mode", ("pad with zeros", "hold previous")),
            *(link(f"input_{c}", "*TENSOR", required=False, mode="any") for c in "abcd"),
        ),
        (out("output", "TENSOR"),),
        "flow.concat", source="dnne",
        description="Joins its connected inputs along the feature axis (dim 1), a to d.",
    ),
    NodeSpec(
        "CustomComputation", "Custom Computation", "flow",
        (
            link("input", "*TENSOR"),
            STRING("src_path", "", tip="A script in --allow-custom-code DIR: compute(input, "
                   "extra_args=None)."),
            link("extra_args", "*TENSOR", required=False),
            STRING("config", "{}", required=False,
                   tip="A Python dict literal handed to the script's set_config_info()."),
        ),
        (out("output", "*"),),
        "flow.custom_computation", source="dnne",
        description="Runs a user script's compute() on each input (opt-in: it is code).",
    ),
    NodeSpec(
        "DataStreamer", "Data Streamer", "flow",
        (
            STRING("src_path", "", tip="A CSV file; copied into the export."),
            STRING("dest_dir", "data", tip="Where the export keeps the CSV."),
            COMBO("sync_mode", ("none", "external", "timed"),
                  tip="none: as fast as read; external: one row per sync; timed: frequency_hz."),
            FLOAT("frequency_hz", 100.0, 0.1, 10000.0),
            BOOL("auto_first_row", True, tip="Send the first row without waiting."),
            BOOL("loop_data", False, tip="Start over at the end of the file."),
            COMBO("eof_mode", ("stop", "pulse_done", "hold_last")),
            STRING("delimiter", ","),
            BOOL("skip_header", True),
            link("sync", "*TRIGGER", required=False, mode="any",
                 tip="external: each message sends one row."),
            link("reset", "*TRIGGER", required=False, mode="any",
                 tip="Back to the first row."),
        ),
        (out("data", "DATASTREAMER_DATA_TENSOR"), out("done", "DATASTREAMER_DONE_TRIGGER"),
         out("metadata", "DATASTREAMER_METADATA_PYDICT")),
        "flow.data_streamer", starts_cycle=True, source="dnne",
        description="Streams a CSV file's rows as [1, columns] tensors.",
    ),
    NodeSpec(
        "Eat_N", "Eat_N", "flow",
        (
            INT("num_to_eat", 1, 1, 100, tip="Items swallowed before the rest pass."),
            COMBO("trigger_mode", ("every_eat", "last_only")),
            link("input", "*TENSOR", required=False),
        ),
        (out("output", "TENSOR"), out("trigger", "EAT_N_TRIGGER")),
        "flow.eat_n", source="dnne",
        description="Swallows the first N items (a trigger for each), then passes the rest.",
    ),
    NodeSpec(
        "Split", "Split", "flow",
        (
            link("input", "*TENSOR"),
            INT("dimension", 0, 0, 3, unused="DNNE splits on the feature axis (dim 1)"),
            COMBO("split_mode", ("by index", "by size", "by name")),
            STRING("split_pos", "10,20,30",
                   tip="by index: cut points; by size: widths; by name: observation fields."),
        ),
        tuple(out(f"output_{c}", "*TENSOR") for c in "abcd"),
        "flow.split", source="dnne",
        description="Cuts the feature axis (dim 1) into up to four parts.",
    ),
    NodeSpec(
        "Tensor", "Tensor", "flow",
        (
            STRING("tensor_dims", "10", tip="Shape: '10', '2,3' or '[2,3,4]'."),
            COMBO("fill_mode", TENSOR_FILLS, legacy={"randn": "normal"}),
            FLOAT("custom_fill", 0.0, -10000.0, 10000.0),
            COMBO("dtype", ("float32", "float64", "int32", "int64", "bool")),
            INT("seed", -1, -1, 2_147_483_647, tip="-1: a new random tensor every time."),
        ),
        (out("tensor", "TENSOR"),),
        "flow.tensor", source="dnne",
        description="A constant source: emits a tensor each time its consumers take one.",
    ),
)
