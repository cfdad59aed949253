import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdistill.formats import FormatError, ReactFormat, SpanLabel, get_format
from agentdistill.records import Step

from .strategies import observation, sentence, steps_for, wild_line

FORMATS = [
    get_format("react"),
    get_format("react", numbered=False),
    get_format("paper"),
    get_format("alfworld"),
]
IDS = ["react", "react-unnumbered", "paper", "alfworld"]


def simulate_generation(fmt: ReactFormat, turn: str) -> str:
    """Replay a turn as a policy would write it, character by character, honouring injections."""
    written = ""
    position = 0
    while position < len(turn):
        state = fmt.turn_state(written)
        if state.done:
            break
        if state.inject:
            assert turn[position:].startswith(state.inject), (turn, position, state)
            written += state.inject
            position += len(state.inject)
            continue
        written += turn[position]
        position += 1
    final = fmt.turn_state(written)
    assert final.done and final.end == len(written)
    return written


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_render_parse_round_trip_and_prefix(fmt: ReactFormat, data: st.DataObject) -> None:
    first = data.draw(observation)
    steps = data.draw(steps_for(fmt.name))
    rendered = fmt.render(first, steps)
    # segments partition the text, in order, without gaps
    assert rendered.segments[0].start == 0 and rendered.segments[-1].end == len(rendered.text)
    for left, right in zip(rendered.segments, rendered.segments[1:], strict=False):
        assert left.end == right.start
    for k, step in enumerate(steps):
        # the prompt at step k is byte-identical to the prefix of the training text
        assert fmt.prompt(first, steps[:k]) == rendered.text[: rendered.turn_starts[k]]
        turn = rendered.turn_text(k)
        # the per-step pieces the rollout engine appends are exactly what render() wrote
        assert fmt.turn_text(step, k) == turn
        following = rendered.turn_starts[k + 1] if k + 1 < len(steps) else len(rendered.text)
        assert fmt.observation_text(step, k) == rendered.text[rendered.turn_ends[k] : following]
        parsed = fmt.parse(turn)
        assert (parsed.reasoning, parsed.action) == (step.reasoning, step.action)
        # the policy's turn, generated incrementally, stops exactly where the turn ends
        assert simulate_generation(fmt, turn) == turn
        start, end = rendered.action_spans[k]
        assert rendered.text[start:end] == step.action
        if step.reasoning:
            start, end = rendered.reasoning_spans[k]
            assert rendered.text[start:end] == step.reasoning
        else:
            assert rendered.reasoning_spans[k] is None
    labels = rendered.char_labels()
    assert set(labels.tolist()) <= {int(x) for x in SpanLabel}


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
@given(reasoning=wild_line, action=wild_line.filter(bool))
@settings(max_examples=150, deadline=None)
def test_wild_text_round_trips_or_is_refused(fmt: ReactFormat, reasoning: str, action: str) -> None:
    step = Step(reasoning=reasoning, action=action, observation="obs")
    try:
        rendered = fmt.render("start", [step])
    except FormatError as exc:
        assert "cannot represent" in str(exc)
        return
    parsed = fmt.parse(rendered.turn_text(0))
    assert (parsed.reasoning, parsed.action) == (reasoning, action)


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
@given(text=st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_parse_and_turn_state_never_raise(fmt: ReactFormat, text: str) -> None:
    parsed = fmt.parse(text)
    assert parsed.ok == (parsed.action is not None)
    assert parsed.ok or parsed.error
    fmt.turn_state(text)


@given(
    thought=sentence(),
    query=sentence(max_words=4),
    number=st.integers(1, 99),
    pad=st.sampled_from(["", " ", "  ", "\t"]),
    label_case=st.sampled_from([str.lower, str.upper, str.title]),
    junk=st.sampled_from(
        ["", " and then I will look", "\nObservation 3: The page says", "\n\nThought 4: next"]
    ),
)
@settings(max_examples=150, deadline=None)
def test_react_parser_is_robust(thought, query, number, pad, label_case, junk) -> None:
    query = query.replace("]", "")
    text = (
        f"{pad}{label_case('Thought')} {number}{pad}:{pad}{thought}{pad}\n"
        f"{pad}{label_case('Action')} {number}:{pad}Search[{query}]{junk}"
    )
    parsed = get_format("react").parse(text)
    assert parsed.reasoning == thought
    assert parsed.action == f"search[{query.strip()}]"


@pytest.mark.parametrize(
    ("text", "reasoning", "action"),
    [
        ("Action 2: Search[Milhouse]", "", "search[Milhouse]"),  # missing thought
        (" I need to search it.\nAction 1: Search[x]", "I need to search it.", "search[x]"),
        (
            "Thought: first part\nsecond part\nAction: Lookup[y]",
            "first part second part",
            "lookup[y]",
        ),
        ("Thought 3: so it is 1988. Action 3: Finish[1988]", "so it is 1988.", "finish[1988]"),
        ("Thought 1: hmm\nAction 1:\n  Finish[yes]\n", "hmm", "finish[yes]"),
        ("Reasoning: buy it\nAction: click[Buy Now] now please", "buy it", "click[Buy Now]"),
        (
            "Thought: no label on the action\nsearch[Paris]",
            "no label on the action",
            "search[Paris]",
        ),
        ("Thought 1: a\r\nAction 1: Search [ spaced ]\r\n", "a", "search[spaced]"),
    ],
)
def test_react_parser_examples(text: str, reasoning: str, action: str) -> None:
    parsed = get_format("react").parse(text)
    assert (parsed.reasoning, parsed.action) == (reasoning, action)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Thought 1: I am not sure what to do",
        "Observation 1: you see a mug",
        "Thought: x\nObservation: y\nAction: search[z]",
    ],
)
def test_react_parser_reports_missing_action(text: str) -> None:
    parsed = get_format("react").parse(text)
    assert not parsed.ok and parsed.error == "no action found"


