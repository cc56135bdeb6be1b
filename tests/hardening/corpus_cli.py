"""``dnne-robot validate``, ``convert`` and ``export`` on corpus files, in-process, one
sandbox each.

    python corpus_cli.py CORPUS_DIR ROOT < names.json > results.json

For each name: ``ROOT/<name>/`` gets a copy of the workflow and becomes the working
directory; ``validate`` runs, then ``convert`` (to stdout), then ``export -o out``. The result
records their exit codes and outputs, every path that appeared outside ``out/``, and (for an
export) the node ids and titles that ``runner.py`` passes to the node classes, read back with
``ast.literal_eval``. Accepted payload files with layer chains are exported with ``--optimize``
as well. Run as a separate process so the test can split the corpus over two cores.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def runner_literals(runner: Path) -> list[list[Any]]:
    """``[id, title]`` of every ``graph.add(Class(id, title, ctx))`` in runner.py."""
    found = []
    for node in ast.walk(ast.parse(runner.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add" and node.args
                and isinstance(node.args[0], ast.Call)):
            args = node.args[0].args
            found.append([ast.literal_eval(args[0]), ast.literal_eval(args[1])])
    return found


def odd_characters(out: Path) -> list[str]:
    """Generated files (not the copied framework) holding characters that are not printable:
    a CR, form feed or line separator in a comment could end it early for some tools."""
    bad = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_dir() or rel.startswith("framework/"):
            continue
        text = path.read_bytes().decode("utf-8")
        if any(not ch.isprintable() and ch != "\n" for ch in text):
            bad.append(rel)
    return bad


def one(cli: Any, app: Any, corpus: Path, root: Path, name: str) -> dict[str, Any]:
    sandbox = root / name.removesuffix(".json")
    sandbox.mkdir(parents=True)
    shutil.copyfile(corpus / "workflows" / name, sandbox / name)
    os.chdir(sandbox)
    before = tree(sandbox)
    result: dict[str, Any] = {}
    r = cli.invoke(app, ["validate", name])
    result["validate"] = [r.exit_code, r.stdout, r.stderr, repr(r.exception)]
    result["validate_wrote"] = sorted(tree(sandbox) - before)
    r = cli.invoke(app, ["convert", name, "--to", "api"])
    result["convert"] = [r.exit_code, "", r.stderr, repr(r.exception)]
    r = cli.invoke(app, ["export", name, "-o", "out"])
    result["export"] = [r.exit_code, r.stdout, r.stderr, repr(r.exception)]
    result["stray"] = sorted(p for p in tree(sandbox) - before
                             if p != "out" and not p.startswith("out/"))
    out = sandbox / "out"
    if r.exit_code == 0 and out.is_dir():
        result["runner_nodes"] = runner_literals(out / "runner.py")
        manifest = json.loads((out / "manifest.json").read_text())
        result["manifest_nodes"] = [[k, v["title"]] for k, v in manifest["nodes"].items()]
        result["odd_characters"] = odd_characters(out)
        if name.endswith(("__mlp.json", "__ui.json")):  # layer chains: --optimize fuses them
            r = cli.invoke(app, ["export", name, "-o", "out_optimized", "--optimize"])
            result["optimized"] = [r.exit_code, r.stdout, r.stderr, repr(r.exception)]
            if r.exit_code == 0:
                result["odd_characters"] += odd_characters(sandbox / "out_optimized")
                shutil.rmtree(sandbox / "out_optimized")
    return result


def main() -> None:
    from typer.testing import CliRunner

    from dnne_robot.cli.app import app
    from dnne_robot.cli.errors import DEBUG

    DEBUG["on"] = False
    corpus, root = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    names = json.load(sys.stdin)
    cli = CliRunner()
    results = {}
    for name in names:
        try:
            results[name] = one(cli, app, corpus, root, name)
        except Exception as exc:  # noqa: BLE001 - the test reports it against the file
            results[name] = {"harness_error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(results, ensure_ascii=True))


if __name__ == "__main__":
    main()
