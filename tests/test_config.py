from pathlib import Path

import pytest

from agentdistill.config import ConfigError, dump_config, load_config
from agentdistill.segment_view import SegmentReportConfig


def test_defaults_file_and_overrides(tmp_path: Path) -> None:
    assert load_config(SegmentReportConfig).format.name == "react"
    path = tmp_path / "c.yaml"
    path.write_text("format:\n  name: alfworld\nvocab_size: 512\n")
    cfg = load_config(
        SegmentReportConfig, path, ["vocab_size=700", "format.numbered=false", "tokenizer=some/dir"]
    )
    assert (cfg.format.name, cfg.format.numbered, cfg.vocab_size, cfg.tokenizer) == (
        "alfworld",
        False,
        700,
        "some/dir",
    )
    again = tmp_path / "again.yaml"
    again.write_text(dump_config(cfg))
    assert load_config(SegmentReportConfig, again) == cfg


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (
            "format:\n  name: xml\n",
            [],
            r"c\.yaml: invalid SegmentReportConfig: field 'format\.name'",
        ),
        ("vocab_sise: 3\n", [], r"field 'vocab_sise': Extra inputs are not permitted"),
        ("- a\n- b\n", [], r"c\.yaml: expected a mapping of settings, got list"),
        ("a: [\n", [], r"c\.yaml: not valid YAML"),
        ("", ["vocab_size=12"], r"c\.yaml \+ vocab_size=12: .*field 'vocab_size'"),
        ("", ["vocab_size"], r"expected KEY=VALUE"),
        ("vocab_size: 600\n", ["vocab_size.x=1"], r"'vocab_size' is not a section"),
    ],
)
def test_errors_name_file_and_field(tmp_path: Path, text, overrides, message) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(SegmentReportConfig, path, overrides)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(SegmentReportConfig, tmp_path / "nope.yaml")
