import json
import re
from pathlib import Path

from typer.testing import CliRunner

from agentdistill.cli import app
from agentdistill.records import Trajectory, read_jsonl

EXAMPLES = Path(__file__).parents[1] / "examples"
runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "import", "parse", "segment", "tokenizer", "distill"):
        assert command in result.output


def test_validate(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "trajectories.jsonl")])
    assert result.exit_code == 0, result.output
    assert "2 valid, 0 skipped" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text((EXAMPLES / "alfworld.jsonl").read_text() + '{"task": 1}\n')
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "bad.jsonl:2: invalid Trajectory" in result.output
    result = runner.invoke(app, ["validate", str(bad), "--skip-invalid"])
    assert result.exit_code == 0 and "1 valid, 1 skipped" in result.output


def test_parse() -> None:
    result = runner.invoke(app, ["parse", "Thought 2: x\nAction 2: Search[y] junk"])
    assert result.exit_code == 0 and "Search[y]" in result.output
    result = runner.invoke(app, ["parse", "just thinking"])
    assert result.exit_code == 1 and "no action found" in result.output


def test_report_tokenizer_and_show(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "segment",
            "report",
            str(EXAMPLES / "trajectories.jsonl"),
            "--out",
            str(out),
            "--set",
            "vocab_size=400",
        ],
    )
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["trajectories"] == 2 and stats["format"] == "react"
    assert all(stats["tokens"][k] > 0 for k in ("PROMPT", "REASON", "ACT", "OBS"))
    assert sum(stats["tokens"].values()) == stats["tokens_total"]
    page = (out / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'class="tok ACT"' in page
    assert "<script" not in page and "http" not in page  # self-contained, nothing fetched

    tokenizer = tmp_path / "tok"
    result = runner.invoke(
        app,
        [
            "tokenizer",
            "train",
            str(EXAMPLES / "alfworld.jsonl"),
            "--out",
            str(tokenizer),
            "--vocab-size",
            "300",
            "--format",
            "alfworld",
        ],
    )
    assert result.exit_code == 0, result.output
    html = tmp_path / "one.html"
    result = runner.invoke(
        app,
        [
            "segment",
            "show",
            str(EXAMPLES / "alfworld.jsonl"),
            "--format",
            "alfworld",
            "--tokenizer",
            str(tokenizer),
            "--html",
            str(html),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "> think: To solve the task" in result.output
    page = html.read_text()
    assert "\nOK.\n&gt; go to countertop 1\n" in re.sub(r"<[^>]+>", "", page)
    assert 'class="tok OBS"' in page


def test_show_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["segment", "show", str(EXAMPLES / "alfworld.jsonl"), "-i", "5"])
    assert result.exit_code == 2 and "holds 1 trajectories" in result.output
    result = runner.invoke(
        app,
        [
            "segment",
            "report",
            str(EXAMPLES / "alfworld.jsonl"),
            "--out",
            str(tmp_path),
            "--set",
            "format.name=yaml",
        ],
    )
    assert result.exit_code == 2 and "field 'format.name'" in result.output


def test_examples_are_reproducible(tmp_path: Path) -> None:
    # the committed examples are what examples/make_examples.py writes
    import runpy

    module = runpy.run_path(str(EXAMPLES / "make_examples.py"))
    assert read_jsonl(EXAMPLES / "trajectories.jsonl", Trajectory) == [
        module["hotpot"],
        module["webshop"],
    ]
    assert read_jsonl(EXAMPLES / "alfworld.jsonl", Trajectory) == [module["alfworld"]]
