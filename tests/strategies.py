"""Hypothesis strategies for trajectories and text, shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

from agentdistill.records import PolicyInfo, Step, Task, Trajectory

WORD_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,'-?!()éü中"
words = st.text(alphabet=WORD_CHARS, min_size=1, max_size=10)
lower_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


def sentence(min_words: int = 1, max_words: int = 12) -> st.SearchStrategy[str]:
    """Natural text: words joined by single spaces. Every format can represent these."""
    return st.lists(words, min_size=min_words, max_size=max_words).map(" ".join)


# Wild text: any characters but line breaks, stripped (what Step accepts).
wild_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    max_size=40,
).map(str.strip)

bracket_action = st.builds(
    lambda verb, arg: f"{verb}[{arg}]",
    st.sampled_from(["search", "lookup", "finish", "click"]),
    st.lists(words, min_size=1, max_size=4).map(" ".join).filter(lambda s: "]" not in s),
)
command_action = st.lists(lower_words, min_size=1, max_size=6).map(" ".join)
observation = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)


def steps_for(format_name: str, max_steps: int = 6) -> st.SearchStrategy[list[Step]]:
    """Steps whose reasoning and action every parser must give back unchanged."""
    action = (
        command_action if format_name == "alfworld" else st.one_of(bracket_action, command_action)
    )
    step = st.builds(
        Step,
        reasoning=st.one_of(st.just(""), sentence()),
        action=action,
        observation=observation,
    )
    return st.lists(step, min_size=0, max_size=max_steps)


def trajectories(format_name: str) -> st.SearchStrategy[Trajectory]:
    return st.builds(
        lambda goal, first, steps, success: Trajectory(
            task=Task(env="test", task_id="t0", split="train", goal=goal),
            initial_observation=first,
            steps=steps,
            success=success,
            reward=float(success),
            policy=PolicyInfo(name="hypothesis", kind="other"),
        ),
        sentence(),
        observation,
        steps_for(format_name),
        st.booleans(),
    )
