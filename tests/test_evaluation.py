import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from agentdistill.evaluation import (
    EnvMetrics,
    Estimate,
    ReportEntry,
    benchmark_metrics,
    bootstrap_ci,
    bootstrap_ratio,
    cot_match_rate,
    read_report,
    write_report,
)
from agentdistill.profile import load_profile
from agentdistill.records import PolicyInfo, Step, Task, Timings, TokenCounts, Trajectory
from agentdistill.rollout import is_invalid_step, summarize

WORDS = ["a", "desk", "find", "go", "mug", "need", "the", "to"]


@pytest.fixture(scope="module")
def tok() -> PreTrainedTokenizerFast:
    # One token per whitespace-separated word: counts below are done by hand.
    vocab = {"[UNK]": 0, **{word: i + 1 for i, word in enumerate(WORDS)}}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")


def step(reasoning: str = "", valid: bool | None = None, grounded: str | None = None) -> Step:
    return Step(
        reasoning=reasoning,
        action="go to desk 1",
        observation="ok",
        action_valid=valid,
        grounded_from=grounded,
    )


def traj(
    task_id: str,
    steps: list[Step],
    success: bool = False,
    *,
    env: str = "alfworld",
    split: str = "valid",
    policy_s: float | None = None,
    generated: int | None = None,
) -> Trajectory:
    return Trajectory(
        task=Task(env=env, task_id=task_id, split=split, goal="put a mug on the desk"),
        initial_observation="You are in a room.",
        steps=steps,
        success=success,
        reward=float(success),
        policy=PolicyInfo(name="test", kind="other"),
        timings=Timings(wall_s=10.0, policy_s=policy_s),
        token_counts=None if generated is None else TokenCounts(prompt=100, generated=generated),
    )


def episodes() -> list[Trajectory]:
    return [
        # 3 steps, reasoning 3 + 0 + 4 tokens, one rejected and one grounded action
        traj(
            "t1",
            [step("find the mug", True), step("", False), step("go to the desk", grounded="gto")],
            True,
            policy_s=2.0,
            generated=10,
        ),
        traj("t2", [step("the mug the mug", True)], False, policy_s=3.0, generated=20),
        # no token counts: left out of tokens/s
        traj("t3", [step("need a mug"), step("go")], True),
        traj("w1", [step("find a desk")], True, env="webshop", split="test"),
    ]


def test_tokenizer_is_one_token_per_word(tok: PreTrainedTokenizerFast) -> None:
    ids = tok("the mug the desk", add_special_tokens=False)["input_ids"]
    assert len(ids) == 4 and 0 not in ids  # no [UNK]: every word is in the vocabulary


def test_benchmark_metrics_hand_computed(tok: PreTrainedTokenizerFast) -> None:
    alf, web = benchmark_metrics(episodes(), tok, n_boot=200)
    assert (alf.env, alf.split, alf.episodes) == ("alfworld", "valid", 3)
    assert (web.env, web.split, web.episodes) == ("webshop", "test", 1)
    assert alf.success_rate.value == pytest.approx(2 / 3)
    assert alf.mean_reward.value == pytest.approx(2 / 3)
    assert alf.mean_steps.value == pytest.approx((3 + 1 + 2) / 3)
    assert alf.reasoning_tokens.value == pytest.approx((7 + 4 + 4) / 3)
    assert alf.invalid_action_rate is not None
    assert alf.invalid_action_rate.value == pytest.approx(2 / 6)  # rejected + grounded
    assert alf.invalid_action_rate.n == 3  # resampled by episode, not by step
    assert alf.tokens_per_s is not None
    assert alf.tokens_per_s.value == pytest.approx(30 / 5)
    assert alf.tokens_per_s.n == 2
    assert alf.cot_match is None  # no teacher given
    assert web.tokens_per_s is None
    assert web.reasoning_tokens.value == 3
    assert web.success_rate == Estimate(value=1.0, low=1.0, high=1.0, n=1)


def test_benchmark_metrics_without_steps(tok: PreTrainedTokenizerFast) -> None:
    (metrics,) = benchmark_metrics([traj("t1", [])], tok, n_boot=50)
    assert metrics.invalid_action_rate is None
    assert metrics.mean_steps.value == 0


def test_benchmark_metrics_rejects_empty(tok: PreTrainedTokenizerFast) -> None:
    with pytest.raises(ValueError, match="no trajectories"):
        benchmark_metrics([], tok)


