"""The `webshop` format: ReAct's WebShop prompt byte for byte, hand-made episodes, properties."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdistill.config import FormatConfig
from agentdistill.formats import (
    FEW_SHOT_STYLES,
    FORMAT_NAMES,
    FormatError,
    SpanLabel,
    WebshopFormat,
    get_format,
    join_few_shot,
)
from agentdistill.records import PolicyInfo, Step, Task, Trajectory
from agentdistill.segmentation import segment_trajectory
from agentdistill.teacher import few_shot_preamble
from agentdistill.tokenizer import train_byte_level_bpe

from .strategies import bracket_action, command_action, reasoning, sentence, thought, words
from .test_formats import check_spans, simulate_generation

FMT = get_format("webshop")
PUBLISHED = json.loads(
    (Path(__file__).parent / "data" / "react" / "webshop_prompt.json").read_text("utf-8")
)


def published(name: str) -> str:
    """A prompt of ReAct's WebShop notebook, checked against the hash stored with it."""
    entry = PUBLISHED["prompts"][name]
    text = entry["text"]
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == entry["sha256"]
    return text


def as_trajectory(initial_observation: str, steps: tuple[Step, ...] | list[Step]) -> Trajectory:
    return Trajectory(
        task=Task(env="webshop", task_id="t0", split="train", goal="g"),
        initial_observation=initial_observation,
        steps=list(steps),
        success=True,
        reward=1.0,
        policy=PolicyInfo(name="hand-written", kind="human"),
    )


def pieces(text: str, rendered_segments) -> list[tuple[str, SpanLabel]]:
    return [(text[s.start : s.end], s.label) for s in rendered_segments]


def check_episode_round_trip(text: str) -> Trajectory:
    """parse_episode -> records -> render, byte for byte, with every turn and prompt."""
    episode = FMT.parse_episode(text)
    trajectory = as_trajectory(episode.initial_observation, episode.steps)
    rendered = FMT.render_trajectory(trajectory)
    assert rendered.text == text
    for k, step in enumerate(episode.steps):
        turn = rendered.turn_text(k)
        parsed = FMT.parse(turn)
        assert (parsed.reasoning, parsed.action) == (step.reasoning, step.action)
        assert FMT.turn_text(FMT.read_turn(turn, k), k) == turn
        assert FMT.prompt(episode.initial_observation, episode.steps[:k]) == rendered.prompt(k)
        check_spans(rendered, k, step)
    assert rendered.segments[0].start == 0 and rendered.segments[-1].end == len(text)
    for left, right in zip(rendered.segments, rendered.segments[1:], strict=False):
        assert left.end == right.start
    assert Trajectory.model_validate_json(trajectory.model_dump_json()) == trajectory
    return trajectory


# ---- ReAct's published WebShop prompt (tests/data/react/webshop_prompt.json) -----------------


def test_the_published_prompt_round_trips_byte_for_byte() -> None:
    text = published("prompt1")
    trajectory = check_episode_round_trip(text)
    episode = FMT.parse_episode(text)
    assert episode.ended  # the example ends with `Action: click[Buy Now]`, no observation
    assert trajectory.initial_observation == (
        "Webshop \nInstruction:  \ni would like a 3 ounce bottle of bright citrus deodorant for "
        "sensitive skin, and price lower than 50.00 dollars \n[Search]  "
    )
    steps = trajectory.steps
    assert [s.action for s in steps] == [
        "search[3 ounce bright citrus deodorant sensitive skin]",
        "click[B078GWRC1J]",
        "click[bright citrus]",
        "click[3 ounce (pack of 1)]",
        "click[Buy Now]",
    ]
    # the two thinks are the reasoning of the action that follows each
    assert [bool(s.reasoning) for s in steps] == [False, True, True, False, False]
    assert steps[1].reasoning.startswith("B078GWRC1J and B078GTKVXY are bright citrus")
    assert steps[2].reasoning.endswith("'3 ounce (pack of 1)' and seems good to buy.")
    assert all(s.written is None for s in steps)  # every turn is the canonical layout
    # a page observation starts with a newline (`Observation: ` ends its line)
    assert steps[0].observation.startswith("\n[Back to Search] \nPage 1 (Total results: 50) \n")
    assert steps[0].observation.endswith("\n$15.95  ")
    assert steps[1].observation.splitlines()[-1] == "[Buy Now]  "
    assert steps[2].observation == "You have clicked bright citrus. "
    assert steps[4].observation == ""
    assert [FMT.normalize_action(s.action) for s in steps] == [s.action for s in steps]


