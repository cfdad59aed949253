"""Resources: which profile the chain runs and where it writes (`ExperimentResource`), and the
MLflow store it tracks to (`MLflowResource`)."""

import os
from dataclasses import replace
from pathlib import Path

import dagster as dg

from agentdistill.experiment import ExperimentConfig, ExperimentPaths
from agentdistill.profile import ExperimentProfile, env_root, load_profile
from agentdistill.tracking import Tracker, offline_environment

REPO_ROOT = Path(__file__).resolve().parents[2]


def from_repo(path: str) -> Path:
    """A path as given when absolute, else relative to the repository root."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


class ExperimentResource(dg.ConfigurableResource):
    """The experiment profile and the artifact root every asset writes under."""

    profile: str = "configs/experiment/default.yaml"
    """Experiment profile YAML (see configs/experiment/): its environments and their settings."""
    root: str = "runs/dagster"
    """Artifact root: one folder per environment (teacher/, teacher_benchmark/, ...)."""
    overrides: list[str] = []  # noqa: RUF012 - pydantic copies defaults
    """`key.sub=value` settings applied over the profile, e.g. `seeds=[0]`."""

    def profile_config(self) -> ExperimentProfile:
        profile = load_profile(from_repo(self.profile), list(self.overrides))
        # the profile's data folder, like every other relative path, is the repository's
        configs = {
            env: config.model_copy(update={"data_dir": str(from_repo(config.data_dir))})
            for env, config in profile.configs.items()
        }
        return replace(profile, configs=configs)

    def config(self, env: str | None = None) -> ExperimentConfig:
        """One environment's experiment (None: the profile's first environment)."""
        profile = self.profile_config()
        return profile.config(env or profile.envs[0])

    def paths(self, env: str | None = None) -> ExperimentPaths:
        """Where one environment's chain writes (None: the profile's first environment)."""
        return ExperimentPaths(env_root(from_repo(self.root), env or self.config().env))


class MLflowResource(dg.ConfigurableResource):
    """The MLflow store: the profile's `tracking` settings, with these overrides."""

    tracking_uri: str | None = None
    """An MLflow server or database URI; None: $MLFLOW_TRACKING_URI, else the profile's. The
    default resources leave it None and read the variable at run time, so a URI with
    credentials never lands in Dagster's resource config (which the UI shows)."""
    root: str | None = None
    """Local store folder (mlflow.db + artifacts/); None: the profile's (`mlflow/`)."""

    def tracker(self, config: ExperimentConfig) -> Tracker:
        offline_environment()
        settings = config.tracking
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if self.tracking_uri or (uri and not settings.tracking_uri):
            settings = settings.model_copy(update={"tracking_uri": uri})
        root = self.root if self.root is not None else settings.root
        settings = settings.model_copy(update={"root": str(from_repo(root))})
        return Tracker(settings, env=config.env)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources from the environment (AGENTDISTILL_PROFILE/ROOT, MLFLOW_TRACKING_URI)."""
    return {
        "experiment": ExperimentResource(
            profile=os.environ.get("AGENTDISTILL_PROFILE", "configs/experiment/default.yaml"),
            root=os.environ.get("AGENTDISTILL_ROOT", "runs/dagster"),
        ),
        "mlflow": MLflowResource(),
    }
