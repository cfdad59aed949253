"""Show a segmentation to a person: coloured terminal text, or a self-contained HTML page."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field
from rich.progress import track
from rich.text import Text

from agentdistill.config import Config, FormatConfig
from agentdistill.files import write_text_atomic
from agentdistill.formats import RenderedTrajectory, SpanLabel
from agentdistill.inputs import InputLimits, read_trajectories
from agentdistill.records import ReadReport, Trajectory
from agentdistill.segmentation import Segmentation, segment_rendered
from agentdistill.tokenizer import load_tokenizer, save_tokenizer, train_byte_level_bpe

log = logging.getLogger(__name__)

TERMINAL_STYLES = {
    SpanLabel.PROMPT: "grey62",
    SpanLabel.REASON: "bold cyan",
    SpanLabel.ACT: "bold green",
    SpanLabel.OBS: "yellow",
}
# Alternating backgrounds make token boundaries visible.
TOKEN_BACKGROUNDS = ("on grey11", "on grey23")
HTML_COLOURS = {
    SpanLabel.PROMPT: "#8a8f98",
    SpanLabel.REASON: "#1f77b4",
    SpanLabel.ACT: "#2ca02c",
    SpanLabel.OBS: "#b8860b",
}


def legend() -> Text:
    text = Text("spans: ")
    for label, style in TERMINAL_STYLES.items():
        text.append(f"[{label.name}]", style=style)
        text.append(" ")
    return text


def terminal_text(rendered: RenderedTrajectory, segmentation: Segmentation | None = None) -> Text:
    """Rich text of the rendered trajectory coloured by span.

    Without a segmentation the colours are the character spans; with one they are the token
    labels (after the boundary rule) and token boundaries alternate background.
    """
    text = Text()
    if segmentation is None:
        for seg in rendered.segments:
            text.append(rendered.text[seg.start : seg.end], style=TERMINAL_STYLES[seg.label])
        return text
    cursor = 0
    for index, (start, end) in enumerate(segmentation.offsets.tolist()):
        if start > cursor:  # characters no token covers (trimmed whitespace)
            text.append(rendered.text[cursor:start])
        if end > start and start >= cursor:
            label = SpanLabel(int(segmentation.labels[index]))
            style = f"{TERMINAL_STYLES[label]} {TOKEN_BACKGROUNDS[index % 2]}"
            text.append(rendered.text[start:end], style=style)
            cursor = end
    text.append(rendered.text[cursor:])
    return text


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
pre { font-family: ui-monospace, Menlo, monospace; white-space: pre-wrap; line-height: 1.5;
      background: #fafafa; border: 1px solid #ddd; padding: 1rem; border-radius: 6px; }
.tok { border-radius: 2px; }
.tok:nth-child(odd) { background: rgba(0,0,0,0.045); }
.PROMPT { color: %(PROMPT)s; } .REASON { color: %(REASON)s; font-weight: 600; }
.ACT { color: %(ACT)s; font-weight: 700; } .OBS { color: %(OBS)s; }
.legend span { margin-right: 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { border: 1px solid #ddd; padding: .2rem .6rem; text-align: right; }
h2 { margin-top: 2.5rem; font-size: 1.1rem; }
"""


def _trajectory_section(
    number: int, trajectory: Trajectory, rendered: RenderedTrajectory, segmentation: Segmentation
) -> str:
    counts = segmentation.counts()
    head = (
        f"<h2>#{number} {html.escape(trajectory.task.env)} / {html.escape(trajectory.task.task_id)}"
        f" ({html.escape(trajectory.task.split)}): "
        f"{'success' if trajectory.success else 'failure'}, reward {trajectory.reward:g}, "
        f"{len(trajectory.steps)} steps, policy {html.escape(trajectory.policy.name)}</h2>"
    )
    table = "<table><tr>" + "".join(f"<th>{k}</th>" for k in counts) + "<th>total</th></tr><tr>"
    table += "".join(f"<td>{v}</td>" for v in counts.values()) + f"<td>{len(segmentation)}</td>"
    table += "</tr></table>"
    pieces, cursor = [], 0
    for index, (start, end) in enumerate(segmentation.offsets.tolist()):
        if start > cursor:
            pieces.append(html.escape(rendered.text[cursor:start]))
        if end > start and start >= cursor:
            label = SpanLabel(int(segmentation.labels[index])).name
            token_id = int(segmentation.input_ids[index])
            step = int(segmentation.steps[index])
            pieces.append(
                f'<span class="tok {label}" title="token {index} id {token_id} {label} '
                f'step {step}">{html.escape(rendered.text[start:end])}</span>'
            )
            cursor = end
    pieces.append(html.escape(rendered.text[cursor:]))
    return head + table + "<pre>" + "".join(pieces) + "</pre>"


