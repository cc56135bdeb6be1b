"""DNNE's flow nodes, as its templates compute them: Barrier, Concat, Split, Eat_N, Balancer."""

from __future__ import annotations

import time

import pytest
import torch

from dnne_robot.exporters.flow import split_slices
from dnne_robot.nodes.flow import BalancerNode, BarrierNode, ConcatNode, EatNNode, SplitNode

from .helpers import Tap, configured, feed, graph, run


def test_barrier_releases_one_held_item_per_release_first_in_first_out() -> None:
    ctx, g = graph()
    items = g.add(feed([torch.tensor([i]) for i in range(5)])("1", "items", ctx))
    releases = g.add(feed(["go"] * 3)("2", "releases", ctx))
    barrier = g.add(configured(BarrierNode, HOLD_MODE="FIFO")("3", "barrier", ctx))
    tap = g.add(Tap("4", "tap", ctx))
    g.connect(items, "value", barrier, "input")
    g.connect(releases, "value", barrier, "release")
    g.connect(barrier, "output", tap, "x")
    assert run(g) == "done"
    assert [int(t) for t in tap.seen] == [0, 1, 2]  # three releases, oldest first


def test_a_release_before_any_item_is_banked_and_several_links_all_release() -> None:
    ctx, g = graph()
    early = g.add(feed(["a", "b"])("1", "early releases", ctx))
    other = g.add(feed(["c"])("2", "more releases", ctx))
    barrier = g.add(configured(BarrierNode, HOLD_MODE="FIFO")("3", "barrier", ctx))
    items = g.add(feed([10, 11, 12, 13])("4", "items", ctx))
    tap = g.add(Tap("5", "tap", ctx))
    g.connect(early, "value", barrier, "release")
    g.connect(other, "value", barrier, "release")  # two links into one input: merged
    g.connect(items, "value", barrier, "input")
    g.connect(barrier, "output", tap, "x")
    assert run(g) == "done"
    assert tap.seen == [10, 11, 12]


def test_eat_n_swallows_the_first_items_and_triggers() -> None:
    for mode, triggers in (("every_eat", 2), ("last_only", 1)):
        ctx, g = graph()
        src = g.add(feed([1, 2, 3, 4, 5])("1", "src", ctx))
        eat = g.add(configured(EatNNode, NUM_TO_EAT=2, TRIGGER_MODE=mode)("2", "eat", ctx))
        out, trig = g.add(Tap("3", "out", ctx)), g.add(Tap("4", "trigger", ctx))
        g.connect(src, "value", eat, "input")
        g.connect(eat, "output", out, "x")
        g.connect(eat, "trigger", trig, "x")
        assert run(g) == "done"
        assert out.seen == [3, 4, 5]
        assert len(trig.seen) == triggers and trig.seen[-1]["is_last"]


@pytest.mark.parametrize(("mode", "text", "expected"), [
    ("by index", "2,5", ((0, 2), (2, 5), (5, None))),
    ("by index", "[3:5], [10:18]", ((3, 6), (10, 19))),  # DNNE's inclusive ranges
    ("by size", "3,0,4", ((0, 3), (3, 7))),  # DNNE drops zero sizes
])
def test_split_modes_resolve_to_slices(mode: str, text: str, expected: tuple) -> None:
    assert split_slices(mode, text, None) == expected


def test_split_by_name_uses_the_observation_fields_inclusively() -> None:
    # FrankaDNNE joint_tor's schema, as DNNE's YAML writes it (inclusive ranges).
    schema = {"target_pos": (0, 2), "eef_pos": (3, 5), "eef_quat": (6, 9),
              "joint_theta": (10, 18), "episode_time": (19, 19)}
    assert split_slices("by name", "joint_theta[1], joint_theta[4:6]", schema) == \
        ((11, 12), (14, 17))
    assert split_slices("by name", "target_pos, eef_quat", schema) == ((0, 3), (6, 10))
    with pytest.raises(ValueError, match="names no observation field"):
        split_slices("by name", "elbow", schema)
    with pytest.raises(ValueError, match="needs the observation fields"):
        split_slices("by name", "target_pos", None)


def test_split_cuts_the_feature_axis_and_stops_at_its_width() -> None:
    ctx, g = graph()
    x = torch.arange(12.0).reshape(2, 6)
    src = g.add(feed([x])("1", "src", ctx))
    split = g.add(configured(SplitNode, SLICES=((0, 2), (2, 5), (5, None), (9, None)),
                             DIMENSION=0, SPLIT_MODE="by index", SPLIT_POS="")("2", "s", ctx))
    taps = [g.add(Tap(f"t{c}", c, ctx)) for c in "abcd"]
    g.connect(src, "value", split, "input")
    for c, tap in zip("abcd", taps, strict=True):
        g.connect(split, f"output_{c}", tap, "x")
    assert run(g) == "done"
    assert [t.seen[0].tolist() for t in taps[:3]] == [x[:, 0:2].tolist(), x[:, 2:5].tolist(),
                                                     x[:, 5:].tolist()]
    assert taps[3].seen == []  # past the width: not emitted, as in DNNE


def test_concat_waits_for_all_and_joins_in_input_order() -> None:
    ctx, g = graph()
    a = g.add(feed([torch.ones(1, 2), torch.ones(1, 2) * 3])("1", "a", ctx))
    b = g.add(feed([torch.zeros(3), torch.ones(3) * 2])("2", "b", ctx))  # 1-d: one row
    cat = g.add(configured(ConcatNode, CONNECTED=("input_a", "input_b"), MODE="wait for all",
                           PAD_MODE="pad with zeros")("3", "cat", ctx))
    tap = g.add(Tap("4", "tap", ctx))
    g.connect(b, "value", cat, "input_b")
    g.connect(a, "value", cat, "input_a")
    g.connect(cat, "output", tap, "x")
    assert run(g) == "done"
    assert [t.tolist() for t in tap.seen] == [[[1, 1, 0, 0, 0]], [[3, 3, 2, 2, 2]]]


def test_concat_as_available_pads_inputs_not_seen_yet() -> None:
    ctx, g = graph()
    a = g.add(feed([torch.ones(1, 2)])("1", "a", ctx))
    cat = g.add(configured(ConcatNode, CONNECTED=("input_a", "input_b"), MODE="as available",
                           PAD_MODE="pad with zeros")("3", "cat", ctx))
    tap = g.add(Tap("4", "tap", ctx))
    g.connect(a, "value", cat, "input_a")
    g.connect(cat, "output", tap, "x")
    assert run(g) == "done"
    assert tap.seen[0].tolist() == [[1, 1, 0, 0]]  # input_b padded with the new item's width


def test_balancer_passes_items_unchanged_and_paces_them_to_max_hz() -> None:
    ctx, g = graph()
    src = g.add(feed(list(range(12)))("1", "src", ctx))
    balancer = g.add(configured(
        BalancerNode, ITEM_NAME="items", ENABLED=True, MIN_HZ=-1.0, MAX_HZ=100.0, TARGET_HZ=-1.0,
        MAX_LATENCY_MS=-1.0, WINDOW_SIZE=10, LOG_VIOLATIONS=True, REPORT_INTERVAL=100,
    )("2", "balancer", ctx))
    tap = g.add(Tap("3", "tap", ctx))
    g.connect(src, "value", balancer, "input")
    g.connect(balancer, "output", tap, "x")
    t0 = time.perf_counter()
    assert run(g) == "done"
    assert tap.seen == list(range(12))
    assert time.perf_counter() - t0 >= 0.1  # 12 items at most 100 per second
    assert ctx.summary["balancer_2"]["items"] == 12