def test_the_published_prompt_labels_thinks_as_reasoning() -> None:
    text = published("prompt1")
    rendered = FMT.render_trajectory(as_trajectory(*_episode(text)))
    labelled = pieces(rendered.text, rendered.segments)
    assert [label for _, label in labelled] == [
        SpanLabel.PROMPT,
        SpanLabel.ACT,  # search
        SpanLabel.OBS,
        SpanLabel.REASON,  # think
        SpanLabel.OBS,  # Observation: OK.
        SpanLabel.ACT,  # click[B078GWRC1J]
        SpanLabel.OBS,
        SpanLabel.REASON,
        SpanLabel.OBS,
        SpanLabel.ACT,  # click[bright citrus]
        SpanLabel.OBS,
        SpanLabel.ACT,  # click[3 ounce (pack of 1)]
        SpanLabel.OBS,
        SpanLabel.ACT,  # click[Buy Now]
    ]
    assert labelled[0][0].endswith("[Search]  \n\n")
    assert labelled[3][0].startswith("Action: think[B078GWRC1J and")
    assert labelled[3][0].endswith("first.]\n")
    assert labelled[4][0] == "Observation: OK.\n\n"
    assert labelled[5][0] == "Action: click[B078GWRC1J]\n"
    assert labelled[-1][0] == "Action: click[Buy Now]\n"
    assert "think" not in "".join(t for t, label in labelled if label == SpanLabel.ACT)


def test_the_published_act_only_prompt_round_trips() -> None:
    trajectory = check_episode_round_trip(published("prompt1_actonly"))
    assert not any(step.reasoning for step in trajectory.steps)
    react = FMT.parse_episode(published("prompt1"))
    assert [s.action for s in trajectory.steps] == [s.action for s in react.steps]
    assert [s.observation for s in trajectory.steps] == [s.observation for s in react.steps]


def _episode(text: str) -> tuple[str, tuple[Step, ...]]:
    episode = FMT.parse_episode(text)
    return episode.initial_observation, episode.steps


def test_the_few_shot_prompt_is_the_one_reacts_webshop_run_builds() -> None:
    example = published("prompt1")
    trajectory = as_trajectory(*_episode(example))
    first = (
        "WebShop \nInstruction:  \ni need a long clip-in hair extension which is natural "
        "looking, and price lower than 40.00 dollars \n[Search] "
    )
    steps = [
        Step(
            reasoning="I should look for a natural clip-in extension.",
            action="search[long clip-in hair extension natural]",
            observation="\n[Back to Search] \nPage 1 (Total results: 50) \n[Next >] \n"
            "[B09QQLDJ93] \nClip-in Hair Extensions, 22 inch \n$29.99 ",
        ),
        Step(action="click[B09QQLDJ93]", observation="\n[Back to Search] \n[< Prev] "),
    ]
    preamble = few_shot_preamble([trajectory], FMT, "")
    assert preamble == example + "\n"
    assert join_few_shot("", [example], FMT.few_shot_style) == preamble
    # ReAct's loop: the example, then the first page (it starts with a newline) and
    # "\n\nAction:", then " {action}\nObservation: {observation}\n\nAction:" per action, a
    # think answered "OK."; the model writes the action after "Action:".
    live = example + "\n" + first + "\n\nAction:"
    for step in steps:
        for text in step.thoughts:
            live += f" think[{text}]\nObservation: OK.\n\nAction:"
        live += f" {step.action}\nObservation: {step.observation}\n\nAction:"
    assert FMT.prompt(first, steps, preamble) + "Action:" == live
    # several examples: one blank line between two
    two = few_shot_preamble([trajectory, trajectory], FMT, "")
    assert two == example + "\n" + example + "\n"
    assert FMT.parse_episodes(two[:-1], separator="\n") == [FMT.parse_episode(example)] * 2
    assert FEW_SHOT_STYLES["webshop"] == FMT.few_shot_style


# ---- hand-made episodes: our own sentences in the same shapes --------------------------------

