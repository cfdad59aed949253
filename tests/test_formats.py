import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdistill.formats import (
    FEW_SHOT_STYLES,
    FormatError,
    ReactFormat,
    RenderedTrajectory,
    SpanLabel,
    get_format,
    join_few_shot,
)
from agentdistill.records import PolicyInfo, Step, Task, Trajectory
from agentdistill.teacher import few_shot_preamble

from .strategies import (
    observation,
    sentence,
    steps_for,
    wild_line,
    wild_thought,
    written_turn,
)

FORMATS = [
    get_format("react"),
    get_format("react", numbered=False),
    get_format("paper"),
    get_format("alfworld"),
    get_format("webshop"),
]
IDS = ["react", "react-unnumbered", "paper", "alfworld", "webshop"]


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
        check_spans(rendered, k, step)
    labels = rendered.char_labels()
    assert set(labels.tolist()) <= {int(x) for x in SpanLabel}
    # a finished episode: the prompts are still prefixes; only an empty last observation goes
    ended = fmt.render(first, steps, ended=True)
    for k in range(len(steps)):
        assert ended.text.startswith(fmt.prompt(first, steps[:k]))
    if steps and not steps[-1].observation:
        assert rendered.text == ended.text + fmt.observation_text(steps[-1], len(steps) - 1)
    else:
        assert ended.text == rendered.text


def check_spans(rendered: RenderedTrajectory, k: int, step: Step) -> None:
    """Content spans hold exactly the step's action and each of its thoughts."""
    start, end = rendered.action_spans[k]
    assert rendered.text[start:end] == step.action
    spans = rendered.thought_spans[k]
    assert [rendered.text[start:end] for start, end in spans] == step.thoughts
    if step.reasoning:
        start, end = rendered.reasoning_spans[k]
        assert (start, end) == (spans[0][0], spans[-1][1])
        if len(spans) == 1:
            assert rendered.text[start:end] == step.reasoning
    else:
        assert rendered.reasoning_spans[k] is None


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
@given(reasoning=wild_thought, action=wild_line.filter(bool))
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
    assert parsed.reasoning == thought + pad  # trailing whitespace of a thought stays
    assert parsed.action == f"Search[{query}]"  # as written; junk after the bracket dropped
    assert get_format("react").normalize_action(parsed.action) == f"search[{query}]"


@pytest.mark.parametrize(
    ("text", "reasoning", "action", "command"),
    [
        ("Action 2: Search[Milhouse]", "", "Search[Milhouse]", "search[Milhouse]"),
        (" I need to search it.\nAction 1: Search[x]", "I need to search it.", "Search[x]", ""),
        (
            "Thought: first part\nsecond part\nAction: Lookup[y]",
            "first part second part",
            "Lookup[y]",
            "lookup[y]",
        ),
        ("Thought 3: so it is 1988. Action 3: Finish[1988]", "so it is 1988.", "Finish[1988]", ""),
        ("Thought 1: hmm\nAction 1:\n  Finish[yes]\n", "hmm", "Finish[yes]", "finish[yes]"),
        ("Reasoning: buy it\nAction: click[Buy Now] now please", "buy it", "click[Buy Now]", ""),
        (
            "Thought: no label on the action\nsearch[Paris]",
            "no label on the action",
            "search[Paris]",
            "search[Paris]",
        ),
        (
            "Thought 1: a\r\nAction 1: Search [ spaced ]\r\n",
            "a",
            "Search [ spaced ]",
            "search[spaced]",
        ),
        ("Thought 1: a\nThought 1: b \nAction 1: Finish[c]", "a\nb ", "Finish[c]", "finish[c]"),
        ("Thought 2: x\nAction 2: Finish[a [b]] c]", "x", "Finish[a [b]]", "finish[a [b]]"),
    ],
)
def test_react_parser_examples(text: str, reasoning: str, action: str, command: str) -> None:
    fmt = get_format("react")
    parsed = fmt.parse(text)
    assert (parsed.reasoning, parsed.action) == (reasoning, action)
    if command:
        assert fmt.normalize_action(action) == command


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
    ("text", "reasoning", "action", "command"),
    [
        (" think: I need a mug.\nOK.\n> go to desk 1\n", "I need a mug.", "go to desk 1", ""),
        ("> Go To  Desk 1.", "", "Go To  Desk 1.", "go to desk 1"),
        ("  >   take mug 1 from desk 1\nYou pick up the mug 1", "", "take mug 1 from desk 1", ""),
        ("> think: a\n> think: b\n> open fridge 1", "a\nb", "open fridge 1", ""),
        (">go to shelf 2\n", "", "go to shelf 2", "go to shelf 2"),
        ("> think: so. \nOK. \n> Open Drawer 3\n", "so. ", "Open Drawer 3", "open drawer 3"),
    ],
)
def test_alfworld_parser_examples(text: str, reasoning: str, action: str, command: str) -> None:
    fmt = get_format("alfworld")
    parsed = fmt.parse(text)
    assert (parsed.reasoning, parsed.action) == (reasoning, action)
    assert fmt.normalize_action(action) == (command or action)


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
        ("alfworld", Step(reasoning="", action="OK.", observation="")),
        ("react", Step(reasoning="", action="Finish[a]b]", observation="")),
        ("react", Step(reasoning="", action="Search[x] then more", observation="")),
        (
            "alfworld",
            Step(action="go to desk 1", observation="", written="> go to desk 2\n"),
        ),
        (
            "alfworld",
            Step(reasoning="a", action="go to desk 1", observation="", written="> go to desk 1\n"),
        ),
        (
            "react",
            Step(action="Finish[x]", observation="", written="Action 1: Finish[x]\nAction 1: y\n"),
        ),
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


