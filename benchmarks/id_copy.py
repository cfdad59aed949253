"""Id copying, teacher-forced: can a model write the ids (WebShop's ASINs) that the expert copies
from a page into its thoughts and clicks?

Usage:
    .venv/bin/python benchmarks/id_copy.py --model runs/experiment/webshop/teacher/train/model \
        [--model OTHER ...] [--env webshop] [--split eval] [--episodes 200] [--out r.json]

The expert plays the first `--episodes` goals of the split (seed 0, no exploration noise); each
model reads every episode rendered in its own format (the one its folder records) and predicts
each token of the expert's turns from the gold text before it (teacher forcing, greedy). For
every id the expert wrote (a 10-character ASIN, `B0` + 8 of [A-Z0-9]) the id counts as copied
when every token overlapping it was predicted right. Reported per model: ids copied (of all,
and split by where the id stands: a thought, or a `click[...]`), the accuracy of the tokens
inside ids (progress before whole ids come right; with one token per character, chance is
about 1 in 36 after the shared "B0") and of the other tokens of the expert's turns, and the
mean tokens an id takes. A model that copies ids well
teacher-forced can still fail closed-loop, but one that cannot copy them here cannot shop.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import track
from rich.table import Table

from agentdistill.config import resolve_format
from agentdistill.environments.webshop.catalog import ASIN_PATTERN
from agentdistill.models import load_model
from agentdistill.records import Trajectory
from agentdistill.task_data import load_tasks
from agentdistill.teacher import expert_trajectories
from agentdistill.tokenizer import load_tokenizer


@dataclass
class CopyScore:
    model: str
    ids: int
    ids_copied: float
    thought_ids: int
    thought_ids_copied: float
    click_ids: int
    click_ids_copied: float
    id_token_accuracy: float
    other_token_accuracy: float
    tokens_per_id: float


def score_model(model_dir: Path, episodes: list[Trajectory]) -> CopyScore:
    """Teacher-forced id copying of one model on the expert's episodes."""
    fmt = resolve_format(model_dir, None)
    renderer = fmt.build()
    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir).eval()
    copied = {"thought": [0, 0], "click": [0, 0]}  # [copied, seen]
    other_right = other_seen = id_tokens = id_right = 0
    for episode in track(episodes, description=f"{model_dir}", transient=True):
        rendered = renderer.render_trajectory(episode, fmt.preamble)
        encoded = tokenizer(rendered.text, return_offsets_mapping=True)
        ids = encoded["input_ids"]
        offsets = encoded["offset_mapping"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        predicted = logits.argmax(-1).tolist()
        right = [False] + [predicted[i - 1] == ids[i] for i in range(1, len(ids))]
        in_id = [False] * len(ids)
        for start, end in zip(rendered.turn_starts, rendered.turn_ends, strict=True):
            turn = rendered.text[start:end]
            for match in ASIN_PATTERN.finditer(turn):
                a, b = start + match.start(), start + match.end()
                covering = [i for i, (x, y) in enumerate(offsets) if x < b and y > a and i > 0]
                where = "click" if turn[: match.start()].rstrip().endswith("click[") else "thought"
                copied[where][1] += 1
                copied[where][0] += all(right[i] for i in covering)
                id_tokens += len(covering)
                id_right += sum(right[i] for i in covering)
                for i in covering:
                    in_id[i] = True
            for i, (x, y) in enumerate(offsets):
                if i > 0 and start <= x and y <= end and y > x and not in_id[i]:
                    other_seen += 1
                    other_right += right[i]
    seen = copied["thought"][1] + copied["click"][1]
    return CopyScore(
        model=str(model_dir),
        ids=seen,
        ids_copied=(copied["thought"][0] + copied["click"][0]) / max(seen, 1),
        thought_ids=copied["thought"][1],
        thought_ids_copied=copied["thought"][0] / max(copied["thought"][1], 1),
        click_ids=copied["click"][1],
        click_ids_copied=copied["click"][0] / max(copied["click"][1], 1),
        id_token_accuracy=id_right / max(id_tokens, 1),
        other_token_accuracy=other_right / max(other_seen, 1),
        tokens_per_id=id_tokens / max(seen, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--env", default="webshop")
    parser.add_argument("--split", default="eval")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    tasks = load_tasks(args.env, args.split, args.data_dir, limit=args.episodes).tasks
    episodes = expert_trajectories(tasks, seed=0)
    scores = [score_model(path, episodes) for path in args.model]
    where = f"{len(episodes)} expert episodes, {args.env}/{args.split}"
    table = Table(title=f"id copying, teacher-forced: {where}")
    columns = ("model", "ids copied", "in thoughts", "in clicks", "id tokens", "other tokens")
    for column in (*columns, "tokens/id"):
        table.add_column(column)
    for s in scores:
        table.add_row(
            s.model,
            f"{s.ids_copied:.1%} of {s.ids}",
            f"{s.thought_ids_copied:.1%} of {s.thought_ids}",
            f"{s.click_ids_copied:.1%} of {s.click_ids}",
            f"{s.id_token_accuracy:.1%}",
            f"{s.other_token_accuracy:.1%}",
            f"{s.tokens_per_id:.1f}",
        )
    Console().print(table)
    if args.out:
        args.out.write_text(json.dumps([asdict(s) for s in scores], indent=2) + "\n")


if __name__ == "__main__":
    main()