SHOP_EPISODE = (
    "WebShop \nInstruction:  \ni want a pair of blue wool socks for hiking, size large, and "
    "price lower than 20.00 dollars \n[Search]  \n"
    "\n"
    "Action: think[I need blue wool hiking socks in large under 20 dollars.]\n"
    "Observation: OK.\n"
    "\n"
    "Action: think[A short query with the material and use works best.]\n"
    "Observation: OK.\n"
    "\n"
    "Action: search[blue wool hiking socks]\n"
    "Observation: \n[Back to Search] \nPage 1 (Total results: 50) \n[Next >] \n"
    "[B0A1B2C3D4] \nMerino Wool Hiking Socks, Blue | Cushioned [2 Pairs] \n$18.50 \n"
    "[B0E5F6G7H8] \nCotton Crew Socks \n$9.99  \n"
    "\n"
    "Action: Click[B0A1B2C3D4]\n"
    "Observation: \n[Back to Search] \n[< Prev] \n"
    "size [small][medium][large]\ncolor [blue][grey]\n"
    "Merino Wool Hiking Socks, Blue | Cushioned [2 Pairs] \nPrice: $18.50 \nRating: N.A. \n"
    "[Description] \n[Features] \n[Reviews] \n[Buy Now]  \n"
    "\n"
    "Action: click[extra large]\n"
    "Observation: Invalid action!\n"
    "\n"
    "Action: think[There is no extra large; large is the size asked for. ]\n"
    "Observation: OK.\n"
    "\n"
    "Action: click[large]\n"
    "Observation: You have clicked large. \n"
    "\n"
    "Action: click[Buy Now]\n"
    "Observation: Your score (min 0.0, max 1.0): 1.0\n"
    "\n"
)
LAYOUT_EPISODE = (  # hand-written layouts: kept verbatim in Step.written
    "WebShop \nInstruction:  \ni want a red mug \n[Search] \n"
    "\n"
    "Action: think[ A mug; search for it.] first\n"
    "Action: search[red mug]\n"
    "Observation: \n[Back to Search] \n[B012345678] \nRed Mug \n$5.00 \n"
    "\n"
    "Action:click[B012345678]\n"
    "Observation: \n[Back to Search] \n[< Prev] \n[Buy Now] \n"
    "\n"
    "Action: think[It is red.]\n"
    "Observation: OK. \n"
    "Action: click[Buy Now]\n"
)


def test_hand_written_episodes_round_trip_exactly() -> None:
    trajectory = check_episode_round_trip(SHOP_EPISODE)
    steps = trajectory.steps
    assert steps[0].thoughts == [
        "I need blue wool hiking socks in large under 20 dollars.",
        "A short query with the material and use works best.",
    ]
    assert steps[1].action == "Click[B0A1B2C3D4]"  # as written (rule 1)
    assert FMT.normalize_action(steps[1].action) == "click[B0A1B2C3D4]"
    assert steps[2].observation == "Invalid action!"
    assert steps[3].reasoning == "There is no extra large; large is the size asked for. "
    assert steps[-1].observation == "Your score (min 0.0, max 1.0): 1.0"
    assert not FMT.parse_episode(SHOP_EPISODE).ended
    # item titles with brackets stay in the page text
    assert "Blue | Cushioned [2 Pairs] \n$18.50" in steps[0].observation
    layouts = check_episode_round_trip(LAYOUT_EPISODE).steps
    assert [s.written is not None for s in layouts] == [True, True, True]
    assert (layouts[0].reasoning, layouts[0].action) == ("A mug; search for it.", "search[red mug]")
    assert (layouts[1].reasoning, layouts[1].action) == ("", "click[B012345678]")
    assert (layouts[2].reasoning, layouts[2].action) == ("It is red.", "click[Buy Now]")
    rendered = FMT.render_trajectory(as_trajectory(*_episode(LAYOUT_EPISODE)))
    assert pieces(rendered.text, rendered.segments)[-3:] == [
        ("Action: think[It is red.]\n", SpanLabel.REASON),
        ("Observation: OK. \n", SpanLabel.OBS),
        ("Action: click[Buy Now]\n", SpanLabel.ACT),
    ]