# ---- ReAct's own prompts, byte for byte: each rule on examples of the same shapes -----------
# (our own sentences; see the rules in the docstring of agentdistill.formats)

QA_EPISODE = (
    "Question: Which lighthouse is older, Skerry Point or Gull Rock?\n"
    "Thought 1: I need to search Skerry Point and Gull Rock, then compare the years.\n"
    "Action 1: Search[Skerry Point Lighthouse]\n"
    "Observation 1: Skerry Point Lighthouse was first lit in 1871. [1]\n"
    "It stands on a basalt ledge.\n"
    "Thought 2: Skerry Point is from 1871. I need to look up Gull Rock next. \n"
    "Action 2: Lookup[Gull Rock]\n"
    "Observation 2: (Result 1 / 1) Gull Rock light was built in 1902 (rebuilt 1950).[2] \n"
    "Thought 3: 1871 < 1902, so Skerry Point is older.\n"
    "Action 3: Finish[Skerry Point (1871).[1]]\n"
)
QA_SECOND = (
    "Question: Were both bridges designed by the same engineer?\n"
    "Thought 1: I only need to search the first bridge.\n"
    "Action 1: Search[Old Mill Bridge]\n"
    "Observation 1: Could not find [Old Mill Bridge]. Similar: ['Old Mill Bridge (Avon)'].\n"
    "Thought 2: The designer is not given, so the answer is no.\n"
    "Action 2: Finish[no]\n"
)
HOUSE_EPISODE = (
    "You are in the middle of a room. Looking quickly around you, you see a desk 1, "
    "a drawer 2, a drawer 1, and a shelf 1.\n"
    "Your task is to: put a key in shelf.\n"
    "> think: To solve the task, I need to find and take a key, then put it in shelf. \n"
    "OK. \n"
    "> think: A key is more likely to appear in drawer (1-2), desk (1). I start with drawer 1.\n"
    "OK.\n"
    ">go to drawer 1\n"
    "The drawer 1 is closed.\n"
    "> open drawer 1\n"
    "> think: The drawer may hold the key.\n"
    "OK.\n"
    "You open the drawer 1. The drawer 1 is open. In it, you see a key 2.\n"
    "> think: Now I find a key (2). Next, I need to take it.\n"
    "> take key 2 from drawer 1\n"
    "You pick up the key 2 from the drawer 1.\n"
    "> think: Now I take a key (2). Next, I need to put it in/on shelf 1.\n"
    "OK.\n"
    "> go to shelf 1\n"
    "On the shelf 1, you see nothing.\n"
    "> put key 2 in/on shelf 1\n"
    "You put the key 2 in/on the shelf 1.\n"
)
HOUSE_SECOND = (
    "You are in the middle of a room. Looking quickly around you, you see a fridge 1.\n"
    "Your task is to: cool some egg and put it in fridge.\n"
    "> think: To solve the task, I need to find an egg.\n"
    "OK.\n"
    "> go to fridge 1\n"
    "The fridge 1 is closed.\n"
)


