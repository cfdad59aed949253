"""`distill` in one process of a launched job, optionally killed mid-run (tests/test_runtime.py).

    torchrun --standalone --nproc_per_node 2 tests/ddp_distill.py TEACHER TRAJECTORIES OUT \
        CONFIG [CRASH_AT]

With CRASH_AT every process raises KeyboardInterrupt at its CRASH_AT-th KL computation (one
per micro-batch, so at the same step everywhere): the job dies as a preempted one does, after
its last checkpoint. Started again without it, the job resumes from that checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import agentdistill.distillation.trainer as trainer
from agentdistill.config import load_config
from agentdistill.distillation.trainer import DistillConfig, distill
from agentdistill.inputs import read_trajectories


def main(argv: list[str]) -> None:
    teacher, trajectories, out, config = argv[:4]
    crash_at = int(argv[4]) if len(argv) > 4 else 0
    if crash_at:
        real, calls = trainer.span_kd_loss, {"n": 0}

        def dying_span_kd_loss(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == crash_at:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        trainer.span_kd_loss = dying_span_kd_loss  # type: ignore[assignment]
    settings = load_config(DistillConfig, config)
    distill(settings, teacher, read_trajectories(Path(trajectories)), out, show_progress=False)


if __name__ == "__main__":
    main(sys.argv[1:])
