"""Experiment tracking with MLflow: training runs, benchmark reports, a registry with a champion.

By default everything lands in a local store under `mlflow/` (relative to the working
directory): the run data in the SQLite database `mlflow/mlflow.db`, artifacts (checkpoints,
reports) under `mlflow/artifacts/`. Set `tracking_uri` to use a tracking server instead.

    offline_environment()                      # nothing phones home (telemetry, the HF Hub)
    tracker = Tracker(TrackingConfig(), env="alfworld")   # registry: agentdistill-alfworld-student
    run_id = tracker.log_training("sad-s0", cfg.model_dump(mode="json"), Path("runs/sad"),
                                  tags={"method": "sad", "seed": "0"}, run_key=key)
    tracker.log_benchmark("valid_unseen", {"alfworld/valid_unseen/success_rate": 0.62, ...},
                          [Path("report.md")], tags={}, run_id=run_id, run_key=bench_key)
    version = tracker.register(run_id, {"profile": "default", "success_rate": "0.62",
                                        "success_low": "0.54", "parameters": "5300000"})
    champion, reason = tracker.promote_champion(profile="default")
    agent = tracker.load_model()                 # models:/agentdistill-alfworld-student@champion
    agent.predict([{"first_observation": "You are in ...", "steps": []}])  # -> [AgentTurn]

Idempotent logging: with a `run_key` (`fingerprints.run_key` of stage, resolved config and
input hashes) a finished run with that key is reused instead of logged again; `register`
returns the existing version of a run. The experiment stages (`agentdistill.experiment`) log
through this class, so the CLI, DVC and Dagster produce the same runs.

The logged checkpoint is an MLflow pyfunc model, `mlflow_agent.AgentModel`: it carries the Hugging
Face model folder (with the format it was trained in) as the artifact `hf_model` and answers an
episode so far with its next ReAct turn, as the in-process `HFPolicy` plays it; MLflow's own
`mlflow models serve` serves it (see `agentdistill.mlflow_agent`). The folder itself comes back with
`Tracker.download_hf_model(model_uri)`. Models logged before (`HFCausalLM`, greedy
continuation of prompts) still load.

Champion rule (`promote_champion`): candidates are the versions of the registered model (of
one profile, tag `profile`, when given) whose tag `success_low` (lower bound of the 95%
confidence interval of the benchmark success rate) is at least `success_floor`; the champion is
the candidate with the highest `success_rate`; ties go to fewer `parameters`, then to the
newest version. The configured alias (`champion` by default) points at it (stages are
deprecated in MLflow and not used).

Look at the local store in the UI (then open http://127.0.0.1:5000):

    mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --host 127.0.0.1 --port 5000

Artifacts are read from the absolute paths recorded per experiment (`.../mlflow/artifacts`), so
a UI on the same machine needs no artifact flags. The first use of a new database runs
MLflow's migrations (about 5 s). Several processes may log to one SQLite file; for many
concurrent writers use a tracking server:

    mlflow server --backend-store-uri sqlite:///mlflow/mlflow.db \
        --artifacts-destination mlflow/artifacts --host 127.0.0.1 --port 5000
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import mlflow
from filelock import FileLock
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from pydantic import Field

from agentdistill.config import Config, FormatConfig

if TYPE_CHECKING:
    from agentdistill.policies.hf import DecodingConfig

log = logging.getLogger(__name__)

#: Environment that keeps MLflow, Hugging Face and friends from contacting the network.
OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
}
#: Per-step training metrics read from `metrics.jsonl`.
STEP_METRICS = ("loss", "reason_loss", "act_loss", "other_loss", "lr", "tokens_per_s", "epoch")
#: Model-version tags read by `promote_champion`.
TAG_SUCCESS_RATE = "success_rate"
TAG_SUCCESS_LOW = "success_low"
TAG_PARAMETERS = "parameters"
TAG_CHAMPION_REASON = "champion_reason"
TAG_PROFILE = "profile"
#: Run tag holding `fingerprints.run_key` of the stage run that logged it (idempotency).
TAG_RUN_KEY = "agentdistill.run_key"
#: Run tag holding the key of the benchmark logged into a training run.
TAG_BENCHMARK_KEY = "agentdistill.benchmark_key"
#: Run tag holding `fingerprints.model_sha256` of the checkpoint a training run logged.
TAG_MODEL_SHA = "agentdistill.model_sha256"
#: Where the Hugging Face folder lives inside the logged pyfunc model.
HF_ARTIFACT = "hf_model"
MODEL_NAME = "model"
DEFAULT_UI = "http://127.0.0.1:5000"

MAX_PARAM_VALUE = 6000  # MLflow's limit on a param value
MAX_TAG_VALUE = 8000  # MLflow's limit on a run tag value
MAX_KEY = 250  # MLflow's limit on a param, metric or tag name
_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]")
_URI_LOCK = threading.RLock()  # the pyfunc API reads the process-wide tracking URI


_SECRET_PARAMS = re.compile(r"pass|secret|token|key|sig|credential|auth", re.IGNORECASE)
REDACTED = "***"


def redact_uri(uri: str) -> str:
    """`uri` fit to show or log: a password in it (`user:pass@`), a user part alone (often a
    token: `https://TOKEN@host`) and secret-looking query parameters become `***`."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return REDACTED
    shown = uri  # edited in place: re-assembling would rewrite `sqlite:////abs` paths
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, has_password, _ = userinfo.partition(":")
        hidden = f"{user}:{REDACTED}" if has_password else REDACTED
        shown = shown.replace(f"//{userinfo}@", f"//{hidden}@", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if _SECRET_PARAMS.search(k) else v) for k, v in pairs], safe="*"
        )
        shown = shown.replace(f"?{parts.query}", f"?{query}", 1)
    return shown


