"""Entry point of the code location (`dg dev`, `dg launch`, `dagster dev -m ...`).

The asset graph is built for one experiment profile: `AGENTDISTILL_PROFILE` (default
`configs/experiment/default.yaml`), writing under `AGENTDISTILL_ROOT` (default
`runs/dagster`) and tracking to the MLflow store of `MLFLOW_TRACKING_URI` (default: the local
sqlite store under `mlflow/`). Relative paths are taken from the repository root.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(project_root=Path(__file__).parent.parent)