def test_consecutive_thinks_are_one_steps_reasoning() -> None:
    step = Step(reasoning="first\nsecond ", action="search[x]", observation="page")
    rendered = FMT.render("WebShop", [step])
    assert rendered.text == (
        "WebShop\n\n"
        "Action: think[first]\nObservation: OK.\n\n"
        "Action: think[second ]\nObservation: OK.\n\n"
        "Action: search[x]\nObservation: page\n\n"
    )
    assert pieces(rendered.text, rendered.segments) == [
        ("WebShop\n\n", SpanLabel.PROMPT),
        ("Action: think[first]\n", SpanLabel.REASON),
        ("Observation: OK.\n\n", SpanLabel.OBS),
        ("Action: think[second ]\n", SpanLabel.REASON),
        ("Observation: OK.\n\n", SpanLabel.OBS),
        ("Action: search[x]\n", SpanLabel.ACT),
        ("Observation: page\n\n", SpanLabel.OBS),
    ]
    assert FMT.read_turn(rendered.turn_text(0), 0, "page") == step
    assert simulate_generation(FMT, rendered.turn_text(0)) == rendered.turn_text(0)


def test_the_turn_protocol_answers_each_think() -> None:
    assert FMT.turn_state("Action: think[x]") == FMT.turn_state("")  # line not finished
    assert FMT.turn_state("Action: think[x]\n").inject == "Observation: OK.\n\n"
    state = FMT.turn_state("Action: think[x]\nObservation: OK.\n\n")
    assert not state.done and not state.inject
    turn = "Action: think[x]\nObservation: OK.\n\nAction: click[Buy Now]\n"
    state = FMT.turn_state(turn + "Observation: Thank you")
    assert state.done and state.end == len(turn)
    state = FMT.turn_state("Action: search[a]\nmore text\n")
    assert state.done and state.end == len("Action: search[a]\n")
    assert FMT.stop_sequences == ("\n",)  # ReAct's stop: one line at a time


@pytest.mark.parametrize(
    ("text", "reasoning", "action", "command"),
    [
        ("Action: search[3 Ounce Deodorant]\n", "", "search[3 Ounce Deodorant]", ""),
        (" click[Buy Now]", "", "click[Buy Now]", ""),
        ("Action: Click [ Buy Now ] please\n", "", "Click [ Buy Now ]", "click[Buy Now]"),
        ("action 3: think[hmm]\nObservation: OK.\n\nAction: click[a]", "hmm", "click[a]", ""),
        ("Action: think[a]\nAction: think[ b ]\nAction: click[c]", "a\nb ", "click[c]", ""),
        ("Action: think[a [b] c] junk\nAction: click[d]\n", "a [b] c", "click[d]", ""),
        ("Action:\n  search[x]\n", "", "search[x]", ""),
        ("Action: think[]\nAction: click[x]", "", "click[x]", ""),
        ("Action: I will buy it.\n", "", "I will buy it.", ""),  # sent as written
        ("Action\uff1a click[x]", "", "click[x]", ""),
        ("Action: click[B078GWRC1J]\nObservation: \n[Back to Search]", "", "click[B078GWRC1J]", ""),
    ],
)
def test_parser_examples(text: str, reasoning: str, action: str, command: str) -> None:
    parsed = FMT.parse(text)
    assert (parsed.reasoning, parsed.action) == (reasoning, action)
    assert FMT.normalize_action(action) == (command or action)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Action: think[I am not sure]\nObservation: OK.\n",
        "Observation: a page\nAction: click[x]",  # an observation first: the turn is over
        "Action: think[x]\nObservation: OK.\nObservation: more\nAction: click[y]",
        "Action: think[unclosed",
    ],
)
def test_parser_reports_missing_action(text: str) -> None:
    parsed = FMT.parse(text)
    assert not parsed.ok and parsed.error == "no action found"


@pytest.mark.parametrize(
    "step",
    [
        Step(action="think[about it]", observation=""),  # a think is never an action
        Step(action="Think [x]", observation=""),
        Step(reasoning="a] b", action="click[x]", observation=""),
        Step(reasoning="a [b", action="click[x]", observation=""),
        Step(action="click[x]", observation="", written="Action: click[y]\n"),
        Step(reasoning="a", action="click[x]", observation="", written="Action: click[x]\n"),
    ],
)
def test_unrepresentable_steps_are_refused(step: Step) -> None:
    with pytest.raises(FormatError, match="step 0: format 'webshop'"):
        FMT.render("start", [step])


