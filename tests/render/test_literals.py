"""The literal renderer: every workflow value becomes source that evaluates back to itself."""

from __future__ import annotations

import ast
import math

import pytest

from dnne_robot.render.literals import (
    MAX_DEPTH,
    UnsafeLiteralError,
    comment_text,
    docstring_block,
    docstring_text,
    py_literal,
)

HOSTILE_STRINGS = [
    "",
    "plain",
    'double " quote',
    "single ' quote",
    "both ' and \" quotes",
    '"""triple double"""',
    "'''triple single'''",
    '""" + __import__("os").system("echo pwned") + """',
    "back\\slash",
    "trailing backslash\\",
    "new\nline",
    "carriage\rreturn",
    "crlf\r\n",
    "tab\there",
    "{{ jinja }} {% if x %}{% endif %} {# c #}",
    "emoji 🤖🦾",
    "\x00\x01\x07\x1b[31m control",
    "\u2028line separator\u2029",
    "\ud800 lone surrogate",
    "x" * 5000,
]


def _eval(src: str):
    # Only float('inf') / float('nan') need more than literal_eval: evaluate with no builtins
    # but float, which is what generated modules rely on.
    return eval(compile(ast.parse(src, mode="eval"), "<literal>", "eval"),
                {"__builtins__": {}, "float": float, "set": set, "frozenset": frozenset})


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_strings_round_trip(text: str) -> None:
    src = py_literal(text)
    assert ast.literal_eval(src) == text
    assert "\n" not in src and "\r" not in src


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_strings_are_safe_inside_generated_code(text: str) -> None:
    src = f"VALUE = {py_literal(text)}\n"
    tree = ast.parse(src)
    assert isinstance(tree.body[0], ast.Assign)
    assert isinstance(tree.body[0].value, ast.Constant)
    assert len(tree.body) == 1


def test_double_quotes_when_nothing_needs_escaping() -> None:
    assert py_literal("abc") == '"abc"'
    assert py_literal("it's") == '"it\'s"'


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -1, 2**70, 0.0, -0.0, 1.5, 1e-300, 1e300, 3e-4],
)
def test_scalars_round_trip(value) -> None:
    src = py_literal(value)
    out = ast.literal_eval(src)
    assert out == value and type(out) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, out) == math.copysign(1, value)


def test_bool_is_not_written_as_int() -> None:
    assert py_literal(True) == "True"
    assert py_literal([False]) == "[False]"


@pytest.mark.parametrize(
    ("value", "source"),
    [(math.inf, 'float("inf")'), (-math.inf, '-float("inf")'), (math.nan, 'float("nan")')],
)
def test_non_finite_floats(value: float, source: str) -> None:
    assert py_literal(value) == source
    back = _eval(py_literal(value))
    assert (math.isnan(back) and math.isnan(value)) or back == value


def test_nested_containers_round_trip() -> None:
    value = {
        "a": [1, 2.5, "x\ny", None, True],
        "b": {"c": (1,), "d": (), "e": [], "f": {}},
        3: ["{{ x }}", {"'\"": [[[]]]}],
        "inf": [math.inf, -math.inf],
    }
    assert _eval(py_literal(value)) == value
    assert isinstance(_eval(py_literal((1,))), tuple)


def test_sets_are_sorted_and_round_trip() -> None:
    assert py_literal({3, 1, 2}) == "{1, 2, 3}"
    assert py_literal({"b", "a"}) == py_literal({"a", "b"}) == '{"a", "b"}'
    assert py_literal(set()) == "set()"
    assert py_literal(frozenset({2, 1})) == "frozenset({1, 2})"
    assert py_literal(frozenset()) == "frozenset()"
    for value in ({3, 1, 2}, set(), frozenset({"z", "y"}), frozenset()):
        assert _eval(py_literal(value)) == value


def test_set_order_is_independent_of_insertion_order() -> None:
    words = [f"w{i}" for i in range(50)]
    assert py_literal(set(words)) == py_literal(set(reversed(words)))


class _Evil:
    def __repr__(self) -> str:
        return "__import__('os').system('echo pwned')"


@pytest.mark.parametrize(
    "value",
    [_Evil(), object(), b"bytes", bytearray(b"x"), 1j, range(3), print, type, Ellipsis,
     [1, _Evil()], {"k": object()}, {(1, 2): "tuple key"}, {_Evil(): 1}],
)
def test_refuses_anything_else(value) -> None:
    with pytest.raises(UnsafeLiteralError):
        py_literal(value)


def test_refuses_deep_nesting() -> None:
    value: list = []
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    with pytest.raises(UnsafeLiteralError, match="nested"):
        py_literal(value)
    shallow: list = []
    for _ in range(MAX_DEPTH - 1):
        shallow = [shallow]
    assert ast.literal_eval(py_literal(shallow)) == shallow


def test_refuses_self_referencing_containers() -> None:
    loop: list = []
    loop.append(loop)
    with pytest.raises(UnsafeLiteralError):
        py_literal(loop)


def test_subclasses_are_written_as_their_base_type() -> None:
    class MyStr(str):
        def __repr__(self) -> str:
            return "os.system('x')"

    class MyInt(int):
        def __repr__(self) -> str:
            return "os.system('x')"

    assert py_literal(MyStr("a")) == '"a"'
    assert py_literal(MyInt(4)) == "4"


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_comment_text_stays_on_one_line(text: str) -> None:
    src = f"x = 1  # {comment_text(text)}\ny = 2\n"
    tree = ast.parse(src)
    assert [type(s) for s in tree.body] == [ast.Assign, ast.Assign]
    assert "\n" not in comment_text(text) and "\r" not in comment_text(text)
    assert len(comment_text(text)) <= 80


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_docstrings_cannot_be_closed_early(text: str) -> None:
    src = f'def f():\n    """{docstring_text(text)}"""\n    return 1\n'
    tree = ast.parse(src)
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef) and len(func.body) == 2
    block = docstring_block(text * 3, indent=4)
    tree = ast.parse(f"def g():\n    {block}\n    return 2\n")
    assert len(tree.body[0].body) == 2