def as_trajectory(initial_observation: str, steps: tuple[Step, ...]) -> Trajectory:
    return Trajectory(
        task=Task(env="test", task_id="t0", split="train", goal="g"),
        initial_observation=initial_observation,
        steps=list(steps),
        success=True,
        reward=1.0,
        policy=PolicyInfo(name="hand-written", kind="human"),
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [("react", QA_EPISODE), ("react", QA_SECOND), ("alfworld", HOUSE_EPISODE)],
    ids=["qa", "qa-second", "house"],
)
def test_hand_written_episode_round_trips_exactly(name: str, text: str) -> None:
    fmt = get_format(name)
    episode = fmt.parse_episode(text)
    trajectory = as_trajectory(episode.initial_observation, episode.steps)
    rendered = fmt.render_trajectory(trajectory)
    assert rendered.text == text  # whole episode, byte for byte
    for k, step in enumerate(episode.steps):
        turn = rendered.turn_text(k)
        parsed = fmt.parse(turn)
        assert (parsed.reasoning, parsed.action) == (step.reasoning, step.action)
        assert fmt.turn_text(fmt.read_turn(turn, k), k) == turn  # every turn, byte for byte
        assert fmt.prompt(episode.initial_observation, episode.steps[:k]) == rendered.prompt(k)
        check_spans(rendered, k, step)
    # segments partition the text
    assert rendered.segments[0].start == 0 and rendered.segments[-1].end == len(text)
    for left, right in zip(rendered.segments, rendered.segments[1:], strict=False):
        assert left.end == right.start
    # and the records survive JSON
    assert Trajectory.model_validate_json(trajectory.model_dump_json()) == trajectory


def test_rule1_capitalised_verbs_are_kept_and_normalised_only_for_the_environment() -> None:
    fmt = get_format("react")
    steps = fmt.parse_episode(QA_EPISODE).steps
    assert [s.action for s in steps] == [
        "Search[Skerry Point Lighthouse]",
        "Lookup[Gull Rock]",
        "Finish[Skerry Point (1871).[1]]",
    ]
    assert [fmt.normalize_action(s.action) for s in steps] == [
        "search[Skerry Point Lighthouse]",
        "lookup[Gull Rock]",
        "finish[Skerry Point (1871).[1]]",
    ]
    step = Step(reasoning="x", action="Finish[Gull Rock]", observation="")
    assert fmt.turn_text(step, 4) == "Thought 5: x\nAction 5: Finish[Gull Rock]\n"


def test_rule2_the_finishing_step_writes_no_observation_line() -> None:
    fmt = get_format("react")
    episode = fmt.parse_episode(QA_EPISODE)
    assert episode.ended and episode.steps[-1].observation == ""
    assert fmt.render(episode.initial_observation, episode.steps, ended=True).text == QA_EPISODE
    # a prompt (not ended) still writes the label after every step, so it stays a prefix
    unfinished = fmt.render(episode.initial_observation, episode.steps).text
    assert unfinished == QA_EPISODE + "Observation 3: \n"
    # a non-empty last observation is always written
    said = episode.steps[-1].model_copy(update={"observation": "Episode finished."})
    steps = [*episode.steps[:-1], said]
    text = fmt.render(episode.initial_observation, steps, ended=True).text
    assert text.endswith(
        "Action 3: Finish[Skerry Point (1871).[1]]\nObservation 3: Episode finished.\n"
    )


def test_rule3_a_thought_keeps_its_trailing_whitespace() -> None:
    fmt = get_format("react")
    turn = "Thought 2: Skerry Point is from 1871. \nAction 2: Lookup[Gull Rock]\n"
    assert fmt.parse(turn).reasoning == "Skerry Point is from 1871. "
    step = fmt.read_turn(turn, 1)
    assert step.written is None and fmt.turn_text(step, 1) == turn
    alfworld = get_format("alfworld")
    turn = "> think: First the key. \nOK.\n> go to drawer 1\n"
    step = alfworld.read_turn(turn, 0)
    assert step.reasoning == "First the key. " and step.written is None
    assert alfworld.turn_text(step, 0) == turn
    Step(reasoning="ends in a tab\t", action="look", observation="")  # accepted
    with pytest.raises(ValueError, match="not start with whitespace"):
        Step(reasoning=" starts with a space", action="look", observation="")


