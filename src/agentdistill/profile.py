"""Experiment profiles: one YAML file, one experiment per environment.

    profile = load_profile("configs/experiment/default.yaml", ["seeds=[0]"])
    profile.envs                            # ('alfworld', 'webshop', ...)
    profile.config("alfworld")              # that environment's ExperimentConfig
    env_root("runs/experiment", "alfworld") # runs/experiment/alfworld: its artifact root

A profile file holds the settings every environment shares, the list of its environments and,
for each, a section of its own deep-merged over the shared settings (the section wins):

    name: default
    environments: [alfworld, webshop]
    seeds: [0, 1, 2]                 # shared
    per_env:
      alfworld: {format: {name: alfworld}, benchmark: {split: valid_unseen}}
      webshop:  {format: {name: webshop}, benchmark: {split: test}}

A file without `environments` is a one-environment profile (its `env`, default alfworld).
Overrides (`--set key=value`) apply to the file before it is split, so `seeds=[0]` changes
the shared setting and `per_env.webshop.seeds=[0]` one environment's. Every environment of a
profile trains the same students (methods, seeds, sizes): the comparison is the same
everywhere, and the asset graph has one student asset per group for all of them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agentdistill.config import ConfigError, apply_override, validate_config
from agentdistill.experiment import ExperimentConfig

#: Keys of a profile file that are not settings of an environment's experiment.
PROFILE_KEYS = ("environments", "per_env")


@dataclass(frozen=True)
class ExperimentProfile:
    """A profile: its name and one resolved experiment per environment, in run order."""

    name: str
    source: str
    configs: dict[str, ExperimentConfig]

    @property
    def envs(self) -> tuple[str, ...]:
        return tuple(self.configs)

    def config(self, env: str) -> ExperimentConfig:
        if env not in self.configs:
            raise ConfigError(
                f"{self.source}: profile {self.name!r} has no environment {env!r}; "
                f"it runs {', '.join(self.envs)}"
            )
        return self.configs[env]

    def select(self, envs: Sequence[str] | None) -> list[str]:
        """The environments asked for (all of them for None or empty), checked, in order."""
        if not envs:
            return list(self.envs)
        for env in envs:
            self.config(env)
        return [env for env in self.envs if env in envs]


def env_root(root: str | Path, env: str) -> Path:
    """Where one environment's experiment writes under a run's root."""
    return Path(root) / env


def deep_merge(base: Mapping[str, Any], section: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `section` merged in: nested mappings merge, anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in section.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: profile file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
    return loaded or {}


def _environments(data: Mapping[str, Any], source: str) -> list[str]:
    if "environments" not in data:
        return [str(data.get("env", "alfworld"))]
    envs = data["environments"]
    if not isinstance(envs, list) or not envs or not all(isinstance(e, str) for e in envs):
        raise ConfigError(
            f"{source}: field 'environments': expected a non-empty list of environment names"
        )
    if len(set(envs)) != len(envs):
        raise ConfigError(f"{source}: field 'environments': {envs} names one twice")
    if "env" in data:
        raise ConfigError(
            f"{source}: field 'env': a profile with 'environments' sets no single 'env'"
        )
    return envs


def _sections(data: Mapping[str, Any], envs: Sequence[str], source: str) -> dict[str, Any]:
    sections = data.get("per_env") or {}
    if not isinstance(sections, dict):
        raise ConfigError(f"{source}: field 'per_env': expected a mapping env -> settings")
    unknown = sorted(set(sections) - set(envs))
    if unknown:
        raise ConfigError(
            f"{source}: field 'per_env': {unknown} not in the profile's environments {list(envs)}"
        )
    for env, section in sections.items():
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: field 'per_env.{env}': expected a mapping of settings")
        for key in ("name", "env", *PROFILE_KEYS):
            if key in section:
                raise ConfigError(
                    f"{source}: field 'per_env.{env}.{key}': set once for the whole profile"
                )
    return sections


def load_profile(
    path: str | Path | None, overrides: Sequence[str] | None = None
) -> ExperimentProfile:
    """Read a profile (one- or multi-environment) with overrides; errors name file and field.

    No path: the defaults of `ExperimentConfig` (one environment), with the overrides."""
    data = _read(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "defaults"
    for override in overrides or []:
        apply_override(data, override)
        source += f" + {override}"
    envs = _environments(data, source)
    sections = _sections(data, envs, source)
    shared = {k: v for k, v in data.items() if k not in PROFILE_KEYS}
    configs: dict[str, ExperimentConfig] = {}
    for env in envs:
        merged = deep_merge(shared, sections.get(env) or {}) | {"env": env}
        configs[env] = validate_config(ExperimentConfig, merged, f"{source} [{env}]")
    first = next(iter(configs.values()))
    for env, config in configs.items():
        if [s.name for s in config.student_specs()] != [s.name for s in first.student_specs()]:
            raise ConfigError(
                f"{source}: environment {env!r} trains other students than {envs[0]!r}; every "
                "environment of a profile trains the same methods, seeds and sizes"
            )
    return ExperimentProfile(name=first.name, source=source, configs=configs)
