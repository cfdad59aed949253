"""Resources: where the chain writes and which profile it runs (`ExperimentResource`), and the
MLflow store it tracks to (`MLflowResource`)."""

import os
from pathlib import Path

import dagster as dg
import yaml

from agentdistill.config import load_config
from agentdistill.experiment import ExperimentConfig, ExperimentPaths
from agentdistill.tracking import Tracker, TrackingConfig, offline_environment

REPO_ROOT = Path(__file__).resolve().parents[2]


def from_repo(path: str) -> Path:
    """A path as given when absolute, else relative to the repository root."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


class ExperimentResource(dg.ConfigurableResource):
    """The experiment profile and the artifact root every asset writes under."""

    profile: str = "configs/experiment/default.yaml"
    """Experiment YAML (see configs/experiment/)."""
    root: str = "runs/dagster"
    """Artifact root: teacher/, teacher_rollouts/, segments/, students/, benchmarks/, report/."""
    overrides: list[str] = []  # noqa: RUF012 - pydantic copies defaults
    """`key.sub=value` settings applied over the profile, e.g. `seeds=[0]`."""
    teacher_floor: float = 0.0
    """Blocking check: the teacher's success rate must reach this before distillation."""

    def config(self) -> ExperimentConfig:
        return load_config(ExperimentConfig, from_repo(self.profile), list(self.overrides))

    def paths(self) -> ExperimentPaths:
        return ExperimentPaths(from_repo(self.root))

    def data_version(self) -> str:
        """The DVC hash of the raw inputs (`data.dvc`), to tag runs with; '' when absent."""
        dvc_file = REPO_ROOT / "data.dvc"
        if not dvc_file.exists():
            return ""
        outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
        return str(outs[0].get("md5", ""))


class MLflowResource(dg.ConfigurableResource):
    """The MLflow store (local sqlite under `root` unless `tracking_uri` is set)."""

    tracking_uri: str | None = None
    """An MLflow server or database URI; None: the local store under `root`."""
    root: str = "mlflow"
    """Local store folder (mlflow.db + artifacts/)."""
    experiment: str = "agentdistill"
    """MLflow experiment name."""
    registered_model: str = "agentdistill-student"
    """Registered model the students are versions of."""
    success_floor: float = 0.0
    """Champion rule: a student's success CI lower bound must reach this."""

    def tracker(self) -> Tracker:
        offline_environment()
        return Tracker(
            TrackingConfig(
                tracking_uri=self.tracking_uri,
                root=str(from_repo(self.root)),
                experiment=self.experiment,
                registered_model=self.registered_model,
                success_floor=self.success_floor,
            )
        )


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources from the environment (AGENTDISTILL_PROFILE/ROOT, MLFLOW_TRACKING_URI)."""
    return {
        "experiment": ExperimentResource(
            profile=os.environ.get("AGENTDISTILL_PROFILE", "configs/experiment/default.yaml"),
            root=os.environ.get("AGENTDISTILL_ROOT", "runs/dagster"),
            teacher_floor=float(os.environ.get("AGENTDISTILL_TEACHER_FLOOR", "0.0")),
        ),
        "mlflow": MLflowResource(tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or None),
    }
