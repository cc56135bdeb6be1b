"""Identifiers and module names made from hostile titles and ids."""

from __future__ import annotations

import builtins
import keyword

import pytest

from dnne_robot.plan.names import NameAllocator, camel, snake

TITLES = ["PPO Agent", "class", "def", "None", "True", "print", "list", "type", "match", "_",
          "123", "3d layer", "🤖", "🤖🦾", "", "   ", "__init__", "import", "Ünïcödé Ñode",
          "a\nb", "x" * 200, "../../etc/passwd", "con", "lambda: 1", "Robot-Arm (v2)"]


def _is_safe(name: str) -> bool:
    return (name.isidentifier() and name.isascii() and not keyword.iskeyword(name)
            and not keyword.issoftkeyword(name) and name not in dir(builtins))


@pytest.mark.parametrize("title", TITLES)
def test_snake_is_a_safe_identifier(title: str) -> None:
    name = snake(title)
    assert _is_safe(name), name
    assert name == name.lower()
    assert len(name) <= 41


@pytest.mark.parametrize("title", TITLES)
def test_camel_is_a_safe_identifier(title: str) -> None:
    name = camel(title)
    assert _is_safe(name), name
    assert name[0].isupper()


@pytest.mark.parametrize(
    ("title", "expected"),
    [("PPO Agent", "ppo_agent"), ("class", "class_"), ("print", "print_"), ("123", "node_123"),
     ("3d layer", "node_3d_layer"), ("🤖", "node"), ("", "node"), ("Ünïcödé Ñode", "unicode_node"),
     ("Robot-Arm (v2)", "robot_arm_v2"), ("match", "match_")],
)
def test_snake_examples(title: str, expected: str) -> None:
    assert snake(title) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [("PPO Agent", "PPOAgent"), ("none", "None_"), ("true", "True_"), ("9 lives", "Node9Lives"),
     ("🤖🦾", "Node"), ("sim step", "SimStep")],
)
def test_camel_examples(title: str, expected: str) -> None:
    assert camel(title) == expected


def test_fallbacks() -> None:
    assert snake("🤖", fallback="n") == "n"
    assert snake("7", fallback="n") == "n_7"
    assert camel("", fallback="N") == "N"


def test_allocator_suffixes_clashes_in_order() -> None:
    names = NameAllocator()
    assert [names.take(n) for n in ("agent", "agent", "agent", "other")] == [
        "agent", "agent_2", "agent_3", "other"]


def test_allocator_skips_names_already_taken_by_hand() -> None:
    names = NameAllocator()
    assert names.take("agent_2") == "agent_2"
    assert names.take("agent") == "agent"
    assert names.take("agent") == "agent_3"


def test_allocator_is_case_insensitive() -> None:
    # Module files must not clash on case-insensitive file systems (macOS, Windows).
    names = NameAllocator()
    assert names.take("Agent") == "Agent"
    assert names.take("agent") == "agent_2"


def test_many_identical_titles_get_distinct_names() -> None:
    names = NameAllocator()
    taken = [names.take(snake("🤖")) for _ in range(100)]
    assert len(set(taken)) == 100
    assert all(_is_safe(n) for n in taken)
