"""`dvc repro` of the smoke chain on a temporary copy of the repository (real DVC, real runs)."""

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).parents[1]
DVC = REPO / ".venv" / "bin" / "dvc"
VENV = REPO / ".venv"

pytestmark = pytest.mark.skipif(
    not DVC.exists(), reason="DVC is set up by `make setup` (.venv/bin/dvc -> .venv-dvc)"
)


def run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    """The tracked files of this repository in a fresh git repo, with the smoke profile."""
    copy = tmp_path_factory.mktemp("repo")
    files = run(["git", "ls-files", "-z"], REPO).split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(VENV)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["profile"] = "smoke"
    # one environment's stages: the other environments' smoke chains run in test_experiment
    params["envs"] = ["alfworld"]
    (copy / "params.yaml").write_text(yaml.safe_dump(params))
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], copy)
    # the raw inputs (every environment's) regenerate exactly as versioned in data.dvc
    run([str(VENV / "bin" / "agentdistill"), "env", "data"], copy)
    return copy


def test_regenerated_data_matches_data_dvc(repo_copy) -> None:
    versioned = yaml.safe_load((repo_copy / "data.dvc").read_text())["outs"][0]["md5"]
    run([str(DVC), "add", "data"], repo_copy)  # hashes the regenerated folder into the cache
    assert yaml.safe_load((repo_copy / "data.dvc").read_text())["outs"][0]["md5"] == versioned
    assert json.loads(run([str(DVC), "status", "data.dvc", "--json"], repo_copy)) == {}


@pytest.fixture(scope="module")
def reproduced(repo_copy, smoke_chain) -> Path:
    """The pipeline over the session's smoke chain: its ALFWorld outputs (and MLflow store)
    are what `dvc repro` would write, so `dvc commit` records them as the stages' outputs
    (it hashes deps, params and outs exactly as repro does). Then DVC runs the benchmarks
    and report stages for real (`--force`), through dvc.yaml's commands."""
    smoke_chain.copy_to(repo_copy / "runs/dvc", repo_copy / "mlflow", ("alfworld",))
    run([str(DVC), "commit", "--force"], repo_copy)
    assert "up to date" in run([str(DVC), "status"], repo_copy)
    stamp = (repo_copy / "runs/dvc/alfworld/report/leaderboard.json").stat().st_mtime_ns
    out = run([str(DVC), "repro", "--force", "--single-item", "benchmarks@alfworld"], repo_copy)
    assert "Running stage 'benchmarks@alfworld'" in out
    out = run([str(DVC), "repro"], repo_copy)  # the report reads the rewritten benchmarks
    assert "Running stage 'report@alfworld'" in out
    assert (repo_copy / "runs/dvc/alfworld/report/leaderboard.json").stat().st_mtime_ns > stamp
    return repo_copy


def test_dvc_repro_runs_the_smoke_chain(reproduced) -> None:
    lock = yaml.safe_load((reproduced / "dvc.lock").read_text())
    assert set(lock["stages"]) == {f"{stage}@alfworld" for stage in STAGE_MODULES}
    # every stage's command is the CLI stage of its name, for its environment
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage, spec in stages.items():
        assert f"--stage {stage}" in " ".join(spec["do"]["cmd"].split())
        assert lock["stages"][f"{stage}@alfworld"]["cmd"].endswith(
            f"--out runs/dvc --env alfworld --stage {stage}"
        )
    # trajectory files are versioned outputs
    outs = {o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])}
    assert "runs/dvc/alfworld/teacher_rollouts" in outs and "runs/dvc/alfworld/segments" in outs
    leaderboard = json.loads((reproduced / "runs/dvc/alfworld/report/leaderboard.json").read_text())
    assert {"teacher", "sad-s0", "seqkd-s0", "token_kd-s0"} <= set(leaderboard)
    assert "alfworld/valid_unseen/success_rate_low" in leaderboard["sad-s0"]
    # the stages logged their MLflow runs into the store of the working directory
    assert (reproduced / "mlflow" / "mlflow.db").exists()
    # nothing left to do, and the metrics are readable by DVC
    assert "up to date" in run([str(DVC), "status"], reproduced)
    assert "sad-s0" in run([str(DVC), "metrics", "show"], reproduced)


