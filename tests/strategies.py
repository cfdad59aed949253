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


# A thought as ReAct writes them: a sentence, sometimes ending in whitespace before its newline.
thought = st.builds(
    lambda text, tail: text + tail, sentence(), st.sampled_from(["", "", "", " ", "  ", "\t"])
)
# The reasoning of a turn: no thought, or several, one per line.
reasoning = st.one_of(st.just(""), st.lists(thought, min_size=1, max_size=3).map("\n".join))

# Wild text: any characters but line breaks, stripped (what Step accepts as an action).
wild_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    max_size=40,
).map(str.strip)
# A wild thought may end in whitespace, not start with it.
wild_thought = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    max_size=40,
).map(str.lstrip)

# Arguments hold words and balanced brackets: `1,800 ft (550 m).[3]`, `[[note]]`.
argument_part = st.one_of(
    words,
    words.map(lambda word: f"[{word}]"),
    words.map(lambda word: f"[[{word}]]"),
    st.builds(lambda text, note: f"{text}.[{note}]", words, words),
)
bracket_action = st.builds(
    lambda verb, parts: f"{verb}[{' '.join(parts)}]",
    st.sampled_from(["search", "lookup", "finish", "click", "Search", "Lookup", "Finish"]),
    st.lists(argument_part, min_size=1, max_size=4),
)
# Commands, mostly lower case; a capitalised first word or a final period stays as written.
command_action = st.builds(
    lambda parts, capital, period: (parts.capitalize() if capital else parts) + period,
    st.lists(lower_words, min_size=1, max_size=6).map(" ".join),
    st.booleans(),
    st.sampled_from(["", "", "", "."]),
)
observation = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)


def steps_for(format_name: str, max_steps: int = 6) -> st.SearchStrategy[list[Step]]:
    """Steps whose reasoning and action every parser must give back unchanged."""
    action = (
        command_action if format_name == "alfworld" else st.one_of(bracket_action, command_action)
    )
    step = st.builds(Step, reasoning=reasoning, action=action, observation=observation)
    return st.lists(step, min_size=0, max_size=max_steps)


@st.composite
def written_turn(draw: st.DrawFn, format_name: str, index: int) -> str:
    """A turn in a hand-written layout the format does not produce itself (`Step.written`).

    `alfworld`: thoughts answered `OK.`, `OK. ` or not at all, actions after `>` or `> `;
    `react`/`paper`: labels without their space or in another case.
    """
    thoughts = draw(st.lists(thought, min_size=0, max_size=3))
    if format_name == "alfworld":
        replies = st.sampled_from(["OK.\n", "OK. \n", ""])
        lines = [f"> think: {text}\n{draw(replies)}" for text in thoughts]
        prefix = draw(st.sampled_from(["> ", ">"]))
        return "".join(lines) + prefix + draw(command_action) + "\n"
    number = f" {index + 1}" if format_name == "react" else ""
    word = "Thought" if format_name == "react" else "Reasoning"
    case = draw(st.sampled_from([str, str.lower, str.upper]))
    spaces = st.sampled_from([" ", ""])
    lines = [f"{case(word)}{number}:{draw(spaces)}{text}\n" for text in thoughts]
    action = draw(st.one_of(bracket_action, command_action))
    return "".join(lines) + f"{case('Action')}{number}:{draw(spaces)}{action}\n"


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