def test_rule4_two_thoughts_in_a_row() -> None:
    alfworld = get_format("alfworld")
    turn = (
        "> think: To solve the task, I need to find an egg.\nOK.\n"
        "> think: An egg is likely in fridge (1). I start there.\nOK.\n"
        "> go to fridge 1\n"
    )
    step = alfworld.read_turn(turn, 0)
    assert step.thoughts == [
        "To solve the task, I need to find an egg.",
        "An egg is likely in fridge (1). I start there.",
    ]
    assert step.written is None  # the canonical rendering: every think answered `OK.`
    rendered = alfworld.render("Your task is to: cool some egg.", [step])
    pieces = [(rendered.text[s.start : s.end], s.label) for s in rendered.segments[1:]]
    assert pieces == [
        ("> think: To solve the task, I need to find an egg.\n", SpanLabel.REASON),
        ("OK.\n", SpanLabel.OBS),
        ("> think: An egg is likely in fridge (1). I start there.\n", SpanLabel.REASON),
        ("OK.\n", SpanLabel.OBS),
        ("> go to fridge 1\n", SpanLabel.ACT),
        ("\n", SpanLabel.OBS),
    ]
    # the live protocol answers each think in turn
    assert simulate_generation(alfworld, turn) == turn
    react = get_format("react")
    text = react.turn_text(step, 0)
    assert text == (
        "Thought 1: To solve the task, I need to find an egg.\n"
        "Thought 1: An egg is likely in fridge (1). I start there.\n"
        "Action 1: go to fridge 1\n"
    )
    assert react.parse(text).reasoning == step.reasoning


@pytest.mark.parametrize(
    ("turn", "labels"),
    [
        (  # a think the author left unanswered
            "> think: Now I find a key (2). Next, I need to take it.\n> take key 2 from drawer 1\n",
            [SpanLabel.REASON, SpanLabel.ACT],
        ),
        (  # answered `OK. ` with a trailing space
            "> think: I need a key. \nOK. \n> think: Drawer 1 first.\nOK.\n> go to drawer 1\n",
            [SpanLabel.REASON, SpanLabel.OBS, SpanLabel.REASON, SpanLabel.OBS, SpanLabel.ACT],
        ),
    ],
)
def test_rule5_ok_only_where_the_author_wrote_it(turn: str, labels: list[SpanLabel]) -> None:
    fmt = get_format("alfworld")
    step = fmt.read_turn(turn, 3)
    assert step.written == turn
    assert fmt.turn_text(step, 3) == turn
    rendered = fmt.render("start", [Step(action="look", observation="ok"), step])
    assert rendered.turn_text(1) == turn
    line_labels = [
        rendered.char_labels()[rendered.turn_starts[1] + offset]
        for offset in [0] + [i + 1 for i, c in enumerate(turn[:-1]) if c == "\n"]
    ]
    assert line_labels == labels
    check_spans(rendered, 1, step)
    # without the layout, the step renders canonically: every think answered `OK.`
    assert "OK.\n" in fmt.turn_text(step.model_copy(update={"written": None}), 3)


def test_rule6_a_prompt_without_its_space() -> None:
    fmt = get_format("alfworld")
    step = fmt.read_turn(">go to shelf 1\n", 2)
    assert (step.action, step.written) == ("go to shelf 1", ">go to shelf 1\n")
    assert fmt.turn_text(step, 2) == ">go to shelf 1\n"
    assert fmt.normalize_action(step.action) == "go to shelf 1"
    rendered = fmt.render("start", [step])
    assert rendered.text[slice(*rendered.action_spans[0])] == "go to shelf 1"


def test_rule7_brackets_inside_an_argument() -> None:
    fmt = get_format("react")
    turn = (
        "Thought 4: So the range is known.\nAction 4: Finish[900 to 2,100 ft (270 to 640 m).[3]]\n"
    )
    parsed = fmt.parse(turn)
    assert parsed.action == "Finish[900 to 2,100 ft (270 to 640 m).[3]]"
    assert fmt.turn_text(fmt.read_turn(turn, 3), 3) == turn
    assert fmt.parse("Action 1: Search[a [b] c] and more").action == "Search[a [b] c]"
    assert fmt.parse("Action 1: Search[never closed").action == "Search[never closed"


