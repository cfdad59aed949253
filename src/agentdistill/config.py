"""Configuration: pydantic models loaded from YAML, with `key.sub=value` overrides.

    cfg = load_config(SegmentReportConfig, "configs/report.yaml", ["format.name=alfworld"])

Values in overrides are parsed as YAML scalars (`3`, `true`, `0.5`, `[a, b]`). Errors name the
file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentdistill.formats import FormatName, ReactFormat, get_format

C = TypeVar("C", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message says where and why."""


class Config(BaseModel):
    """Base of every configuration: unknown keys are errors (a typo must not pass)."""

    model_config = ConfigDict(extra="forbid")


class FormatConfig(Config):
    """Which ReAct text format renders trajectories."""

    name: FormatName = Field(
        default="react",
        description="Text format: react (Thought/Action), paper, alfworld, or webshop.",
    )
    numbered: bool = Field(
        default=True, description="react only: number the labels (`Thought 2:`)."
    )
    preamble: str = Field(
        default="", description="Text before the task (instructions or few-shot examples)."
    )

    def build(self) -> ReactFormat:
        return get_format(self.name, numbered=self.numbered)

    def save(self, model_dir: str | Path) -> Path:
        """Record in a model folder the format (and preamble) the model was trained with."""
        from agentdistill.files import write_text_atomic

        return write_text_atomic(Path(model_dir) / FORMAT_FILE, self.model_dump_json(indent=2))

    @classmethod
    def recorded(cls, model_dir: str | Path) -> FormatConfig | None:
        """The format a model folder records (None: not one of ours, e.g. a user's HF model)."""
        path = Path(model_dir) / FORMAT_FILE
        if not path.exists():
            return None
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path}: not a valid format record ({exc})") from exc


#: The file in a model folder that records its text format (`FormatConfig.save`).
FORMAT_FILE = "agentdistill_format.json"


def resolve_format(model_dir: str | Path, given: FormatConfig | None) -> FormatConfig:
    """The format to use with a model: the given one, which must agree with the recorded one.

    A model is evaluated (and distilled from) in the format it was trained with, preamble
    included; a different one is an error, not a silent mismatch.
    """
    recorded = FormatConfig.recorded(model_dir)
    if given is None:
        if recorded is None:
            raise ConfigError(
                f"{model_dir}: the model records no text format ({FORMAT_FILE}); give one "
                "(e.g. --format alfworld)"
            )
        return recorded
    if recorded is not None and recorded != given:
        raise ConfigError(
            f"{model_dir}: trained with format {recorded.model_dump()}, but "
            f"{given.model_dump()} was asked for; a model must be prompted as it was trained"
        )
    return given


def apply_override(data: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in nested dict `data` (value parsed as YAML)."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {override!r}: expected KEY=VALUE, e.g. format.name=alfworld")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: '{part}' is not a section")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {override!r}: value is not valid YAML ({exc})") from exc


def load_config(
    model: type[C], path: str | Path | None = None, overrides: list[str] | None = None
) -> C:
    """Build `model` from an optional YAML file plus overrides; validation errors name fields."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: config file not found") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(
                f"{path}: expected a mapping of settings, got {type(loaded).__name__}"
            )
        data = loaded or {}
    for override in overrides or []:
        apply_override(data, override)
        source += f" + {override}"
    return validate_config(model, data, source)


def validate_config(model: type[C], data: dict[str, Any], source: str) -> C:
    """`model` from a mapping of settings; a validation error names `source` and the fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"{source}: invalid {model.__name__}: {problems}") from exc


def dump_config(config: BaseModel) -> str:
    """YAML text of a configuration (round-trips through `load_config`)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
