"""Experiment profiles: shared settings, per-environment sections, overrides, errors."""

from pathlib import Path

import pytest
import yaml

from agentdistill.config import ConfigError
from agentdistill.profile import deep_merge, env_root, load_profile

REPO = Path(__file__).parents[1]
CONFIGS = REPO / "configs" / "experiment"

TWO_ENVS = """
name: probe
environments: [alfworld, webshop]
seeds: [0, 1]
distill: {top_k: 16, train: {epochs: 2, lr: 0.003}}
per_env:
  alfworld: {format: {name: alfworld}, benchmark: {split: valid_unseen}}
  webshop:
    format: {name: react}
    benchmark: {split: test}
    distill: {train: {epochs: 5}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


def test_sections_merge_over_shared_settings(tmp_path) -> None:
    profile = load_profile(_write(tmp_path, TWO_ENVS))
    assert profile.envs == ("alfworld", "webshop") and profile.name == "probe"
    alf, shop = profile.config("alfworld"), profile.config("webshop")
    assert (alf.env, shop.env) == ("alfworld", "webshop")
    assert (alf.format.name, shop.format.name) == ("alfworld", "react")
    assert (alf.benchmark.split, shop.benchmark.split) == ("valid_unseen", "test")
    # a nested section merges key by key: webshop keeps the shared lr and top_k
    assert (alf.distill.train.epochs, shop.distill.train.epochs) == (2, 5)
    assert shop.distill.train.lr == alf.distill.train.lr == 0.003
    assert shop.distill.top_k == 16 and shop.seeds == [0, 1]
    assert env_root("runs/x", "webshop") == Path("runs/x/webshop")


def test_overrides_reach_shared_or_one_environment(tmp_path) -> None:
    path = _write(tmp_path, TWO_ENVS)
    shared = load_profile(path, ["distill.top_k=8"])
    assert {c.distill.top_k for c in shared.configs.values()} == {8}
    one = load_profile(path, ["per_env.webshop.distill.top_k=4"])
    assert one.config("alfworld").distill.top_k == 16 and one.config("webshop").distill.top_k == 4
    assert one.select(["webshop"]) == ["webshop"] and one.select(None) == ["alfworld", "webshop"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"environments": []}, "field 'environments'"),
        ({"environments": ["alfworld", "alfworld"]}, "names one twice"),
        ({"env": "alfworld"}, "field 'env'"),
        ({"per_env": {"hotpotqa": {}}}, "not in the profile's environments"),
        ({"per_env": {"webshop": {"name": "other"}}}, "per_env.webshop.name"),
        ({"per_env": {"webshop": {"seeds": [0]}}}, "trains other students"),
        ({"per_env": {"webshop": {"benchmark": {"splitt": "test"}}}}, "[webshop]"),
    ],
)
def test_bad_profiles_name_the_field(tmp_path, edit, message) -> None:
    data = yaml.safe_load(TWO_ENVS)
    data = deep_merge(data, edit) if "per_env" in edit else data | edit
    with pytest.raises(ConfigError) as error:
        load_profile(_write(tmp_path, yaml.safe_dump(data)))
    assert message in str(error.value) and "profile.yaml" in str(error.value)


def test_unknown_environment_is_refused_by_name(tmp_path) -> None:
    profile = load_profile(_write(tmp_path, TWO_ENVS))
    with pytest.raises(ConfigError, match="no environment 'hotpotqa'; it runs alfworld, webshop"):
        profile.select(["hotpotqa"])


def test_single_environment_files_still_load(tmp_path) -> None:
    profile = load_profile(_write(tmp_path, "name: one\nenv: alfworld\nseeds: [3]\n"))
    assert profile.envs == ("alfworld",) and profile.config("alfworld").seeds == [3]
    assert load_profile(None, ["seeds=[4]"]).config("alfworld").seeds == [4]


@pytest.mark.parametrize("name", ["default", "smoke"])
def test_dvc_stages_cover_the_profiles_environments(name: str) -> None:
    """params.yaml lists the environments DVC makes stages for: the default profile's, all
    of which the smoke profile (the one CI reproduces) also runs."""
    envs = yaml.safe_load((REPO / "params.yaml").read_text())["envs"]
    profile = load_profile(CONFIGS / f"{name}.yaml")
    if name == "default":
        assert list(profile.envs) == envs
    assert set(envs) <= set(profile.envs)
    # every environment has its own section: the DVC stages depend on `per_env.<env>`
    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    assert set(raw["per_env"]) == set(profile.envs)


def test_params_run_every_environment_of_the_default_profile() -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    profile = load_profile(REPO / "configs" / "experiment" / f"{params['profile']}.yaml")
    assert params["profile"] == "default"
    assert params["envs"] == list(profile.envs) == ["alfworld", "webshop", "hotpotqa"]