def cot_pair() -> tuple[list[Trajectory], list[Trajectory]]:
    teacher = [
        traj("t1", [step("the mug the desk")]),  # the x2, mug, desk
        traj("t2", [step("go to"), step(""), step("the desk")]),  # go, to, the, desk
        traj("t3", [step("")]),  # no reasoning: skipped
    ]
    student = [
        traj("t1", [step("the the the mug")]),  # matches the x2 (not 3) + mug: 3 / 4
        traj("t2", [step("desk desk"), step("find")]),  # matches desk once: 1 / 4
        traj("t3", [step("the mug")]),
        traj("t4", [step("the mug")]),  # not in the teacher: skipped
    ]
    return student, teacher


def test_cot_match_hand_computed(tok: PreTrainedTokenizerFast) -> None:
    student, teacher = cot_pair()
    assert cot_match_rate(student, teacher, tok) == pytest.approx([3 / 4, 1 / 4])
    assert cot_match_rate(teacher, teacher, tok) == [1.0, 1.0]


def test_cot_match_matches_env_and_split(tok: PreTrainedTokenizerFast) -> None:
    teacher = [traj("t1", [step("the mug")])]
    other = [traj("t1", [step("the mug")], env="webshop"), traj("t1", [step("the")], split="x")]
    assert cot_match_rate(other, teacher, tok) == []


def test_cot_match_averages_episodes_of_a_task(tok: PreTrainedTokenizerFast) -> None:
    teacher = [traj("t1", [step("the mug")])]
    student = [traj("t1", [step("the mug")]), traj("t1", [step("go")])]
    assert cot_match_rate(student, teacher, tok) == [0.5]
    with pytest.raises(ValueError, match="several trajectories"):
        cot_match_rate(student, student, tok)


def test_cot_match_in_benchmark(tok: PreTrainedTokenizerFast) -> None:
    student, teacher = cot_pair()
    (metrics,) = benchmark_metrics(student, tok, teacher, n_boot=200)
    assert metrics.cot_match is not None
    assert metrics.cot_match.value == pytest.approx(0.5)
    assert metrics.cot_match.n == 2  # resampled over matched tasks
    (self_match,) = benchmark_metrics(teacher, tok, teacher, n_boot=200)
    assert self_match.cot_match == Estimate(value=1.0, low=1.0, high=1.0, n=2)


def test_bootstrap_ci_properties() -> None:
    values = np.random.default_rng(1).random(50)
    est = bootstrap_ci(values, seed=3)
    assert est.n == 50
    assert est.value == pytest.approx(values.mean())
    assert est.low <= est.value <= est.high
    assert est.high - est.low > 0
    assert bootstrap_ci(values, seed=3) == est  # same seed, same interval
    assert bootstrap_ci(values, seed=4) != est
    wide = bootstrap_ci(values, seed=3, confidence=0.99)
    assert wide.low <= est.low and wide.high >= est.high


def test_bootstrap_ci_degenerate_and_median() -> None:
    assert bootstrap_ci([2.5] * 7) == Estimate(value=2.5, low=2.5, high=2.5, n=7)
    median = bootstrap_ci([1.0, 2.0, 3.0, 100.0, 4.0], statistic=np.median, n_boot=300)
    assert median.value == 3.0
    assert 1.0 <= median.low <= median.high <= 100.0


