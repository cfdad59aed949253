"""The policy protocol the rollout engine drives.

A policy opens a *session* for a batch of episodes. The engine tells the session each
episode's start, asks it for the next turn of every active episode at once (so a model can
batch them), reports each observation back, and closes episodes as they end; a finished
episode's slot is reused by the next one (continuous batching):

    session = policy.session(batch_size)
    session.start(slot, task, first_observation, admissible)
    turns = session.act([slot, ...])            # {slot: Turn} for some of the asked slots
    session.observe(slot, step, admissible)      # the Step as recorded, with its observation
    session.finish(slot)

`act` may answer only some of the asked slots (at least one): a model session returns the
turns it completed and keeps decoding the others, which the engine asks for again (with the
answered ones, once observed) so that short turns never wait for long ones. A session that
answers every asked slot, as most do, is a special case of this.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from agentdistill.records import OracleLabel, PolicyInfo, Step, Task


@dataclass(frozen=True)
class Turn:
    """A policy's decision for one step."""

    reasoning: str
    action: str
    """The parsed action, as written; empty when the output had none (the engine sends it as
    invalid). It is what the step records and the context shows."""
    command: str | None = None
    """What the environment receives when it differs from `action` (a model policy sends its
    format's `normalize_action` of it: `search[x]` for `Search[x]`); None: `action` itself."""
    raw: str = ""
    """What the policy wrote, before parsing (models only)."""
    parsed: bool = True
    """False when no action could be parsed from the output."""
    prompt_tokens: int = 0
    """Tokens the policy had to encode for this turn (prefill), models only."""
    generated_tokens: int = 0
    grounded_from: str | None = None
    """The policy's own action when grounding replaced it (see `Step.grounded_from`)."""
    imitate: bool = True
    """False for exploration noise a student should not learn (see `Step.imitate`)."""
    oracle: OracleLabel | None = None
    """The oracle's turn at this state, when one labelled it (see `Step.oracle`)."""


class PolicySession(ABC):
    """Per-batch state of a policy."""

    @abstractmethod
    def start(
        self, slot: int, task: Task, first_observation: str, admissible: Sequence[str] | None
    ) -> None:
        """Begin an episode in `slot`."""

    @abstractmethod
    def act(self, slots: Sequence[int]) -> dict[int, Turn]:
        """The next turn of some of the listed episodes (at least one; every one by default).

        A listed episode left out is mid-turn: it is listed again until its turn comes back.
        """

    @abstractmethod
    def observe(self, slot: int, step: Step, admissible: Sequence[str] | None) -> None:
        """The recorded step (turn plus the environment's answer) of an episode."""

    def finish(self, slot: int) -> None:  # noqa: B027 - optional hook
        """The episode in `slot` ended; release what it holds."""


class Policy(ABC):
    """Something that can play episodes."""

    @property
    @abstractmethod
    def info(self) -> PolicyInfo:
        """Identity recorded in every trajectory."""

    @property
    def settings(self) -> dict[str, JsonValue]:
        """What else, beyond `info`, changes this policy's episodes (seed, sampling, noise).

        A rollout resumed from an interrupted run must match it (`rollout.RunIdentity`);
        engine choices that do not change episodes stay out. Default: nothing.
        """
        return {}

    @abstractmethod
    def session(self, batch_size: int) -> PolicySession:
        """A session able to run up to `batch_size` episodes at once."""


def hash_seed(seed: int, key: str) -> int:
    """A stable per-episode seed (Python's hash() of str is salted per process)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