@pytest.mark.parametrize(
    ("text", "why"),
    [
        # a think with no action after it is no step
        ("WebShop\n\nAction: think[x]\nObservation: OK.\n\n", "begins no turn"),
        ("WebShop\n\nAction: search[x]\nObservation: p\n\nAction: think[y]\n", "begins no turn"),
        ("WebShop\nAction: search[x]\n", "must end with"),  # no blank line after the task
        ("WebShop\n\nAction: search[x]\nObservation: p\nAction: click[y]\n", "blank line"),
        ("WebShop\n\nAction: search[x]\nObservation 1: p\n\n", "observation label"),
        ("WebShop\n\nAction: click[x]\nAction: click[y]\n", "goes on"),  # a turn after the end
    ],
)
def test_transcripts_that_do_not_render_back_are_refused(text: str, why: str) -> None:
    with pytest.raises(FormatError, match=why):
        FMT.parse_episode(text)


def test_the_name_is_known_everywhere() -> None:
    assert "webshop" in FORMAT_NAMES
    assert isinstance(get_format("webshop"), WebshopFormat)
    assert FormatConfig(name="webshop").build().name == "webshop"


def test_segmentation_labels_thinks_reason_and_actions_act() -> None:
    trajectory = as_trajectory(*_episode(SHOP_EPISODE))
    rendered = FMT.render_trajectory(trajectory)
    tokenizer = train_byte_level_bpe([rendered.text] * 4, vocab_size=400, min_frequency=1)
    seg = segment_trajectory(trajectory, tokenizer, FMT)
    assert seg.text == rendered.text
    by_label = {
        label: tokenizer.decode(seg.input_ids[seg.mask(label)].tolist()) for label in SpanLabel
    }
    reason = by_label[SpanLabel.REASON]
    assert reason.count("Action: think[") == 3
    for step in trajectory.steps:
        assert all(text in reason for text in step.thoughts)
    act = by_label[SpanLabel.ACT]
    assert "think" not in act and "OK." not in act
    for step in trajectory.steps:
        assert f"Action: {step.action}\n" in act
        if step.reasoning:
            assert step.action not in reason
    assert by_label[SpanLabel.OBS].count("Observation: OK.\n\n") == 3
    # every token of a search or click is ACT, every token of a think REASON
    for k, span in enumerate(rendered.action_spans):
        inside = (seg.offsets[:, 0] < span[1]) & (seg.offsets[:, 1] > span[0])
        assert (seg.labels[inside] == SpanLabel.ACT).all() and (seg.steps[inside] == k).all()
    for spans in rendered.thought_spans:
        for start, end in spans:
            inside = (seg.offsets[:, 0] < end) & (seg.offsets[:, 1] > start)
            assert (seg.labels[inside] == SpanLabel.REASON).all()


# ---- properties on generated WebShop episodes -------------------------------------------------

BUTTONS = ["[Back to Search] ", "[< Prev] ", "[Next >] ", "[Buy Now]  ", "Rating: N.A. "]
page_line = st.one_of(
    st.sampled_from(BUTTONS),
    st.from_regex(r"\[B0[A-Z0-9]{8}\] ", fullmatch=True),
    st.builds(lambda price: f"Price: ${price / 100:.2f} ", st.integers(1, 99999)),
    st.builds(
        lambda name, values: f"{name} " + "".join(f"[{v}]" for v in values),
        words,
        st.lists(sentence(max_words=3), min_size=1, max_size=4),
    ),
    sentence().map(lambda text: text + " "),
)
page = st.lists(page_line, min_size=1, max_size=8).map(lambda lines: "\n" + "\n".join(lines))
answer = st.one_of(
    page,
    st.sampled_from(["OK.", "Invalid action!", "Your score (min 0.0, max 1.0): 0.5", ""]),
    sentence().map(lambda value: f"You have clicked {value}. "),
)
shop_action = st.one_of(
    st.builds(lambda query: f"search[{query}]", sentence(max_words=6)),
    st.builds(lambda target: f"click[{target}]", sentence(max_words=4)),
    bracket_action,
    command_action,
)
shop_step = st.builds(Step, reasoning=reasoning, action=shop_action, observation=answer)
first_page = st.builds(
    lambda instruction, tail: f"WebShop \nInstruction:  \n{instruction} \n[Search]{tail}",
    sentence(),
    st.sampled_from(["", " ", "  "]),
)


