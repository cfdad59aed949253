"""DAgger for the offline teacher: the expert labels the states the teacher itself visits.

A teacher trained on expert trajectories only ever saw the expert's states; once it drifts
in closed loop it never learned to recover (compounding errors). DAgger (Ross et al., 2011)
rolls out the current model, asks the oracle what it would have done at every visited
state, aggregates those labels with the data so far and retrains. `bootstrap_teacher` runs

    round 0:   train on expert trajectories (teacher/expert_train.jsonl)
    round r:   the round r-1 teacher plays `tasks` train games, the expert playing a share
               `expert_share * decay**(r-1)` of them itself (`policies/oracle.py`);
               labelled episodes -> training trajectories (`training_trajectories`);
               retrain on expert data + every round's data so far

and keeps every round's episodes and training data (`teacher/dagger/round-<r>/`) as
versioned outputs of the teacher stage.

A language-model policy conditions on its own history, so "label a state" must be turned
into text to train on. Per learner episode:
- the episode itself, with every step where the learner did what the expert would have
  done relabelled with the expert's thought (imitated) and every other step kept as
  context without a loss (`imitate=False`): the model learns to continue correctly from
  its own (possibly wrong) past;
- one short trajectory per disagreement (at most `max_corrections`): the history up to that
  state, then the expert's turn (imitated) as its last step. This is where the recovery is
  taught. The states where the learner starts to go wrong come first (then the earliest
  others): a greedy learner that loops (`go to diningtable 1` -> `Nothing happens.`, again
  and again) disagrees with the same label at every step of the loop, and its first
  repetition is the state worth teaching, not the fortieth.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from agentdistill.config import Config
from agentdistill.policies.base import hash_seed
from agentdistill.policies.hf import DecodingConfig
from agentdistill.records import Step, Task, Trajectory


class DaggerConfig(Config):
    """DAgger rounds of the teacher bootstrap (0: train on expert data only)."""

    rounds: int = Field(default=0, ge=0, description="DAgger rounds after round 0.")
    tasks: int = Field(
        default=400, gt=0, description="Train games played per round (a seeded draw per round)."
    )
    expert_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Share of round 1's games the expert plays itself (DAgger's beta_1).",
    )
    decay: float = Field(
        default=0.5, ge=0.0, le=1.0, description="beta_r = expert_share * decay**(r - 1)."
    )
    max_corrections: int = Field(
        default=6,
        ge=0,
        description="Corrective trajectories (history + the expert's turn) per learner "
        "episode, among the states where learner and expert disagree: where a disagreement "
        "starts first (not a repeat of the step before), then the earliest.",
    )
    epochs: float = Field(
        default=1.0,
        gt=0,
        description="Epochs over the aggregated data in each round's retraining (which "
        "continues from the previous round's weights).",
    )
    max_steps: int = Field(default=50, gt=0, description="Step cap of a round's episodes.")
    batch_size: int = Field(default=64, gt=0, description="Episodes at once.")
    decoding: DecodingConfig = Field(
        default_factory=DecodingConfig,
        description="The learner's decoding in the rounds (greedy, ungrounded: the states "
        "it will visit when evaluated).",
    )
    seed: int = Field(default=0, description="Seed of the task draws and of the mixing.")

    def share(self, round_index: int) -> float:
        """The expert's share of round `round_index`'s games (rounds count from 1)."""
        return self.expert_share * self.decay ** (round_index - 1)


def round_tasks(config: DaggerConfig, tasks: Sequence[Task], round_index: int) -> list[Task]:
    """The train games of round `round_index`: a seeded draw, the same on every rerun."""
    chosen = list(tasks)
    random.Random(hash_seed(config.seed, f"round-{round_index}")).shuffle(chosen)
    return chosen[: config.tasks]


def _relabelled(step: Step) -> Step:
    """The step as a training step: the expert's thought where the learner acted as the
    expert would have; otherwise context without a loss."""
    label = step.oracle
    if label is not None and step.action == label.action:
        return Step(
            reasoning=label.reasoning,
            action=step.action,
            observation=step.observation,
            action_valid=step.action_valid,
        )
    return Step(
        reasoning=step.reasoning,
        action=step.action,
        observation=step.observation,
        action_valid=step.action_valid,
        imitate=False,
    )


def corrections(steps: Sequence[Step], max_corrections: int) -> list[int]:
    """Indices of the disagreements to teach: onsets first (a step that is not the same
    action under the same label as a disagreeing step just before), then by position."""
    wrong = [i for i, s in enumerate(steps) if s.oracle is not None and s.action != s.oracle.action]
    flagged = set(wrong)

    def repeat(index: int) -> bool:
        before = index - 1
        return (
            before in flagged
            and steps[before].action == steps[index].action
            and steps[before].oracle == steps[index].oracle
        )

    return sorted(sorted(wrong, key=lambda i: (repeat(i), i))[:max_corrections])


def training_trajectories(episodes: Sequence[Trajectory], max_corrections: int) -> list[Trajectory]:
    """What a round's labelled episodes teach (see the module docstring).

    The expert's own episodes carry their turns as labels and come out as they went in; an
    episode with no label at all (its shadow expert gave up at once) teaches nothing.
    """
    out: list[Trajectory] = []
    for episode in episodes:
        steps = [_relabelled(step) for step in episode.steps]
        if any(step.imitate for step in steps):
            out.append(episode.model_copy(update={"steps": steps}))
        for index in corrections(episode.steps, max_corrections):
            label = episode.steps[index].oracle
            assert label is not None
            turn = Step(reasoning=label.reasoning, action=label.action, observation="")
            out.append(
                episode.model_copy(
                    update={
                        "steps": [*steps[:index], turn],
                        "success": False,
                        "reward": 0.0,
                        "stop_reason": "step_cap",
                        "timings": None,
                        "token_counts": None,
                    }
                )
            )
    return out


def label_summary(
    episodes: Sequence[Trajectory], expert_plays: Callable[[Task], bool]
) -> dict[str, Any]:
    """How the learner did in a round and how often it agreed with the expert
    (`expert_plays`: which tasks the expert played itself)."""
    learner = [e for e in episodes if not expert_plays(e.task)]
    labelled = [s for e in learner for s in e.steps if s.oracle is not None]
    agreed = sum(s.action == s.oracle.action for s in labelled if s.oracle is not None)
    return {
        "episodes": len(episodes),
        "expert_episodes": len(episodes) - len(learner),
        "learner_episodes": len(learner),
        "learner_success": sum(e.success for e in learner) / max(len(learner), 1),
        "states_labelled": len(labelled),
        "agreement": agreed / max(len(labelled), 1),
    }