# What each stage runs: its code is the import closure of these modules (plus experiment.py).
STAGE_MODULES = {
    "teacher": ["agentdistill.teacher", "agentdistill.task_data"],
    "teacher_benchmark": [
        "agentdistill.teacher",
        "agentdistill.task_data",
        "agentdistill.evaluation",
        "agentdistill.results",
        "agentdistill.policies.trivial",
        "agentdistill.tracking",
    ],
    "teacher_rollouts": ["agentdistill.teacher", "agentdistill.task_data"],
    "segments": [
        "agentdistill.training",
        "agentdistill.distillation.teacher_cache",
        "agentdistill.inputs",
    ],
    "students": [
        "agentdistill.distillation.trainer",
        "agentdistill.tracking",
        "agentdistill.inputs",
    ],
    "benchmarks": [
        "agentdistill.inputs",
        "agentdistill.teacher",
        "agentdistill.task_data",
        "agentdistill.evaluation",
        "agentdistill.results",
        "agentdistill.tracking",
    ],
    "report": ["agentdistill.evaluation", "agentdistill.results", "agentdistill.tracking"],
}


def _module_file(name: str) -> Path | None:
    base = REPO / "src" / Path(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path, name: str) -> set[str]:
    """agentdistill modules `path` imports (anywhere in it: lazy imports run too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("agentdistill")}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*parts, *([node.module] if node.module else [])])
            if module.startswith("agentdistill"):
                found.add(module)
                found |= {f"{module}.{a.name}" for a in node.names}
    return {m for m in found if _module_file(m) is not None}


def _closure(modules: list[str]) -> set[Path]:
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        path = _module_file(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # packages run first
        todo += sorted(_imports(path, module))
    return {_module_file(m).relative_to(REPO) for m in seen}  # type: ignore[union-attr]


@pytest.mark.parametrize("stage", sorted(STAGE_MODULES))
def test_every_stage_depends_on_the_code_it_runs(stage: str) -> None:
    deps = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["do"]["deps"]
    covered = [Path(d) for d in deps if d.startswith("src/")]
    assert Path("src/agentdistill/experiment.py") in covered
    missing = [
        str(f)
        for f in sorted(_closure(STAGE_MODULES[stage]))
        if f.name != "__init__.py" or "import" in (REPO / f).read_text()  # docstring only
        if not any(f == d or d in f.parents for d in covered)
    ]
    assert not missing, f"dvc.yaml stage {stage} does not depend on {missing}"


@pytest.mark.parametrize(
    ("file", "edit", "stale"),
    [
        ("configs/experiment/smoke.yaml", ("top_k: 16", "top_k: 8"), {"segments", "students"}),
        ("configs/experiment/smoke.yaml", ("limit: 4", "limit: 3"),
         {"teacher_benchmark", "benchmarks"}),
        ("src/agentdistill/environments/alfworld/expert.py", None,
         {"teacher", "teacher_benchmark", "teacher_rollouts", "benchmarks"}),
        ("src/agentdistill/distillation/losses.py", None, {"segments", "students"}),
        ("src/agentdistill/evaluation.py", None, {"teacher_benchmark", "benchmarks", "report"}),
        ("src/agentdistill/results.py", None, {"teacher_benchmark", "benchmarks", "report"}),
    ],
)  # fmt: skip
def test_a_changed_param_or_module_makes_its_stage_stale(reproduced, file, edit, stale) -> None:
    path = reproduced / file
    original = path.read_text()
    try:
        if edit is None:
            path.write_text(original + "\n# changed\n")
        else:
            assert edit[0] in original
            path.write_text(original.replace(edit[0], edit[1], 1))
        reported = json.loads(run([str(DVC), "status", "--json"], reproduced))
        # exactly the stages that read it (DVC reports downstream ones once these rerun)
        assert set(reported) == {f"{s}@alfworld" for s in stale}, (file, sorted(reported))
    finally:
        path.write_text(original)


def test_push_and_pull_through_the_local_remote(reproduced) -> None:
    repo_copy = reproduced
    remote = repo_copy.parent / "remote"
    run([str(DVC), "remote", "add", "-f", "-d", "scratch", str(remote)], repo_copy)
    run([str(DVC), "push", "data.dvc"], repo_copy)
    shutil.rmtree(repo_copy / "data")
    shutil.rmtree(repo_copy / ".dvc" / "cache")
    run([str(DVC), "pull", "data.dvc"], repo_copy)
    assert (repo_copy / "data/alfworld/valid_unseen.jsonl").exists()