def test_bootstrap_ratio_hand_example() -> None:
    est = bootstrap_ratio([1, 2, 3], [2, 2, 4], n_boot=300)
    assert est.value == pytest.approx(6 / 8)
    assert 0.5 <= est.low <= est.value <= est.high <= 1.0
    # every unit has ratio 1/2, so every resample does too
    assert bootstrap_ratio([1, 2, 3], [2, 4, 6]) == Estimate(value=0.5, low=0.5, high=0.5, n=3)
    # units without a denominator are kept; resamples of only those are dropped
    assert bootstrap_ratio([0, 1], [0, 2]) == Estimate(value=0.5, low=0.5, high=0.5, n=2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_ci([]), "empty"),
        (lambda: bootstrap_ci([1.0, float("nan")]), "non-finite"),
        (lambda: bootstrap_ci([1.0], n_boot=0), "n_boot"),
        (lambda: bootstrap_ci([1.0], confidence=1.0), "confidence"),
        (lambda: bootstrap_ratio([], []), "empty"),
        (lambda: bootstrap_ratio([1.0], [1.0, 2.0]), "numerators"),
        (lambda: bootstrap_ratio([1.0, 2.0], [0.0, 0.0]), "sum to zero"),
    ],
)
def test_bootstrap_errors(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(st.lists(unit, min_size=1, max_size=40), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_ci_within_range_and_contains_mean(values: list[float], seed: int) -> None:
    est = bootstrap_ci(values, n_boot=200, seed=seed)
    eps = 1e-9  # float rounding of means of a permuted sample
    assert min(values) - eps <= est.low <= est.high <= max(values) + eps
    assert est.low - eps <= float(np.mean(values)) <= est.high + eps


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
            st.floats(min_value=0.1, max_value=10.0, allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=60, deadline=None)
def test_ratio_within_unit_ratios(pairs: list[tuple[float, float]]) -> None:
    # A ratio of sums is a weighted mean of unit ratios, so it stays between them.
    num, den = zip(*pairs, strict=True)
    est = bootstrap_ratio(num, den, n_boot=200)
    ratios = [n / d for n, d in pairs]
    eps = 1e-9
    assert min(ratios) - eps <= est.low <= est.value + eps
    assert est.value - eps <= est.high <= max(ratios) + eps


def fixed(success: float, episodes: int = 100) -> EnvMetrics:
    def point(value: float) -> Estimate:
        return Estimate(value=value, low=value * 0.8, high=min(1.0, value * 1.2), n=episodes)

    return EnvMetrics(
        env="alfworld",
        split="valid",
        episodes=episodes,
        success_rate=point(success),
        mean_reward=point(success),
        mean_steps=Estimate(value=12.0, low=11.0, high=13.0, n=episodes),
        reasoning_tokens=Estimate(value=80.0, low=70.0, high=90.0, n=episodes),
    )


def report_entries(tok: PreTrainedTokenizerFast) -> list[ReportEntry]:
    _, teacher = cot_pair()
    return [
        ReportEntry(
            name="teacher",
            method="teacher",
            parameters=7_000_000_000,
            compression=1.0,
            metrics=benchmark_metrics(teacher, tok, teacher, n_boot=100),
        ),
        ReportEntry(
            name="sad-s0",
            method="sad",
            seed=0,
            parameters=660_000_000,
            compression=7e9 / 660e6,
            metrics=[fixed(0.30)],
            wall_s=5400.0,
        ),
        ReportEntry(
            name="sad-s1",
            method="sad",
            seed=1,
            parameters=660_000_000,
            compression=7e9 / 660e6,
            metrics=[fixed(0.40)],
        ),
        ReportEntry(
            name="seqkd-s0",
            method="seqkd",
            seed=0,
            parameters=660_000_000,
            compression=7e9 / 660e6,
            metrics=[fixed(0.2)],
        ),
        ReportEntry(
            name="sad-web",
            method="sad",
            seed=0,
            parameters=660_000_000,
            compression=7e9 / 660e6,
            metrics=benchmark_metrics(episodes()[3:], tok, n_boot=100),
        ),
    ]


def test_write_report(tmp_path: Path, tok: PreTrainedTokenizerFast) -> None:
    entries = report_entries(tok)
    paths = write_report(entries, tmp_path / "out")
    assert set(paths) == {"md", "json", "png"}
    # atomic writes leave no temporary files behind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "report.json",
        "report.md",
        "report.png",
    ]

    md = paths["md"].read_text()
    for entry in entries:
        assert f"| {entry.name} |" in md
    assert "## alfworld / valid" in md and "## webshop / test" in md
    assert "10.6x" in md and "1.0x" in md and "7B" in md and "660M" in md
    assert "30.0 [24.0, 36.0]" in md  # success % with its interval
    assert "1.5 h" in md  # training wall time
    over_seeds = md.split("### Over seeds")[1].split("##")[0]
    # sad over seeds 0 and 1: mean 35.0, worst and best run named by seed
    assert "| sad | 660M | 10.6x | 2 | 0, 1 | 35.0 | 7.1 | 30.0 (seed 0) | 40.0 (seed 1) |" in (
        over_seeds
    )
    assert "| seqkd |" in over_seeds and "| teacher |" in over_seeds

    assert read_report(paths["json"]) == entries
    raw = json.loads(paths["json"].read_text())
    assert [ReportEntry.model_validate(item) for item in raw] == entries

    assert paths["png"].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_write_report_rejects_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no report entries"):
        write_report([], tmp_path)


def test_report_entry_one_metrics_per_env() -> None:
    with pytest.raises(ValueError, match="several metrics"):
        ReportEntry(
            name="x",
            method="sad",
            parameters=10,
            compression=2.0,
            metrics=[fixed(0.1), fixed(0.2)],
        )


def test_one_definition_of_an_invalid_step(tok: PreTrainedTokenizerFast) -> None:
    """Rollout summaries and evaluation reports count invalid steps the same way."""
    cases = {
        (None, None): False,  # validity unknown: not counted
        (True, None): False,
        (False, None): True,  # refused by the environment
        (None, "gto desk"): True,  # grounding replaced the policy's own action
        (True, "gto desk"): True,
        (False, "gto desk"): True,
    }
    for (valid, grounded), invalid in cases.items():
        assert is_invalid_step(step(valid=valid, grounded=grounded)) is invalid
    group = [
        traj(f"t{i}", [step(valid=v, grounded=g) for (v, g) in list(cases)[i:]])
        for i in range(len(cases))
    ]
    steps = [s for t in group for s in t.steps]
    expected = sum(map(is_invalid_step, steps)) / len(steps)
    (metrics,) = benchmark_metrics(group, tok, n_boot=20)
    assert metrics.invalid_action_rate is not None
    assert metrics.invalid_action_rate.value == pytest.approx(expected)
    assert summarize(group)["invalid_action_rate"] == pytest.approx(expected)


# -- paired comparisons (issue 13 groundwork) -------------------------------------------------


def _episode(task_id: str, won: bool) -> Trajectory:
    return Trajectory(
        task=Task(env="alfworld", task_id=task_id, split="valid_unseen", goal="g"),
        initial_observation="o",
        success=won,
        reward=float(won),
        policy=PolicyInfo(name="p", kind="other"),
    )


def test_paired_bootstrap_on_a_hand_made_case() -> None:
    from agentdistill.evaluation import (
        bootstrap_ci,
        comparison_verdict,
        paired_difference,
        success_by_task,
    )

    # 60 tasks: 20 both win, 20 both lose (shared difficulty), 15 only A wins, 5 only B wins
    wins_a = [True] * 20 + [False] * 20 + [True] * 15 + [False] * 5
    wins_b = [True] * 20 + [False] * 20 + [False] * 15 + [True] * 5
    a = success_by_task([[_episode(f"t{i}", w) for i, w in enumerate(wins_a)]])
    b = success_by_task([[_episode(f"t{i}", w) for i, w in enumerate(wins_b)]])
    diff = paired_difference(a, b, seed=1)
    assert diff.value == pytest.approx(10 / 60) and diff.n == 60
    assert 0 < diff.low < diff.value < diff.high
    assert comparison_verdict("sad", "seqkd", diff).startswith("sad > seqkd by +16.7 pts [")
    # the same data unpaired: the separate intervals overlap; pairing tells the methods apart
    sep_a, sep_b = bootstrap_ci(list(a.values()), seed=1), bootstrap_ci(list(b.values()), seed=2)
    assert sep_a.low < sep_b.high
    same = paired_difference(a, a)
    verdict = comparison_verdict("x", "y", same)
    assert verdict == "x vs y: no difference detectable (+0.0 pts [+0.0, +0.0])"
    assert comparison_verdict("seqkd", "sad", paired_difference(b, a)).startswith("seqkd < sad")


def test_paired_comparison_needs_the_same_tasks_and_averages_seeds() -> None:
    from agentdistill.evaluation import paired_difference, success_by_task

    seeds = success_by_task(
        [
            [_episode("t0", True), _episode("t1", False)],
            [_episode("t1", True), _episode("t0", True)],
        ]
    )
    assert seeds == {
        ("alfworld", "valid_unseen", "t0"): 1.0,
        ("alfworld", "valid_unseen", "t1"): 0.5,
    }
    with pytest.raises(ValueError, match="other tasks"):
        success_by_task([[_episode("t0", True)], [_episode("t9", True)]])
    with pytest.raises(ValueError, match="more than once"):
        success_by_task([[_episode("t0", True), _episode("t0", False)]])
    other = success_by_task([[_episode("t0", True), _episode("t2", False)]])
    with pytest.raises(ValueError, match="same tasks"):
        paired_difference(seeds, other)


def test_group_comparisons_retention_and_the_report_section() -> None:
    from agentdistill.evaluation import compare_groups, retention, statistics_markdown

    teacher = [_episode(f"t{i}", True) for i in range(4)]
    runs = {
        "sad": [
            [_episode(f"t{i}", w) for i, w in enumerate([True, True, False, False])],
            [_episode(f"t{i}", w) for i, w in enumerate([True, False, False, False])],
        ],
        "seqkd": [[_episode(f"t{i}", False) for i in range(4)]],
    }
    (comparison,) = compare_groups(runs, [("sad", "seqkd")], n_boot=200)
    # per task, seeds averaged: sad [1, .5, 0, 0], seqkd all 0 -> mean difference 0.375
    assert comparison.difference.value == pytest.approx(0.375)
    assert comparison.verdict.startswith("sad ")
    kept = retention("sad", runs["sad"], teacher, compression=10.4, n_boot=200)
    assert kept.success == pytest.approx(0.375)
    assert kept.retention is not None
    assert kept.retention.value == pytest.approx(0.375) and kept.retention.n == 4
    losing = [_episode(f"t{i}", False) for i in range(4)]
    assert retention("sad", runs["sad"], losing, compression=10.4).retention is None
    with pytest.raises(ValueError, match="teacher's tasks"):
        retention("sad", runs["sad"], teacher[:3], compression=10.4)
    text = statistics_markdown([comparison], [kept])
    assert "## Paired comparisons" in text and "| sad | seqkd | +37.5 [" in text
    assert "| sad | 10.4x | 37.5% | 38% [" in text


def test_the_default_profile_compares_sad_with_each_method_and_on_policy_with_offline() -> None:
    from pathlib import Path

    from agentdistill.experiment import comparison_pairs

    config = load_profile(Path(__file__).parents[1] / "configs/experiment/default.yaml").config(
        "alfworld"
    )
    groups = list(dict.fromkeys(spec.group for spec in config.student_specs()))
    assert groups == ["sad", "seqkd", "token_kd", "sad-30x", "sad-onpolicy", "token_kd-onpolicy"]
    assert comparison_pairs(config, groups) == [
        ("sad", "seqkd"),
        ("sad", "token_kd"),
        ("sad-onpolicy", "token_kd-onpolicy"),
        ("sad-onpolicy", "sad"),
        ("token_kd-onpolicy", "token_kd"),
    ]
    two_sizes = config.model_copy(
        update={"sizes": [config.sizes[0].model_copy(update={"methods": ["sad", "seqkd"]})]}
    )
    groups = list(dict.fromkeys(spec.group for spec in two_sizes.student_specs()))
    assert ("sad-30x", "seqkd-30x") in comparison_pairs(two_sizes, groups)


def scored(task_id: str, em: float, f1: float) -> Trajectory:
    episode = traj(task_id, [step("find the mug")], em == 1.0, env="hotpotqa", split="test")
    return episode.model_copy(update={"scores": {"em": em, "f1": f1}})


def test_episode_scores_are_bootstrap_means(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    hotpot = [scored("h1", 1.0, 1.0), scored("h2", 0.0, 0.5), scored("h3", 0.0, 0.0)]
    unscored = traj("h4", [], env="hotpotqa", split="test")  # e.g. from a file before scores
    alf, hot = benchmark_metrics([*episodes()[:3], *hotpot, unscored], tok, n_boot=200)
    assert alf.scores == {}  # no environment score: nothing reported
    assert list(hot.scores) == ["em", "f1"] and hot.episodes == 4
    em, f1 = hot.scores["em"], hot.scores["f1"]
    assert em.value == pytest.approx(1 / 3) and f1.value == pytest.approx(0.5)
    assert em.n == f1.n == 3  # over the episodes that carry the score
    assert 0.0 <= em.low <= em.value <= em.high <= 1.0 and f1.low < f1.value < f1.high
    # the same bootstrap as success: the same draws give the same interval
    assert f1 == bootstrap_ci([1.0, 0.5, 0.0], n_boot=200)
    # kept by the report; metrics without scores are written as before
    entry = ReportEntry(name="m", method="sad", parameters=1, compression=1.0, metrics=[alf, hot])
    paths = write_report([entry], tmp_path)
    assert read_report(paths["json"]) == [entry]
    assert "scores" not in alf.model_dump_json() and '"f1"' in hot.model_dump_json()
    assert "| F1 % [95% CI] |" in paths["md"].read_text()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12))
def test_a_score_mean_lies_in_its_interval(
    tok: PreTrainedTokenizerFast, values: list[float]
) -> None:
    played = [scored(f"h{i}", float(v == 1.0), v) for i, v in enumerate(values)]
    (hot,) = benchmark_metrics(played, tok, n_boot=100)
    f1 = hot.scores["f1"]
    eps = 1e-9
    assert f1.value == pytest.approx(np.mean(values)) and f1.n == len(values)
    assert min(values) - eps <= f1.low <= f1.value + eps <= f1.high + 2 * eps
    assert f1.high <= max(values) + eps