def _without_credentials(url: str) -> str:
    """A browser link: the URL without any user part or query (the UI asks for a login)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class TrackingConfig(Config):
    """Where runs, checkpoints and the model registry live, and the champion rule."""

    tracking_uri: str | None = Field(
        default=None,
        repr=False,  # it may embed credentials; `redact_uri` gives a showable form
        description="Tracking server or database URI; none: the local SQLite store under "
        "`root` (the experiment stages take $MLFLOW_TRACKING_URI when it is set). Credentials "
        "in it are never shown or logged (see `redact_uri`); prefer MLflow's "
        "MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN variables to embedding them.",
    )
    root: str = Field(
        default="mlflow",
        description="Local store folder (mlflow.db and artifacts/), used when no tracking URI "
        "is set; relative to the working directory.",
    )
    experiment: str = Field(default="agentdistill", description="MLflow experiment name.")
    registered_model: str = Field(
        default="agentdistill-{env}-student",
        description="Registered model that student versions go to; `{env}` is replaced by the "
        "environment, so students of different environments never compete.",
    )
    champion_alias: str = Field(
        default="champion",
        description="Registry alias set on the best version of this profile (a profile "
        "other than the production one uses its own alias, e.g. smoke-champion).",
    )
    success_floor: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="A version can be champion only if its success-rate 95% CI lower bound "
        "(tag success_low) is at least this.",
    )
    ui_url: str | None = Field(
        default=None,
        description="Base URL of the MLflow UI for run links; none: the tracking server when "
        f"tracking_uri is http(s), else {DEFAULT_UI} (`mlflow ui`).",
    )
    enabled: bool = Field(default=True, description="Log to MLflow at all.")

    def model_name(self, env: str) -> str:
        """The registered model of `env`'s students."""
        return self.registered_model.replace("{env}", env)


