"""The environment says exactly what ReAct's `wikienv` + wrapper + notebook loop say."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdistill.environments.base import EnvironmentStateError
from agentdistill.environments.hotpotqa.env import (
    MAX_STEPS,
    VERBS,
    HotpotQAEnv,
    HotpotQASuite,
    parse_action,
)
from agentdistill.environments.hotpotqa.pages import split_sentences, summary
from agentdistill.environments.hotpotqa.wiki import build_world
from agentdistill.formats import get_format
from agentdistill.records import Task

SKERRY_SUMMARY = (
    "Skerry Point is a fishing town on the river Avon. It has a population of 4,210. "
    "The harbour was dredged in 1871. A ferry links it to the islands. "
    "The town hosts a regatta each summer."
)


def _task(question_id: str = "a1") -> Task:
    suite = HotpotQASuite.from_environment()
    return next(t for t in suite.tasks("test") if t.task_id == question_id)


@pytest.fixture
def env(real_file: Path) -> HotpotQAEnv:
    env = HotpotQAEnv()
    env.reset(_task())
    return env


def test_reset_shows_the_question(real_file: Path) -> None:
    env = HotpotQAEnv()
    assert env.reset(_task()) == "Question: On which river is the town near Gull Rock Lighthouse?"


def test_sentences_are_cut_as_wikienv_cuts_them() -> None:
    text = "First one. Second one.\n\n  Third one. Fourth one.  \nFifth. Sixth. Seventh."
    assert split_sentences(text) == [
        "First one.",
        "Second one..",
        "Third one.",
        "Fourth one..",
        "Fifth.",
        "Sixth.",
        "Seventh..",
    ]
    assert summary(text) == "First one. Second one.. Third one. Fourth one.. Fifth."
    # a sentence ending otherwise keeps its end and gains a period; '.' without a space stays
    assert split_sentences("Is it 3.5 m? Yes") == ["Is it 3.5 m? Yes."]


def test_search_hit_shows_five_sentences(env: HotpotQAEnv) -> None:
    result = env.step("search[Skerry Point]")
    assert result.observation == SKERRY_SUMMARY
    assert not result.done and result.reward == 0.0 and result.info.action_valid
    assert env.current_page == "Skerry Point"


def test_short_page_ends_with_the_double_period(env: HotpotQAEnv) -> None:
    assert env.step("search[Gull Rock Lighthouse]").observation == (
        "Gull Rock Lighthouse is a lighthouse near Skerry Point. It was built in 1902. "
        "The light was rebuilt in 1950.."
    )


def test_search_is_case_insensitive_when_unique(env: HotpotQAEnv) -> None:
    assert env.step("search[skerry point]").observation == SKERRY_SUMMARY


def test_search_miss_lists_similar_titles(env: HotpotQAEnv) -> None:
    result = env.step("search[Gull Rock]")
    assert result.observation == "Could not find Gull Rock. Similar: ['Gull Rock Lighthouse']."
    assert result.info.action_valid and not result.done


def test_shared_name_is_a_disambiguation_miss(env: HotpotQAEnv) -> None:
    assert env.step("search[Old Mill Bridge]").observation == (
        "Could not find [Old Mill Bridge]. Similar: "
        "['Old Mill Bridge (Avon)', 'Old Mill Bridge (Severn)']."
    )


def test_a_file_gives_each_title_its_first_paragraph(env: HotpotQAEnv) -> None:
    # record a2 repeats "Skerry Point" with another paragraph: the first one is the page
    assert env.step("search[Skerry Point]").observation == SKERRY_SUMMARY


def test_generated_wiki_disambiguation_and_similar() -> None:
    world = build_world()
    twin = next(e for e in world.entities if e.kind == "film" and e.ambiguous)
    result = world.corpus.search(twin.name)
    assert result.title is None and result.disambiguation
    assert twin.title in result.similar[:3]
    observation = result.observation(twin.name, None)
    assert observation.startswith(f"Could not find [{twin.name}]. Similar: ['{twin.name} (")
    assert len(result.similar) == 5
    near = world.corpus.search(twin.name[:-1])
    assert near.title is None and not near.disambiguation and near.similar


def test_lookup_pages_through_results(env: HotpotQAEnv) -> None:
    env.step("search[Skerry Point]")
    assert env.step("lookup[in 1]").observation == "(Result 1 / 2) The harbour was dredged in 1871."
    assert env.step("lookup[in 1]").observation == (
        "(Result 2 / 2) Skerry Point was granted a charter in 1610.."
    )
    assert env.step("lookup[in 1]").observation == "No more results."
    assert env.step("lookup[in 1]").observation == "No more results."
    result = env.step("Lookup[CHARTER]")  # a new keyword restarts; case-insensitive
    assert result.observation == "(Result 1 / 1) Skerry Point was granted a charter in 1610.."


def test_search_resets_lookup_and_a_miss_keeps_the_page(env: HotpotQAEnv) -> None:
    env.step("search[Skerry Point]")
    assert env.step("lookup[population]").observation.startswith("(Result 1 / 1)")
    env.step("search[Nowhere At All]")  # a miss: page and lookup state stay
    assert env.step("lookup[population]").observation == "No more results."
    env.step("search[Skerry Point]")  # a hit: the lookup starts over
    assert env.step("lookup[population]").observation == (
        "(Result 1 / 1) It has a population of 4,210."
    )
    assert env.current_page == "Skerry Point"


def test_lookup_without_a_page(env: HotpotQAEnv) -> None:
    result = env.step("lookup[Avon]")
    assert result.observation == "No more results." and result.info.action_valid


def test_think_and_invalid_actions(env: HotpotQAEnv) -> None:
    result = env.step("think[I should search Skerry Point.]")
    assert result.observation == "Nice thought." and result.info.action_valid
    for action, shown in [
        ("  jump ", "jump"),
        ("Search[Skerry Point", "Search[Skerry Point"),
        ("", ""),
        ("search Skerry Point", "search Skerry Point"),
        ("look[x]", "look[x]"),
    ]:
        result = env.step(action)
        assert result.observation == f"Invalid action: {shown}"
        assert not result.info.action_valid and not result.done and result.reward == 0.0


def test_argument_runs_to_the_last_bracket(env: HotpotQAEnv) -> None:
    # wikienv slices between "search[" and the final "]"
    assert env.step("search[Gull Rock]x]").observation.startswith("Could not find Gull Rock]x.")


@pytest.mark.parametrize(
    ("answer", "won"), [("Avon", True), ("the avon!", True), ("Severn", False)]
)
def test_finish_scores_exact_match(env: HotpotQAEnv, answer: str, won: bool) -> None:
    result = env.step(f"Finish[{answer}]")
    assert result.observation == f"Episode finished, reward = {int(won)}"
    assert result.done and result.info.won is won and result.reward == float(won)
    extra = result.info.extra
    assert extra["answer"] == answer and extra["em"] == float(won) and extra["gold"] == "Avon"
    assert extra["forced_finish"] is False
    with pytest.raises(EnvironmentStateError):
        env.step("search[Avon]")


def test_partial_answer_has_f1_but_no_reward(env: HotpotQAEnv) -> None:
    result = env.step("finish[the river Avon]")
    assert result.reward == 0.0 and not result.info.won
    assert result.info.extra["f1"] == pytest.approx(2 / 3)
    assert result.info.extra["react_reward"] == 0


def test_step_cap_forces_an_empty_finish(env: HotpotQAEnv) -> None:
    for _ in range(MAX_STEPS - 1):
        assert not env.step("think[still thinking]").done
    result = env.step("search[Skerry Point]")
    assert result.observation == SKERRY_SUMMARY  # the 7th step's own observation
    assert result.done and not result.info.won and result.reward == 0.0
    assert result.info.extra["forced_finish"] is True and result.info.extra["answer"] == ""
    with pytest.raises(EnvironmentStateError):
        env.step("finish[Avon]")


def test_finish_on_the_last_step_counts(env: HotpotQAEnv) -> None:
    for _ in range(MAX_STEPS - 1):
        env.step("xyzzy")
    result = env.step("Finish[Avon]")
    assert result.info.won and result.info.extra["forced_finish"] is False


def test_step_before_reset_and_foreign_tasks(real_file: Path) -> None:
    env = HotpotQAEnv()
    with pytest.raises(EnvironmentStateError):
        env.step("search[Avon]")
    with pytest.raises(EnvironmentStateError):
        env.reset(_task().model_copy(update={"env": "alfworld"}))


def test_registry_plays_hotpotqa(real_file: Path) -> None:
    from agentdistill.environments.registry import (
        ENGINES,
        RECORDED_ENVS,
        make_env,
        make_suite,
    )

    assert ENGINES["hotpotqa"] == ("native",) and "hotpotqa" not in RECORDED_ENVS
    assert isinstance(make_env("hotpotqa"), HotpotQAEnv)
    assert {t.task_id for t in make_suite("hotpotqa").tasks("test")} == {"a1", "a2", "a3"}


# -- the action parser ----------------------------------------------------------------------
verbs = st.sampled_from(sorted(VERBS)).flatmap(
    lambda verb: st.sampled_from([verb, verb.capitalize(), verb.upper()])
)
arguments = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(verbs, arguments)
def test_parser_reads_every_verb_and_argument(verb: str, argument: str) -> None:
    assert parse_action(f"  {verb}[{argument}] ") == (verb.lower(), argument)


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_parser_is_total_and_consistent(text: str) -> None:
    parsed = parse_action(text)
    if parsed is not None:
        verb, argument = parsed
        stripped = text.strip()
        assert verb in VERBS
        assert stripped.lower().startswith(verb + "[") and stripped.endswith("]")
        assert stripped[len(verb) + 1 : -1] == argument


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=25), min_size=1, max_size=9))
def test_any_text_is_answered_never_raised(small_suite: HotpotQASuite, actions: list[str]) -> None:
    env = HotpotQAEnv()
    env.reset(small_suite.tasks("test")[0])
    for number, action in enumerate(actions, 1):
        result = env.step(action)
        assert result.info.action_valid == (parse_action(action) is not None)
        if result.done:
            assert number == MAX_STEPS or parse_action(action)[0] == "finish"  # type: ignore[index]
            break


@given(verbs, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="[]\n\r")))
def test_react_format_commands_parse(verb: str, argument: str) -> None:
    # what a model policy sends: the react format's normalize_action of `Verb[argument]`
    command = get_format("react").normalize_action(f"{verb}[{argument}]")
    assert parse_action(command) == (verb.lower(), argument.strip())