def html_page(
    items: Sequence[tuple[Trajectory, RenderedTrajectory, Segmentation]], title: str
) -> str:
    """A self-contained HTML page (inline CSS, no scripts, nothing fetched)."""
    css = _CSS % {label.name: colour for label, colour in HTML_COLOURS.items()}
    legend_html = "".join(
        f'<span class="{label.name}">[{label.name}]</span>' for label in SpanLabel
    )
    body = "".join(_trajectory_section(number, *item) for number, item in enumerate(items))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{css}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='legend'>{legend_html} "
        "Hover a token for its id, label and step; shading alternates per token.</p>"
        f"{body}</body></html>"
    )


class SegmentReportConfig(Config):
    """Settings of `agentdistill segment report`."""

    format: FormatConfig = Field(default_factory=FormatConfig, description="Text format.")
    tokenizer: str | None = Field(
        default=None,
        description="Tokenizer folder or tokenizer.json; None trains a byte-level BPE "
        "on the input.",
    )
    vocab_size: int = Field(default=1024, ge=300, description="Vocabulary of a trained tokenizer.")
    add_special_tokens: bool = Field(default=False, description="Let the tokenizer add BOS/EOS.")
    max_html_trajectories: int = Field(default=50, ge=1, description="Trajectories in the page.")


class SegmentReport(BaseModel):
    """Summary of a segmentation run (written as `stats.json`)."""

    trajectories: int
    skipped_lines: int
    tokens: dict[str, int]
    tokens_total: int
    mean_tokens_per_trajectory: float
    mean_reason_tokens_per_step: float
    mean_act_tokens_per_step: float
    success_rate: float
    tokenizer: str
    format: str
    html: str


def write_segment_report(
    source: Path,
    out_dir: Path,
    config: SegmentReportConfig,
    skip_invalid: bool = False,
    limits: InputLimits | None = None,
    report: ReadReport | None = None,
) -> SegmentReport:
    """Segment every trajectory of `source`; write tokenizer, stats.json and index.html.

    `source` is read under `limits` (tokens counted when `config.tokenizer` names one);
    `report` receives the lines skipped with `skip_invalid`.
    """
    report = report if report is not None else ReadReport()
    fmt = config.format.build()
    # A given tokenizer is loaded first, so the token limit applies while reading.
    tokenizer = load_tokenizer(config.tokenizer) if config.tokenizer is not None else None
    trajectories = read_trajectories(
        source,
        limits,
        skip_invalid=skip_invalid,
        report=report,
        tokenizer=tokenizer,
        fmt=fmt if tokenizer is not None else None,
    )
    if not trajectories:
        raise ValueError(f"{source}: no trajectories to segment")
    rendered = [fmt.render_trajectory(t, config.format.preamble) for t in trajectories]
    if tokenizer is None:
        log.info(
            "training a byte-level BPE (vocab %d) on %d texts", config.vocab_size, len(rendered)
        )
        tokenizer = train_byte_level_bpe((r.text for r in rendered), vocab_size=config.vocab_size)
        tokenizer_path = save_tokenizer(tokenizer, out_dir / "tokenizer")
    else:
        tokenizer_path = Path(str(config.tokenizer))
    totals = dict.fromkeys((label.name for label in SpanLabel), 0)
    items = []
    n_steps = 0
    for trajectory, text in track(
        list(zip(trajectories, rendered, strict=True)), description="segmenting", transient=True
    ):
        seg = segment_rendered(text, tokenizer, config.add_special_tokens)
        for name, count in seg.counts().items():
            totals[name] += count
        n_steps += len(trajectory.steps)
        if len(items) < config.max_html_trajectories:
            items.append((trajectory, text, seg))
    total = sum(totals.values())
    html_path = write_text_atomic(
        out_dir / "index.html", html_page(items, f"Segmentation of {source.name}")
    )
    result = SegmentReport(
        trajectories=len(trajectories),
        skipped_lines=report.skipped,
        tokens=totals,
        tokens_total=total,
        mean_tokens_per_trajectory=total / len(trajectories),
        mean_reason_tokens_per_step=totals["REASON"] / max(n_steps, 1),
        mean_act_tokens_per_step=totals["ACT"] / max(n_steps, 1),
        success_rate=sum(t.success for t in trajectories) / len(trajectories),
        tokenizer=str(tokenizer_path),
        format=fmt.name,
        html=str(html_path),
    )
    write_text_atomic(out_dir / "stats.json", result.model_dump_json(indent=2))
    return result