@given(first=first_page, steps=st.lists(shop_step, max_size=6), ended=st.booleans())
@settings(max_examples=80, deadline=None)
def test_generated_episodes_round_trip(first: str, steps: list[Step], ended: bool) -> None:
    if ended and steps:
        steps[-1] = steps[-1].model_copy(update={"observation": ""})
    rendered = FMT.render(first, steps, ended=ended)
    # labels cover every character, segments in order without gaps
    labels = rendered.char_labels()
    assert len(labels) == len(rendered.text)
    assert rendered.segments[0].start == 0 and rendered.segments[-1].end == len(rendered.text)
    for left, right in zip(rendered.segments, rendered.segments[1:], strict=False):
        assert left.end == right.start
    for k, step in enumerate(steps):
        # the prompt at step k is a prefix of the training text
        assert FMT.prompt(first, steps[:k]) == rendered.text[: rendered.turn_starts[k]]
        parsed = FMT.parse(rendered.turn_text(k))
        assert (parsed.reasoning, parsed.action) == (step.reasoning, step.action)
        check_spans(rendered, k, step)
        start, end = rendered.action_spans[k]
        assert (labels[start:end] == SpanLabel.ACT).all()
        for start, end in rendered.thought_spans[k]:
            assert (labels[start:end] == SpanLabel.REASON).all()
    # the whole text reads back into the same records
    episode = FMT.parse_episode(rendered.text)
    assert episode.initial_observation == first
    assert list(episode.steps) == steps
    assert episode.ended == (ended and bool(steps))


@st.composite
def written_turn(draw: st.DrawFn) -> str:
    """A turn in a hand-written layout: thinks answered `Observation: OK.` with or without
    the blank line, `OK. `, or not at all; labels without their space or in lower case."""
    label = draw(st.sampled_from(["Action: ", "Action:", "action: "]))
    replies = st.sampled_from(
        ["Observation: OK.\n\n", "Observation: OK.\n", "Observation: OK. \n", ""]
    )
    thinks = draw(st.lists(thought, max_size=3))
    lines = [f"{label}think[{text}]\n{draw(replies)}" for text in thinks]
    return "".join(lines) + label + draw(shop_action) + "\n"


@given(data=st.data())
@settings(max_examples=80, deadline=None)
def test_written_layouts_round_trip(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, 5))
    turn = data.draw(written_turn())
    step = FMT.read_turn(turn, index, observation="seen")
    assert FMT.turn_text(step, index) == turn
    parsed = FMT.parse(turn)
    assert (parsed.reasoning, parsed.action) == (step.reasoning, step.action)
    steps = [Step(action="search[x]", observation="o")] * index + [step]
    rendered = FMT.render("start", steps)
    assert rendered.turn_text(index) == turn
    check_spans(rendered, index, step)
    labels = rendered.char_labels()[rendered.turn_starts[index] : rendered.turn_ends[index]]
    lines = turn.split("\n")[:-1]
    position = 0
    for line in lines:  # replies and blank lines are OBS, the action line ACT
        label = labels[position]
        if line.startswith("Observation") or not line:
            assert label == SpanLabel.OBS
        position += len(line) + 1
    assert labels[-1] == SpanLabel.ACT
    assert np.isin(labels, [SpanLabel.REASON, SpanLabel.ACT, SpanLabel.OBS]).all()


FRAGMENTS = [
    "Action: ", "Action:", "action 2: ", "Observation: ", "Observation: OK.", "OK.", "think[",
    "think [", "search[", "click[", "Buy Now", "]", "[", "\n", "\n", "\n\n", " ", "\t", "\r",
    "x", "é", "\uff1a", "\u2028", "\x85", "WebShop ",
]  # fmt: skip


fuzz_text = st.one_of(
    st.text(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
)


@given(text=fuzz_text, separator=st.sampled_from(["", "\n"]))
@settings(max_examples=300, deadline=None)
def test_fuzz_reads_back_exactly_or_refuses(text: str, separator: str) -> None:
    parsed = FMT.parse(text)
    assert parsed.ok != bool(parsed.error)
    if parsed.ok:
        Step(reasoning=parsed.reasoning, action=parsed.action, observation="")
    state = FMT.turn_state(text)
    if state.done:  # the turn ends where the parser finds its action
        assert FMT.parse(text[: state.end]) == parsed
    try:
        episode = FMT.parse_episode(text)
    except FormatError as exc:
        assert "format 'webshop'" in str(exc)
    else:
        rendered = FMT.render(episode.initial_observation, episode.steps, ended=episode.ended)
        assert rendered.text == text
    try:
        episodes = FMT.parse_episodes(text, separator)
    except FormatError as exc:
        assert "format 'webshop'" in str(exc)
    else:
        texts = [FMT.render(e.initial_observation, e.steps, ended=e.ended).text for e in episodes]
        assert separator.join(texts) == text