@pytest.mark.parametrize(
    ("text", "reasoning", "action"),
    [
        (" think: I need a mug.\nOK.\n> go to desk 1\n", "I need a mug.", "go to desk 1"),
        ("> Go To  Desk 1.", "", "go to desk 1"),
        ("  >   take mug 1 from desk 1\nYou pick up the mug 1", "", "take mug 1 from desk 1"),
        ("> think: a\n> think: b\n> open fridge 1", "a b", "open fridge 1"),
    ],
)
def test_alfworld_parser_examples(text: str, reasoning: str, action: str) -> None:
    parsed = get_format("alfworld").parse(text)
    assert (parsed.reasoning, parsed.action) == (reasoning, action)


def test_alfworld_turn_protocol_injects_ok_after_a_thought() -> None:
    fmt = get_format("alfworld")
    assert fmt.turn_state("> think: x").inject == ""  # line not finished yet
    assert fmt.turn_state("> think: x\n").inject == "OK.\n"
    assert not fmt.turn_state("> think: x\nOK.\n").done
    state = fmt.turn_state("> think: x\nOK.\n> go to desk 1\nYou arrive")
    assert state.done and state.end == len("> think: x\nOK.\n> go to desk 1\n")


@pytest.mark.parametrize(
    ("name", "step"),
    [
        (
            "react",
            Step(reasoning="it says Action 2: search[x] here", action="look", observation=""),
        ),
        ("alfworld", Step(reasoning="", action="think: about it", observation="")),
        ("alfworld", Step(reasoning="", action="Go to desk 1", observation="")),
    ],
)
def test_unrepresentable_steps_are_refused(name: str, step: Step) -> None:
    with pytest.raises(FormatError, match="step 0: format"):
        get_format(name).render("start", [step])


def test_labels_of_a_react_step() -> None:
    fmt = get_format("react")
    steps = [Step(reasoning="r", action="search[a]", observation="o")]
    rendered = fmt.render("Question: q", steps)
    assert rendered.text == "Question: q\nThought 1: r\nAction 1: search[a]\nObservation 1: o\n"
    pieces = [(rendered.text[s.start : s.end], s.label) for s in rendered.segments]
    assert pieces == [
        ("Question: q\n", SpanLabel.PROMPT),
        ("Thought 1: r\n", SpanLabel.REASON),
        ("Action 1: search[a]\n", SpanLabel.ACT),
        ("Observation 1: o\n", SpanLabel.OBS),
    ]


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'json'; expected one of react"):
        get_format("json")
