"""Environment names: the playable ones (with their engines) and the ones only recorded.

Kept apart from `registry` (which imports every engine) so that reading a trajectory file
checks its environment names without depending on any environment's code.
"""

from __future__ import annotations

ENGINES: dict[str, tuple[str, ...]] = {
    "alfworld": ("native", "textworld"),
    "webshop": ("native",),
    "hotpotqa": ("native",),
}

#: Each playable environment's evaluation split (the one its papers report) and the text
#: format its agents write by default (ReAct's own prompt shape for that benchmark).
EVAL_SPLITS: dict[str, str] = {
    "alfworld": "valid_unseen",
    "webshop": "test",
    "hotpotqa": "test",
}
DEFAULT_FORMATS: dict[str, str] = {
    "alfworld": "alfworld",
    "webshop": "webshop",
    "hotpotqa": "react",
}

#: Environments whose papers report the mean final reward x 100 as the "score" (WebShop's
#: reward is graded in [0, 1]): the report shows it as a Score column beside success.
REWARD_SCORES: tuple[str, ...] = ("webshop",)

#: Benchmarks whose trajectories are read, rendered and distilled like any other, though no
#: engine plays them here (ReAct's FEVER; `examples/` holds some).
RECORDED_ENVS: tuple[str, ...] = ("fever",)


def known_env_names() -> tuple[str, ...]:
    """Every environment name a trajectory file may carry: the playable ones, then the rest."""
    return (*ENGINES, *RECORDED_ENVS)


def check_env_name(name: str) -> None:
    if name not in ENGINES:
        raise ValueError(f"unknown environment {name!r}; expected one of {', '.join(ENGINES)}")