def test_rule8_few_shot_prompts_join_as_react_does() -> None:
    react, alfworld = get_format("react"), get_format("alfworld")
    qa = [react.parse_episode(text) for text in (QA_EPISODE, QA_SECOND)]
    qa_examples = [as_trajectory(e.initial_observation, e.steps) for e in qa]
    task = "Question: Which tower is taller?"
    # HotPotQA: the instruction, a blank line, the examples back to back, then the question
    preamble = few_shot_preamble(qa_examples, react, "Solve a question. Here are some examples.")
    expected = "Solve a question. Here are some examples.\n\n" + QA_EPISODE + QA_SECOND
    assert preamble == expected
    assert react.prompt(task, [], preamble) == expected + task + "\n"
    # FEVER: a blank line, the instruction, the examples each followed by a blank line
    fever = few_shot_preamble(qa_examples, react, "Judge the claim. ", FEW_SHOT_STYLES["fever"])
    assert fever == "\nJudge the claim. \n" + QA_EPISODE + "\n" + QA_SECOND + "\n"
    # ALFWorld: the instruction, the examples back to back, a blank line, `Here is the task.`
    house = [alfworld.parse_episode(text) for text in (HOUSE_EPISODE, HOUSE_SECOND)]
    house_examples = [as_trajectory(e.initial_observation, e.steps) for e in house]
    instruction = "Interact with a household to solve a task. Here are two examples."
    preamble = few_shot_preamble(house_examples, alfworld, instruction)
    expected = instruction + "\n" + HOUSE_EPISODE + HOUSE_SECOND + "\nHere is the task.\n"
    assert preamble == expected
    assert join_few_shot(instruction, [HOUSE_EPISODE, HOUSE_SECOND], alfworld.few_shot_style) == (
        expected
    )
    first = "You are in the middle of a room.\nYour task is to: find a key."
    assert alfworld.prompt(first, [], preamble) == expected + first + "\n"
    # and the examples come back from the joined text
    assert react.parse_episodes(QA_EPISODE + QA_SECOND) == qa
    assert react.parse_episodes(QA_EPISODE + "\n" + QA_SECOND, separator="\n") == qa


def test_a_think_between_an_action_and_its_result_belongs_to_the_result() -> None:
    steps = get_format("alfworld").parse_episode(HOUSE_EPISODE).steps
    assert steps[1].action == "open drawer 1"
    assert steps[1].observation == (
        "> think: The drawer may hold the key.\nOK.\n"
        "You open the drawer 1. The drawer 1 is open. In it, you see a key 2."
    )


@pytest.mark.parametrize(
    "text",
    [
        "Thought 1: no question first\nAction 1: Finish[x]\n",  # no first observation
        "Question: q\nThought 1: t\nAction 1: Finish[x]\nObservation 2: wrong number\n",
        "Question: q\nAction 1: Finish[x]\nAction 2: Finish[y]\n",  # a turn after the end
    ],
)
def test_transcripts_that_do_not_render_back_are_refused(text: str) -> None:
    with pytest.raises(FormatError):
        get_format("react").parse_episode(text)


@pytest.mark.parametrize("name", ["react", "paper", "alfworld"])
@given(data=st.data())
@settings(max_examples=80, deadline=None)
def test_written_layouts_round_trip(name: str, data: st.DataObject) -> None:
    fmt = get_format(name)
    index = data.draw(st.integers(0, 5))
    turn = data.draw(written_turn(name, index))
    step = fmt.read_turn(turn, index, observation="seen")
    assert fmt.turn_text(step, index) == turn
    parsed = fmt.parse(turn)
    assert (parsed.reasoning, parsed.action) == (step.reasoning, step.action)
    steps = [Step(action="look", observation="o")] * index + [step]
    rendered = fmt.render("start", steps)
    assert rendered.turn_text(index) == turn
    check_spans(rendered, index, step)
    assert Step.model_validate_json(step.model_dump_json()) == step