def offline_environment() -> None:
    """Keep MLflow telemetry and Hugging Face Hub calls off (values already set are kept)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> `{"a.b.c": "value"}`; lists as JSON; values cut to MLflow's limit."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, f"{name}."))
            continue
        if isinstance(value, str):
            text = value
        elif value is None or isinstance(value, bool | int | float):
            text = str(value)
        else:
            text = json.dumps(value, default=str)
        flat[_key(name)] = _cut(text, MAX_PARAM_VALUE)
    return flat


def _key(name: str) -> str:
    """A valid MLflow param/metric/tag name (characters outside `/\\w.- :` become `_`)."""
    return _BAD_KEY_CHARS.sub("_", name.strip("/"))[:MAX_KEY] or "_"


def _cut(text: str, limit: int) -> str:
    marker = "...[truncated]"
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def _number(value: Any) -> float | None:
    """A float for a numeric value (NaN allowed), None for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _tag_float(tags: Mapping[str, str], key: str) -> float | None:
    try:
        value = float(tags[key])
    except (KeyError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


class HFCausalLM(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of a Hugging Face causal LM folder: greedy continuation of prompts.

    What checkpoints were logged as before `mlflow_agent.AgentModel`; kept so that those models
    still load (their pickle names this class).

    `predict(["prompt", ...])` returns the generated continuations (prompt not included).
    `model_config={"max_new_tokens": N}` (at log or load time) sets the length; default 64.
    """

    def load_context(self, context: Any) -> None:
        offline_environment()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = context.artifacts[HF_ARTIFACT]
        self.tokenizer = AutoTokenizer.from_pretrained(
            path, local_files_only=True, trust_remote_code=False
        )
        # safetensors only, no remote code: loading a registered model never runs its files
        self.model = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, use_safetensors=True, trust_remote_code=False
        ).eval()
        self.max_new_tokens = int((context.model_config or {}).get("max_new_tokens", 64))

    def predict(
        self, context: Any, model_input: list[str], params: dict[str, Any] | None = None
    ) -> list[str]:
        import torch

        tokenizer = self.tokenizer
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        outputs = []
        with torch.no_grad():
            for prompt in model_input:
                ids = tokenizer(str(prompt), return_tensors="pt")["input_ids"]
                if ids.shape[1] == 0:
                    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else pad_id
                    ids = torch.tensor([[start]])
                generated = self.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad_id,
                )
                new = generated[0, ids.shape[1] :]
                outputs.append(tokenizer.decode(new, skip_special_tokens=True))
        return outputs


def _pip_requirements() -> list[str]:
    """Requirements of the logged model, pinned to what runs here (no slow inference)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    # agentdistill itself must be installed where the model is served (`--env-manager local`)
    packages = ("mlflow", "torch", "transformers", "tokenizers", "safetensors", "pydantic")
    for package in (*packages, "rapidfuzz"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins


class Tracker:
    """The project's MLflow layer, built from a `TrackingConfig`.

    Nothing is created until the first call that needs the store (then the experiment, with its
    artifact location under `root` for the local store). With `enabled=False` the logging
    calls do nothing and return an empty run id; `register` returns None. The first use also
    applies `offline_environment()`.
    """

    def __init__(self, config: TrackingConfig | None = None, env: str | None = None) -> None:
        self.config = config or TrackingConfig()
        self.env = env
        if self.config.tracking_uri:
            self.tracking_uri = self.config.tracking_uri
            self.artifact_location: str | None = None  # the server decides
            database = self._sqlite_file()
            if database is not None:
                # a local database: artifacts beside it, never MLflow's ./mlruns in the cwd
                self.artifact_location = (database.parent / "artifacts").as_uri()
        else:
            root = Path(self.config.root).absolute()
            self.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
            self.artifact_location = (root / "artifacts").as_uri()
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    # -- store -------------------------------------------------------------------------------

    @property
    def display_uri(self) -> str:
        """The store's URI fit to show or log (credentials redacted)."""
        return redact_uri(self.tracking_uri)

    def __repr__(self) -> str:
        return f"Tracker({self.display_uri!r}, env={self.env!r})"

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @property
    def client(self) -> MlflowClient:
        """Client bound to this store (tracking and registry); creates the local store."""
        if self._client is None:
            offline_environment()
            if not self.config.tracking_uri:
                Path(self.config.root).absolute().mkdir(parents=True, exist_ok=True)
            database = self._sqlite_file()
            # The first client of a new SQLite store runs MLflow's schema migrations; two
            # processes doing it at once (a backfill's parallel runs on a fresh store) corrupt
            # each other's ("table _alembic_tmp_... already exists"). So a store this process
            # can create opens under a lock: one process creates the schema, the others wait
            # and find it done. A server is asked nothing yet.
            creatable = database is not None and os.access(database.parent, os.W_OK)
            with FileLock(f"{database}.init.lock") if creatable else nullcontext():
                self._client = MlflowClient(
                    tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
                )
                if creatable:
                    self._client.search_registered_models(max_results=1)  # the registry too
            log.debug("MLflow store: %s", self.display_uri)
        return self._client

    def _sqlite_file(self) -> Path | None:
        """The local SQLite file of this store (None: a server or another database)."""
        if not self.tracking_uri.startswith("sqlite:///"):
            return None
        return Path(self.tracking_uri.removeprefix("sqlite:///")).absolute()

    @property
    def experiment_id(self) -> str:
        """Id of the experiment (created, or restored if deleted, on first use)."""
        if self._experiment_id is None:
            self._experiment_id = self._ensure_experiment()
        return self._experiment_id

    def _ensure_experiment(self) -> str:
        client, name = self.client, self.config.experiment
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return client.create_experiment(name, artifact_location=self.artifact_location)
            except MlflowException:  # created meanwhile by another process
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        if self.artifact_location and experiment.artifact_location != self.artifact_location:
            log.warning(
                "experiment %r keeps its artifact location %s (config asks for %s)",
                name,
                experiment.artifact_location,
                self.artifact_location,
            )
        return experiment.experiment_id

    @contextmanager
    def using_store(self) -> Iterator[None]:
        """Point MLflow's process-wide (fluent) API at this store; restored on exit.

        Needed for `mlflow.pyfunc.load_model("models:/...")` and the like:
        `with tracker.using_store(): model = mlflow.pyfunc.load_model(uri)`.
        """
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        self.client  # noqa: B018 - make sure the local store exists
        with _URI_LOCK:
            saved_env = {
                k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
            }
            saved_tracking = getattr(tracking_utils, "_tracking_uri", None)
            saved_registry = getattr(registry_utils, "_registry_uri", None)
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            try:
                yield
            finally:
                mlflow.set_tracking_uri(saved_tracking)
                registry_utils._registry_uri = saved_registry
                for key, value in saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

    # -- runs --------------------------------------------------------------------------------

    @property
    def registered_model(self) -> str:
        """The registered model of this tracker's environment (`{env}` filled in)."""
        name = self.config.registered_model
        if "{env}" in name:
            if self.env is None:
                raise ValueError(f"registered model {name!r} needs an environment name")
            return self.config.model_name(self.env)
        return name

    def find_run(self, run_key: str, kind: str | None = None) -> str | None:
        """The newest FINISHED run logged with this run key (None: none yet)."""
        if not run_key:
            return None
        return self._newest_finished(TAG_RUN_KEY, run_key, kind)

    def find_training_run(self, model_sha: str) -> str | None:
        """The newest FINISHED training run that logged the checkpoint with these weights."""
        return self._newest_finished(TAG_MODEL_SHA, model_sha, "training")

    def _newest_finished(self, tag: str, value: str, kind: str | None) -> str | None:
        if not self.enabled:
            return None
        query = f"tags.`{tag}` = '{value}' and attributes.status = 'FINISHED'"
        if kind is not None:
            query += f" and tags.`agentdistill.kind` = '{kind}'"
        runs = self.client.search_runs(
            [self.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1
        )
        return runs[0].info.run_id if runs else None

    def _new_run(self, run_name: str, tags: Mapping[str, Any], kind: str) -> str:
        run_tags = {"agentdistill.kind": kind, **{str(k): v for k, v in tags.items()}}
        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name,
            tags={_key(k): _cut(str(v), MAX_TAG_VALUE) for k, v in run_tags.items()},
        )
        return run.info.run_id

    @contextmanager
    def _finishing(self, run_id: str) -> Iterator[None]:
        """Mark the run FINISHED on success, FAILED if logging raised."""
        try:
            yield
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        self.client.set_terminated(run_id, "FINISHED")

    def log_training(
        self,
        run_name: str,
        config: Mapping[str, Any],
        train_dir: str | Path,
        tags: Mapping[str, Any] | None = None,
        model_dir: str | Path | None = None,
        log_checkpoint: bool = True,
        run_key: str | None = None,
        decoding: DecodingConfig | None = None,
        fmt: FormatConfig | None = None,
    ) -> str:
        """Log one training run of `train_dir` (as written by `training.train_lm`); its run id.

        With `run_key` (see `fingerprints.run_key`) the call is idempotent: a finished run with
        that key is reused (its id returned, nothing logged again).

        Params: `config` flattened (`a.b.c`, values cut at 6000 characters; the full config is
        the artifact `config.json`). Metrics: every line of `metrics.jsonl` (`loss`,
        `reason_loss`, `act_loss`, `lr`, `tokens_per_s`, `epoch` at its `step`) and the numbers
        of `train_summary.json` as `summary/<name>`; both files also as artifacts under `train/`.
        Checkpoint: `model_dir` (default `train_dir/model`) as the pyfunc model `model`, a
        `mlflow_agent.AgentModel` (`model_uri(run_id)` gives its URI for `register`):
        `decoding` gives the defaults of its request params (default: greedy,
        `DecodingConfig`'s budget), `fmt` the text format for a folder that records none (one
        it records must agree; neither: `ConfigError`, before anything is logged).
        """
        if not self.enabled:
            return ""
        train_dir = Path(train_dir)
        model_dir = Path(model_dir) if model_dir is not None else train_dir / "model"
        if log_checkpoint and not (model_dir / "config.json").is_file():
            raise FileNotFoundError(f"{model_dir}: no Hugging Face model folder (config.json)")
        if log_checkpoint:
            from agentdistill.config import resolve_format

            resolve_format(model_dir, fmt)  # an agent needs its format: fail before a run
        existing = self.find_run(run_key, "training") if run_key else None
        if existing:
            log.info("MLflow: training run %s already logged (run key %s)", existing, run_key)
            return existing
        tags = dict(tags or {})
        if run_key:
            tags[TAG_RUN_KEY] = run_key
        if log_checkpoint:
            from agentdistill.fingerprints import model_sha256

            tags[TAG_MODEL_SHA] = model_sha256(model_dir)
        run_id = self._new_run(run_name, tags, "training")
        with self._finishing(run_id):
            now = int(time.time() * 1000)
            params = [Param(k, v) for k, v in flatten_params(config).items()]
            metrics = self._step_metrics(train_dir / "metrics.jsonl", now)
            summary_path = train_dir / "train_summary.json"
            summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
            for name, value in summary.items():
                number = _number(value)
                if number is not None:
                    metrics.append(Metric(_key(f"summary/{name}"), number, now, 0))
                elif isinstance(value, str):
                    params.append(Param(_key(f"summary.{name}"), _cut(value, MAX_PARAM_VALUE)))
            self.client.log_batch(run_id, metrics=metrics, params=params)
            self.client.log_dict(run_id, dict(config), "config.json")
            for path in (train_dir / "metrics.jsonl", summary_path):
                if path.is_file():
                    self.client.log_artifact(run_id, str(path), "train")
            if log_checkpoint:
                self._log_checkpoint(run_id, model_dir, decoding, fmt)
        return run_id

    @staticmethod
    def _step_metrics(path: Path, timestamp: int) -> list[Metric]:
        """Metrics of each `metrics.jsonl` line at its step (unreadable lines are skipped)."""
        metrics: list[Metric] = []
        if not path.is_file():
            return metrics
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                step = int(record["step"])
            except (ValueError, KeyError, TypeError):
                log.warning("%s:%d: skipped an unreadable metrics line", path, number)
                continue
            for name in STEP_METRICS:
                value = _number(record.get(name))
                if value is not None:
                    metrics.append(Metric(name, value, timestamp, step))
        return metrics

    def _log_checkpoint(
        self,
        run_id: str,
        model_dir: Path,
        decoding: DecodingConfig | None,
        fmt: FormatConfig | None,
    ) -> str:
        from agentdistill.config import resolve_format
        from agentdistill.mlflow_agent import DEFAULT_RUNTIME, AgentModel, input_example

        # Every key a deployment may override at load time must be present here (MLflow
        # ignores unknown keys): the format is None when the folder records it.
        model_config = {
            "runtime": dict(DEFAULT_RUNTIME),
            "format": fmt.model_dump() if fmt is not None else None,
        }
        with (
            self.using_store(),
            mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None),
        ):
            # The example's params become the signature's params and their defaults; MLflow
            # runs the example through the model (a load and one turn) to check it serves.
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME,
                python_model=AgentModel(),
                artifacts={HF_ARTIFACT: str(model_dir)},
                pip_requirements=_pip_requirements(),
                model_config=model_config,
                input_example=input_example(resolve_format(model_dir, fmt), decoding),
            )
        return info.model_uri

    def model_uri(self, run_id: str) -> str:
        """`models:/<model_id>` of the checkpoint logged by `log_training` in this run."""
        run = self.client.get_run(run_id)
        outputs = run.outputs.model_outputs if run.outputs else []
        if not outputs:
            raise LookupError(f"run {run_id} has no logged model")
        latest = max(outputs, key=lambda output: output.step)
        return f"models:/{latest.model_id}"

    def log_benchmark(
        self,
        run_name: str,
        metrics: Mapping[str, float],
        report_files: list[Path] | tuple[Path, ...] = (),
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        artifact_dir: str = "benchmark",
        step: int = 0,
        run_key: str | None = None,
        table: Any = None,
    ) -> str:
        """Log benchmark metrics (`alfworld/success_rate`, ...), report files and tags; run id.

        A new run named `run_name`, or, with `run_id`, the existing run (e.g. the student's
        training run; `run_name` is then unused). Files land under `artifact_dir/` (folders
        keep their content). `table` (a pandas DataFrame) is logged with `log_table` as
        `<artifact_dir>/results.json`. With `run_key` the call is idempotent: a new run with
        that key, or an existing run already holding it (tag `agentdistill.benchmark_key`),
        is not logged again.
        """
        if not self.enabled:
            return ""
        tags = dict(tags or {})
        if run_id is None:
            existing = self.find_run(run_key, "benchmark") if run_key else None
            if existing:
                log.info("MLflow: benchmark run %s already logged (run key %s)", existing, run_key)
                return existing
            if run_key:
                tags[TAG_RUN_KEY] = run_key
            run_id = self._new_run(run_name, tags, "benchmark")
            finishing = self._finishing(run_id)
        else:
            if run_key:
                held = self.client.get_run(run_id).data.tags.get(TAG_BENCHMARK_KEY)
                if held == run_key:
                    log.info("MLflow: benchmark already logged in run %s", run_id)
                    return run_id
                tags[TAG_BENCHMARK_KEY] = run_key
            tags.setdefault("agentdistill.benchmark", run_name)
            self.client.log_batch(
                run_id,
                tags=[RunTag(_key(str(k)), _cut(str(v), MAX_TAG_VALUE)) for k, v in tags.items()],
            )
            finishing = _nothing()
        with finishing:
            now = int(time.time() * 1000)
            batch = [Metric(_key(name), float(value), now, step) for name, value in metrics.items()]
            self.client.log_batch(run_id, metrics=batch)
            if table is not None:
                self.client.log_table(
                    run_id, data=table, artifact_file=f"{artifact_dir}/results.json"
                )
            for path in map(Path, report_files):
                if path.is_dir():
                    self.client.log_artifacts(run_id, str(path), f"{artifact_dir}/{path.name}")
                elif path.is_file():
                    self.client.log_artifact(run_id, str(path), artifact_dir)
                else:
                    raise FileNotFoundError(f"{path}: report file not found")
        return run_id

    # -- registry ----------------------------------------------------------------------------

    def register(self, run_id: str, tags: Mapping[str, Any] | None = None) -> int | None:
        """The version of `registered_model` for the run's logged model; its version number.

        Idempotent: a run already registered keeps its version (its tags are updated). `tags`
        become version tags (values as text), e.g. profile, method, seed, success_rate,
        success_low, parameters: `promote_champion` reads profile and the last three.
        """
        if not self.enabled or not run_id:
            return None
        name = self.registered_model
        text_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        for mv in self._versions():
            if mv.run_id == run_id:
                for key, value in text_tags.items():
                    if mv.tags.get(key) != value:
                        self.client.set_model_version_tag(name, str(mv.version), key, value)
                return int(mv.version)
        source = self.model_uri(run_id)
        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        # The SQL registry resolves a `models:/m-...` source with a client on the process-wide
        # tracking URI (not this client's): without `using_store` it looks in (and creates)
        # ./mlflow.db and fails with "Logged model ... not found".
        with self.using_store():
            version = self.client.create_model_version(
                name,
                source=source,
                run_id=run_id,
                tags=text_tags,
                model_id=source.removeprefix("models:/"),
            )
        return int(version.version)

    def _versions(self) -> list[Any]:
        name = self.registered_model.replace("'", "\\'")
        versions, token = [], None
        while True:
            page = self.client.search_model_versions(f"name = '{name}'", page_token=token)
            versions.extend(page)
            token = page.token
            if not token:
                return versions

    def promote_champion(self, profile: str | None = None) -> tuple[int | None, str]:
        """Point `champion_alias` at the best version by the champion rule; (version, reason).

        Rule: candidates are the versions of `profile` (tag `profile`; all versions when None)
        with tag `success_low` >= `success_floor`; the champion has the highest
        `success_rate`; ties go to fewer `parameters`, then the newest version. The reason is
        set as the version's tag `champion_reason` and on the alias's line of the registered
        model's description. Without a candidate nothing changes and the version is None.
        Idempotent: the same versions give the same champion.
        """
        if not self.enabled:
            return None, "tracking is disabled"
        name, floor = self.registered_model, self.config.success_floor
        scope = f"versions of profile '{profile}'" if profile else "versions"
        rule = (
            f"rule: among {scope} whose {TAG_SUCCESS_LOW} (95% CI lower bound of the success "
            f"rate) >= {floor:g}, highest {TAG_SUCCESS_RATE}, ties to fewer {TAG_PARAMETERS}, "
            "then the newest version"
        )
        versions = [
            mv for mv in self._versions() if profile is None or mv.tags.get(TAG_PROFILE) == profile
        ]
        candidates = []
        for mv in versions:
            rate = _tag_float(mv.tags, TAG_SUCCESS_RATE)
            low = _tag_float(mv.tags, TAG_SUCCESS_LOW)
            if rate is None or low is None or low < floor:
                continue
            params = _tag_float(mv.tags, TAG_PARAMETERS)
            candidates.append(
                (rate, -(params if params is not None else math.inf), int(mv.version), low, params)
            )
        if not candidates:
            reason = (
                f"no champion for '{name}': none of its {len(versions)} versions has tags "
                f"{TAG_SUCCESS_RATE} and {TAG_SUCCESS_LOW} >= {floor:g} ({rule}); the "
                f"'{self.config.champion_alias}' alias is left as it was"
            )
            return None, reason
        rate, _, version, low, params = max(candidates)
        size = f"{params:,.0f} parameters" if params is not None else "unknown parameters"
        reason = (
            f"version {version} is '{self.config.champion_alias}': success rate {rate:.3f} "
            f"(95% CI low {low:.3f} >= floor {floor:g}), {size}; best of {len(candidates)} "
            f"candidate(s) among {len(versions)} version(s); {rule}."
        )
        alias = self.config.champion_alias
        current = self.client.get_registered_model(name).aliases.get(alias)
        if current != str(version):
            self.client.set_registered_model_alias(name, alias, str(version))
        self.client.set_model_version_tag(name, str(version), TAG_CHAMPION_REASON, reason)
        self._describe_alias(name, alias, reason)
        return version, reason

    def _describe_alias(self, name: str, alias: str, reason: str) -> None:
        """Keep one line per alias in the registered model's description."""
        description = self.client.get_registered_model(name).description or ""
        lines = [line for line in description.splitlines() if not line.startswith(f"{alias}: ")]
        lines.append(f"{alias}: {reason}")
        self.client.update_registered_model(name, description="\n".join(lines))

    # -- reading back ------------------------------------------------------------------------

    def load_model(self, model_uri: str | None = None, **kwargs: Any) -> Any:
        """Load a pyfunc model (default: `models:/<registered_model>@<champion_alias>`)."""
        with self.using_store():
            return mlflow.pyfunc.load_model(model_uri or self._champion_uri(), **kwargs)

    def download_hf_model(
        self, model_uri: str | None = None, dst: str | Path | None = None
    ) -> Path:
        """Local copy of the Hugging Face folder inside a logged model (default: the champion).

        The folder keeps the name it had when logged (`model` for a training run); its place
        inside the MLflow model is read from the model's MLmodel file.
        """
        uri = (model_uri or self._champion_uri()).rstrip("/")
        dst_path = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="agentdistill-"))
        dst_path.mkdir(parents=True, exist_ok=True)
        with self.using_store():
            mlmodel = mlflow.artifacts.download_artifacts(f"{uri}/MLmodel", dst_path=str(dst_path))
            flavor = Model.load(mlmodel).flavors["python_function"]
            inner = flavor["artifacts"][HF_ARTIFACT]["path"]
            local = mlflow.artifacts.download_artifacts(f"{uri}/{inner}", dst_path=str(dst_path))
        Path(mlmodel).unlink(missing_ok=True)
        return Path(local)

    def _champion_uri(self) -> str:
        return f"models:/{self.registered_model}@{self.config.champion_alias}"

    def run_url(self, run_id: str) -> str:
        """Link to the run in the MLflow UI (for Dagster metadata)."""
        base = self.config.ui_url
        if base is None:
            uri = self.tracking_uri
            web = uri.startswith(("http://", "https://"))
            base = _without_credentials(uri) if web else DEFAULT_UI
        experiment_id = self.client.get_run(run_id).info.experiment_id
        return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


@contextmanager
def _nothing() -> Iterator[None]:
    yield


__all__ = [
    "OFFLINE_ENV",
    "HFCausalLM",
    "Tracker",
    "TrackingConfig",
    "flatten_params",
    "offline_environment",
    "redact_uri",
]
