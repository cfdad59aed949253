"""The `agentdistill` command line.

Usage:
    agentdistill validate FILE [--skip-invalid]
    agentdistill import FILE ... --from openai-chat|sharegpt|alpaca|react --env ENV --out OUT.jsonl
        [--format react|alfworld|paper] [--split train] [--skip-invalid]   # + OUT.import.json
    agentdistill parse TEXT [--format react]
    agentdistill segment show FILE [--index N] [--tokenizer DIR] [--tokens] [--html OUT]
    agentdistill segment report FILE --out DIR [--config YAML] [--set key=value ...]
    agentdistill tokenizer train FILE ... --out DIR [--vocab-size N]
    agentdistill env play alfworld [--split valid_unseen] [--index 3] [--expert] [--engine native]
    agentdistill env tasks alfworld --split train --out tasks.jsonl [--game-files DIR]
    agentdistill tokenizer build --env alfworld --out DIR [--vocab-size 1024]
    agentdistill teacher train --config configs/teacher/default.yaml --out runs/teacher
    agentdistill rollout --policy expert|MODEL_DIR --env alfworld --split valid_unseen --out F
        [--restart]   # a killed run resumes; --restart discards its partial run
    agentdistill rollout --policy endpoint --base-url http://HOST:8000/v1 --model NAME
        --format alfworld --out F [--api-key-env VAR] [--chat] [--max-concurrency 16]
    agentdistill serve MODEL_DIR [--host 127.0.0.1] [--port 8000] [--model-name NAME]
        [--api-key-env VAR]   # a small OpenAI-compatible server (vLLM's fields)
    agentdistill distill --teacher DIR --trajectories F --out DIR [--config YAML] [--set method=sad]
    agentdistill distill --trajectories F --out DIR --set method=seqkd [--tokenizer DIR]
        # without --teacher: seqkd/seqkd_span from the trajectories alone
    agentdistill benchmark --model DIR --out DIR [--split valid_unseen] [--reference F]
    agentdistill experiment --config configs/experiment/default.yaml --out runs/experiment
        [--stage tasks|teacher|teacher_benchmark|teacher_rollouts|segments|students|
                 benchmarks|report ...] [--no-track]
    agentdistill promote [--floor 0.2] [--profile default]   # MLflow: the `champion` alias

Every command that takes `--config` also takes `--set key.sub=value` overrides. Every command
that reads trajectory files (validate, segment show/report, tokenizer train, distill) takes
`--skip-invalid` and the input limits `--max-line-bytes`, `--max-steps`, `--allow-unknown-env`,
and, where it knows a tokenizer, `--max-tokens` (`agentdistill.inputs.InputLimits`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import track
from rich.table import Table
from transformers.utils import logging as hf_logging

from agentdistill.config import ConfigError, FormatConfig, load_config
from agentdistill.formats import FORMAT_NAMES, FormatError, ReactFormat
from agentdistill.inputs import InputLimits, read_trajectories
from agentdistill.records import ReadReport, RecordFileError, Task, Trajectory
from agentdistill.runtime import RuntimeConfig, is_main_process
from agentdistill.segment_view import (
    SegmentReportConfig,
    html_page,
    legend,
    terminal_text,
    write_segment_report,
)
from agentdistill.segmentation import segment_rendered
from agentdistill.tokenizer import (
    check_isolated_chars,
    load_tokenizer,
    save_tokenizer,
    train_byte_level_bpe,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agentdistill.results import BenchmarkLike

app = typer.Typer(
    help="agentdistill: distil ReAct agents into small students with Structured Agent "
    "Distillation (SAD).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
segment_app = typer.Typer(
    help="Span segmentation: see how a trajectory splits into PROMPT/REASON/ACT/OBS tokens.",
    no_args_is_help=True,
)
tokenizer_app = typer.Typer(help="Build tokenizers offline.", no_args_is_help=True)
env_app = typer.Typer(
    help="Benchmark environments: play them, list and export their tasks.", no_args_is_help=True
)
app.add_typer(segment_app, name="segment")
app.add_typer(tokenizer_app, name="tokenizer")
app.add_typer(env_app, name="env")
teacher_app = typer.Typer(help="Build the teacher (offline bootstrap).", no_args_is_help=True)
app.add_typer(teacher_app, name="teacher")

console = Console()
TERMINAL_OBS = "yellow"
err_console = Console(stderr=True, soft_wrap=True)

FileArg = Annotated[
    Path, typer.Argument(help="Trajectory JSONL file.", exists=True, dir_okay=False)
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="Override a setting: key.sub=value.")
]
FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help=f"Text format: {', '.join(FORMAT_NAMES)}.")
]
ModelFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help=f"Text format ({', '.join(FORMAT_NAMES)}); default: the one the model records "
        "(it was trained with it).",
    ),
]
PreambleOpt = Annotated[
    Path | None,
    typer.Option(help="Text file put before every task (instructions or few-shot examples)."),
]
RestartOpt = Annotated[
    bool,
    typer.Option(
        help="The --out folder holds a run of other settings or data: delete its run files "
        "and start over (without it, such a folder is refused, never silently resumed)."
    ),
]
DataOpt = Annotated[
    Path, typer.Option("--data", help="Folder of the task files (<env>/<split>.jsonl).")
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="Where models run: auto (a GPU when there is one), cpu, cuda, mps; the same as "
        "--set runtime.device=... (default: the config's, else auto).",
    ),
]
DtypeOpt = Annotated[
    str | None,
    typer.Option(
        "--dtype",
        help="Precision of the weights: fp32, bf16, fp16; the same as --set runtime.dtype=... "
        "(default: the config's, else fp32).",
    ),
]


def _runtime_overrides(device: str | None, dtype: str | None) -> list[str]:
    """--device/--dtype as `runtime.*` config overrides (validated with the config)."""
    given = {"device": device, "dtype": dtype}
    return [f"runtime.{key}={value}" for key, value in given.items() if value is not None]


def _runtime(device: str | None, dtype: str | None) -> RuntimeConfig:
    """The runtime setting of a command without a config (rollout, benchmark)."""
    given = {key: value for key, value in {"device": device, "dtype": dtype}.items() if value}
    try:
        return RuntimeConfig.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{err['loc'][0]}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise _fail(problems) from exc


# Reading trajectory files: the same options, with the same help, on every command that reads.
SKIP_HINT = "(use --skip-invalid to skip bad lines and count them)"
SkipInvalidOpt = Annotated[
    bool, typer.Option(help="Skip bad lines (each is printed) and count them.")
]
_LIMITS = InputLimits()


def _limit_help(name: str) -> str:
    return InputLimits.model_fields[name].description or ""


MaxLineBytesOpt = Annotated[
    int, typer.Option("--max-line-bytes", help=_limit_help("max_line_bytes"))
]
MaxStepsOpt = Annotated[int, typer.Option("--max-steps", help=_limit_help("max_steps"))]
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", help=_limit_help("max_tokens"))]
AllowUnknownEnvOpt = Annotated[
    bool, typer.Option("--allow-unknown-env", help=_limit_help("allow_unknown_env"))
]


def _format(name: str | None, preamble: Path | None) -> FormatConfig | None:
    """A format from --format/--preamble (None when neither is given)."""
    if name is None and preamble is None:
        return None
    text = preamble.read_text(encoding="utf-8") if preamble is not None else ""
    return FormatConfig(name=name or "alfworld", preamble=text)  # type: ignore[arg-type]


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs.")] = False,
) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    if not is_main_process():  # in a launched job rank 0 speaks for all: the rest warn only
        level = logging.WARNING
        hf_logging.disable_progress_bar()
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def _summary_table(title: str, rows: dict[str, str]) -> Table:
    """A two-column what/value table printed at the end of a command."""
    table = Table(title=title)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        table.add_row(key, value)
    return table


def _limits(
    max_line_bytes: int,
    max_steps: int,
    allow_unknown_env: bool,
    max_tokens: int = _LIMITS.max_tokens,
) -> InputLimits:
    """The input limits from the command line options (out-of-range values are errors)."""
    try:
        return InputLimits(
            max_line_bytes=max_line_bytes,
            max_steps=max_steps,
            max_tokens=max_tokens,
            allow_unknown_env=allow_unknown_env,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise _fail(problems) from exc


def _read(
    file: Path,
    skip_invalid: bool,
    limits: InputLimits,
    *,
    tokenizer: Any = None,
    fmt: ReactFormat | None = None,
) -> tuple[list[Trajectory], ReadReport]:
    """A trajectory file under `limits`; skipped lines are printed, a bad one is an error.

    Only commands that take `--skip-invalid` read through here (the error suggests it).
    """
    report = ReadReport()
    try:
        trajectories = read_trajectories(
            file, limits, skip_invalid=skip_invalid, report=report, tokenizer=tokenizer, fmt=fmt
        )
    except RecordFileError as exc:
        raise _fail(f"{exc}\n{SKIP_HINT}") from exc
    except OSError as exc:  # a folder, an unreadable file: still no traceback
        raise _fail(f"{file}: {exc.strerror or exc}") from exc
    for error in report.errors:
        err_console.print(f"[yellow]skipped[/] {error}")
    return trajectories, report


@app.command()
def validate(
    file: FileArg,
    skip_invalid: SkipInvalidOpt = False,
    max_line_bytes: MaxLineBytesOpt = _LIMITS.max_line_bytes,
    max_steps: MaxStepsOpt = _LIMITS.max_steps,
    allow_unknown_env: AllowUnknownEnvOpt = _LIMITS.allow_unknown_env,
) -> None:
    """Check that every line of a trajectory file is a valid Trajectory record within limits."""
    limits = _limits(max_line_bytes, max_steps, allow_unknown_env)
    trajectories, report = _read(file, skip_invalid, limits)
    table = Table(title=str(file))
    for column in ("env", "trajectories", "success rate", "mean steps"):
        table.add_column(column, justify="right")
    by_env: dict[str, list[Trajectory]] = {}
    for trajectory in trajectories:
        by_env.setdefault(trajectory.task.env, []).append(trajectory)
    for env, group in sorted(by_env.items()):
        table.add_row(
            env,
            str(len(group)),
            f"{sum(t.success for t in group) / len(group):.1%}",
            f"{sum(len(t.steps) for t in group) / len(group):.1f}",
        )
    console.print(table)
    console.print(f"{report.read} valid, {report.skipped} skipped")


@app.command("import")
def import_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(help="Files to import (one layout).", exists=True, dir_okay=False),
    ],
    source: Annotated[
        str,
        typer.Option("--from", help="Layout: openai-chat, sharegpt, alpaca or react."),
    ],
    env_name: Annotated[str, typer.Option("--env", help="Environment of the tasks.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Trajectory JSONL to write.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="ReAct format the turns are written in.")
    ] = "react",
    numbered: Annotated[bool, typer.Option(help="react: the canonical labels are numbered.")] = (
        True
    ),
    split: Annotated[str, typer.Option("--split", help="Split of the tasks.")] = "train",
    model: Annotated[
        str | None, typer.Option(help="The teacher's name, when the records do not say.")
    ] = None,
    no_action: Annotated[
        str,
        typer.Option(help="A turn without an action: merge (into the next), drop, or error."),
    ] = "merge",
    keep_layout: Annotated[
        bool, typer.Option(help="Keep each turn's own layout (Step.written) where possible.")
    ] = False,
    inline_preamble: Annotated[
        bool,
        typer.Option(help="Put the system prompt in each initial observation, not a file."),
    ] = False,
    assume_success: Annotated[
        bool,
        typer.Option(
            "--assume-success/--assume-failure",
            help="Outcome of episodes that state none (no success/reward, no final reward).",
        ),
    ] = True,
    separator: Annotated[
        str | None,
        typer.Option(help="react: a line holding this separates episodes (default: blank)."),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Skip conversations that cannot be imported (each is listed).")
    ] = False,
    allow_unknown_env: AllowUnknownEnvOpt = _LIMITS.allow_unknown_env,
    max_line_bytes: MaxLineBytesOpt = _LIMITS.max_line_bytes,
) -> None:
    """Convert agent data of another layout into trajectory records, reporting every choice.

    OpenAI chat (fine-tuning files), ShareGPT, alpaca (the output a whole transcript) or plain
    ReAct transcripts. How each layout is read, and the choices made on the way (several
    actions in a turn, an inline action, text after `]`, a turn without an action, empty
    observations, the outcome), are in `agentdistill.importers`; how often each one applied is
    printed and written beside the output (OUT.import.json), with the system prompt as
    OUT.preamble.txt (give it to `distill --preamble`).
    """
    from agentdistill.importers import (
        ImportConfig,
        ImportCounts,
        ImportFileError,
        import_files,
        report_path,
        write_import,
    )

    try:
        cfg = ImportConfig(
            source=source,  # type: ignore[arg-type]
            env=env_name,
            split=split,
            format=format,  # type: ignore[arg-type]
            numbered=numbered,
            no_action=no_action,  # type: ignore[arg-type]
            keep_layout=keep_layout,
            preamble="inline" if inline_preamble else "separate",
            assume_success=assume_success,
            model=model,
            separator=separator,
            allow_unknown_env=allow_unknown_env,
            skip_invalid=skip_invalid,
            max_line_bytes=max_line_bytes,
        )
    except ValidationError as exc:
        problems = "; ".join(
            (f"--{str(err['loc'][0]).replace('_', '-')}: " if err["loc"] else "")
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors(include_url=False)
        )
        raise _fail(problems.replace("--source", "--from")) from exc
    try:
        result = import_files(files, cfg)
    except ImportFileError as exc:
        hint = "" if skip_invalid else "\n(use --skip-invalid to skip it and go on)"
        raise _fail(f"{exc}{hint}") from exc
    except OSError as exc:
        raise _fail(str(exc)) from exc
    if not result.trajectories:
        raise _fail(f"nothing imported from {', '.join(map(str, files))}")
    report = write_import(result, out)
    for file_report in report.files:
        for error in file_report.errors:
            err_console.print(f"[yellow]skipped[/] {error}")
    table = Table(title=f"import ({cfg.source}, {cfg.format} format) -> {out}")
    table.add_column("choice")
    names = [Path(r.file).name for r in report.files]
    for name in names:
        table.add_column(name, justify="right")
    if len(names) > 1:
        table.add_column("total", justify="right")
    columns = [r.counts for r in report.files] + ([report.total] if len(names) > 1 else [])
    for label, value in (
        ("conversations", [r.conversations for r in report.files]),
        ("imported", [r.imported for r in report.files]),
        ("skipped", [r.skipped for r in report.files]),
        ("steps", [r.steps for r in report.files]),
    ):
        table.add_row(label, *map(str, value), *([str(sum(value))] if len(names) > 1 else []))
    table.add_section()
    for name, info in ImportCounts.model_fields.items():
        table.add_row(info.description or name, *(str(getattr(c, name)) for c in columns))
    console.print(table)
    for file_report in report.files:
        if file_report.ignored_fields:
            fields = ", ".join(f"{k} ({v})" for k, v in file_report.ignored_fields.items())
            console.print(f"{file_report.file}: record keys not read: {fields}")
    hint = f" --format {cfg.format}"
    if report.preamble_file:
        hint += f" --preamble {report.preamble_file}"
        if report.other_preamble:
            console.print(
                f"[yellow]episodes with another preamble than the one written: "
                f"{report.other_preamble} ({report.preambles} distinct preambles)[/]"
            )
    console.print(
        f"{report.trajectories} trajectories -> {out}; report: {report_path(out)}\n"
        f"distil without a teacher: agentdistill distill --trajectories {out}{hint} "
        "--out DIR --set method=seqkd"
    )


@app.command()
def parse(
    text: Annotated[str, typer.Argument(help="Raw model output for one turn ('-' reads stdin).")],
    format: FormatOpt = "react",
) -> None:
    """Parse raw model output into (reasoning, action), as the rollout engine does."""
    if text == "-":
        text = typer.get_text_stream("stdin").read()
    try:
        parsed = FormatConfig(name=format).build().parse(text)  # type: ignore[arg-type]
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    console.print({"reasoning": parsed.reasoning, "action": parsed.action, "error": parsed.error})
    if not parsed.ok:
        raise typer.Exit(code=1)


@segment_app.command("show")
def segment_show(
    file: FileArg,
    index: Annotated[int, typer.Option("--index", "-i", help="Which trajectory (0-based).")] = 0,
    format: FormatOpt = "react",
    numbered: Annotated[bool, typer.Option(help="react: numbered labels.")] = True,
    tokenizer: Annotated[
        Path | None,
        typer.Option(help="Tokenizer folder or tokenizer.json; omitted: character spans only."),
    ] = None,
    tokens: Annotated[
        bool, typer.Option(help="Shade token boundaries (needs --tokenizer).")
    ] = True,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML page.")
    ] = None,
    skip_invalid: SkipInvalidOpt = False,
    max_line_bytes: MaxLineBytesOpt = _LIMITS.max_line_bytes,
    max_steps: MaxStepsOpt = _LIMITS.max_steps,
    max_tokens: MaxTokensOpt = _LIMITS.max_tokens,
    allow_unknown_env: AllowUnknownEnvOpt = _LIMITS.allow_unknown_env,
) -> None:
    """Print one trajectory with its spans coloured; optionally write it as an HTML page.

    With --skip-invalid, --index counts the valid trajectories only.
    """
    limits = _limits(max_line_bytes, max_steps, allow_unknown_env, max_tokens)
    if html is not None and tokenizer is None:
        raise _fail("--html needs --tokenizer (the page shows tokens)")
    try:
        fmt = FormatConfig(name=format, numbered=numbered).build()  # type: ignore[arg-type]
        tok = load_tokenizer(tokenizer) if tokenizer is not None else None
    except (ValueError, TypeError, OSError) as exc:
        raise _fail(str(exc)) from exc
    trajectories, _ = _read(
        file, skip_invalid, limits, tokenizer=tok, fmt=fmt if tok is not None else None
    )
    if not 0 <= index < len(trajectories):
        valid = " valid" if skip_invalid else ""
        raise _fail(f"--index {index}: {file} holds {len(trajectories)}{valid} trajectories")
    trajectory = trajectories[index]
    try:
        rendered = fmt.render_trajectory(trajectory)
    except FormatError as exc:
        raise _fail(str(exc)) from exc
    seg = segment_rendered(rendered, tok) if tok is not None else None
    console.print(
        f"[bold]{trajectory.task.env}/{trajectory.task.task_id}[/] ({trajectory.task.split}) "
        f"success={trajectory.success} reward={trajectory.reward:g} steps={len(trajectory.steps)}"
    )
    console.print(legend())
    console.print(terminal_text(rendered, seg if tokens else None))
    if seg is not None:
        console.print(
            ", ".join(f"{k}={v}" for k, v in seg.counts().items()) + f", total={len(seg)}"
        )
    if html is not None and seg is not None:
        from agentdistill.files import write_text_atomic

        write_text_atomic(html, html_page([(trajectory, rendered, seg)], f"{file.name} #{index}"))
        console.print(f"wrote {html}")


@segment_app.command("report")
def segment_report(
    file: FileArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    max_line_bytes: MaxLineBytesOpt = _LIMITS.max_line_bytes,
    max_steps: MaxStepsOpt = _LIMITS.max_steps,
    max_tokens: MaxTokensOpt = _LIMITS.max_tokens,
    allow_unknown_env: AllowUnknownEnvOpt = _LIMITS.allow_unknown_env,
) -> None:
    """Segment a whole file: token statistics, an HTML page and (if needed) a tokenizer.

    --max-tokens applies when the config names a tokenizer (a trained one is not known yet).
    """
    limits = _limits(max_line_bytes, max_steps, allow_unknown_env, max_tokens)
    report = ReadReport()
    try:
        cfg = load_config(SegmentReportConfig, config, set_)
        result = write_segment_report(
            file, out, cfg, skip_invalid=skip_invalid, limits=limits, report=report
        )
    except RecordFileError as exc:
        raise _fail(f"{exc}\n{SKIP_HINT}") from exc
    except (ConfigError, FormatError, ValueError, TypeError, OSError) as exc:
        raise _fail(str(exc)) from exc
    for error in report.errors:
        err_console.print(f"[yellow]skipped[/] {error}")
    table = Table(title=f"segmentation of {file} ({result.format} format)")
    table.add_column("span")
    table.add_column("tokens", justify="right")
    table.add_column("share", justify="right")
    for name, count in result.tokens.items():
        table.add_row(name, str(count), f"{count / max(result.tokens_total, 1):.1%}")
    console.print(table)
    console.print(
        f"{result.trajectories} trajectories, {result.mean_tokens_per_trajectory:.0f} tokens each, "
        f"{result.mean_reason_tokens_per_step:.1f} REASON / {result.mean_act_tokens_per_step:.1f} "
        f"ACT tokens per step\npage: {result.html}\nstats: {out / 'stats.json'}"
    )


IsolateCharsOpt = Annotated[
    str | None,
    typer.Option(
        "--isolate-chars",
        help="Regex of characters kept as single tokens, e.g. '[A-Z0-9]' (WebShop's ASINs).",
    ),
]


@tokenizer_app.command("train")
def tokenizer_train(
    files: Annotated[list[Path], typer.Argument(help="Trajectory JSONL files.", exists=True)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output tokenizer folder.")],
    vocab_size: Annotated[int, typer.Option(help="Vocabulary size.")] = 2048,
    isolate_chars: IsolateCharsOpt = None,
    format: FormatOpt = "react",
    skip_invalid: SkipInvalidOpt = False,
    max_line_bytes: MaxLineBytesOpt = _LIMITS.max_line_bytes,
    max_steps: MaxStepsOpt = _LIMITS.max_steps,
    allow_unknown_env: AllowUnknownEnvOpt = _LIMITS.allow_unknown_env,
) -> None:
    """Train a byte-level BPE tokenizer on rendered trajectories (offline)."""
    limits = _limits(max_line_bytes, max_steps, allow_unknown_env)
    try:
        fmt = FormatConfig(name=format).build()  # type: ignore[arg-type]
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    texts = []
    for file in files:
        trajectories, _ = _read(file, skip_invalid, limits)
        try:
            texts.extend(fmt.render_trajectory(t).text for t in trajectories)
        except FormatError as exc:
            raise _fail(f"{file}: {exc}") from exc
    try:
        tokenizer = train_byte_level_bpe(texts, vocab_size, isolate_chars=isolate_chars)
    except ValueError as exc:
        raise _fail(f"--isolate-chars: {exc}") from exc
    save_tokenizer(tokenizer, out)
    console.print(f"trained on {len(texts)} trajectories: vocab {len(tokenizer)} -> {out}")


EnvArg = Annotated[str, typer.Argument(help="Environment name (alfworld, webshop).")]
SplitOpt = Annotated[str, typer.Option("--split", help="Task split.")]
EngineOpt = Annotated[
    str | None,
    typer.Option("--engine", help="alfworld: native (fast, default) or textworld (the real one)."),
]


def _task(env_name: str, split: str, index: int) -> Task:
    from agentdistill.task_data import load_tasks

    try:
        tasks = load_tasks(env_name, split).tasks
    except (ValueError, FileNotFoundError, RecordFileError) as exc:
        raise _fail(str(exc)) from exc
    if not 0 <= index < len(tasks):
        raise _fail(f"--index {index}: split {split!r} has {len(tasks)} tasks")
    return tasks[index]


@env_app.command("play")
def env_play(
    env_name: EnvArg,
    split: Annotated[
        str | None, typer.Option("--split", help="Task split (default: the evaluation split).")
    ] = None,
    index: Annotated[int, typer.Option("--index", "-i", help="Task index in the split.")] = 0,
    expert: Annotated[bool, typer.Option(help="Watch the expert play instead.")] = False,
    pause: Annotated[bool, typer.Option(help="With --expert: wait for Enter each step.")] = False,
    seed: Annotated[int, typer.Option(help="Expert seed (varies its wording).")] = 0,
    engine: EngineOpt = None,
) -> None:
    """Play a game in the terminal. Type commands; `?` lists admissible ones, `quit` leaves."""
    from agentdistill.environments.names import EVAL_SPLITS
    from agentdistill.environments.registry import make_env

    split = split or EVAL_SPLITS.get(env_name, "test")
    task = _task(env_name, split, index)
    try:
        env = make_env(env_name, engine)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    console.print(
        f"[bold]{env_name} {split} #{index}[/] ({task.task_type}) engine={engine or 'default'}"
    )
    with env:
        if expert:
            from agentdistill.policies.expert import run_expert_episode

            trajectory = run_expert_episode(env, task, seed=seed)
            # pages hold brackets (WebShop's [Buy Now]): printed as text, never as markup
            console.print(trajectory.initial_observation, style=TERMINAL_OBS, markup=False)
            for number, step in enumerate(trajectory.steps, start=1):
                if pause:
                    typer.prompt("", default="", show_default=False, prompt_suffix="")
                if step.reasoning:
                    console.print(f"[bold cyan]> think: {escape(step.reasoning)}[/]")
                console.print(f"[bold green]{number:>2} > {escape(step.action)}[/]")
                console.print(step.observation, style=TERMINAL_OBS, markup=False)
            verdict = "[green]won[/]" if trajectory.success else "[red]not won[/]"
            console.print(f"{verdict} in {len(trajectory.steps)} steps")
            return
        console.print(env.reset(task), style=TERMINAL_OBS, markup=False)
        stdin = typer.get_text_stream("stdin")
        steps = 0
        while True:
            console.print("> ", end="")
            line = stdin.readline()
            if not line or line.strip() in {"quit", "exit"}:
                console.print("bye")
                return
            if line.strip() == "?":
                commands = ", ".join(env.admissible_commands or [])
                console.print(commands, style="grey62", markup=False)
                continue
            result = env.step(line.strip())
            steps += 1
            console.print(result.observation, style=TERMINAL_OBS, markup=False)
            if result.done:
                verdict = "[green]won[/]" if result.info.won else "[red]out of steps[/]"
                console.print(f"{verdict} after {steps} steps")
                return


@env_app.command("tasks")
def env_tasks(
    env_name: EnvArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Task JSONL to write.")],
    split: SplitOpt = "train",
    game_files: Annotated[
        Path | None, typer.Option(help="alfworld: also write each game's real game.tw-pddl here.")
    ] = None,
) -> None:
    """Write a split's tasks as JSONL (and, for alfworld, the real engine's game files)."""
    from agentdistill.environments.registry import make_suite
    from agentdistill.records import write_jsonl

    try:
        tasks = make_suite(env_name).tasks(split)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    write_jsonl(out, tasks)
    if game_files is not None:
        from agentdistill.environments.alfworld.env import task_game

        for task in track(tasks, description="writing game files"):
            task_game(task).write(game_files / split)
    console.print(f"{len(tasks)} {split} tasks -> {out}")


@env_app.command("data")
def env_data(
    env_names: Annotated[
        list[str] | None, typer.Argument(help="Environments (default: every playable one).")
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Folder of the raw inputs.")] = Path("data"),
    force: Annotated[bool, typer.Option(help="Rewrite task files that exist.")] = False,
) -> None:
    """Write the raw inputs under DATA_DIR/<env>/: every split's tasks (the missing ones) and
    what they are drawn from (WebShop's catalog, HotPotQA's wiki); `make data` runs it."""
    from agentdistill.environments.names import ENGINES
    from agentdistill.task_data import write_env_data

    for env in env_names or list(ENGINES):
        try:
            written = write_env_data(env, data_dir, force=force)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        console.print(f"{env}: {len(written)} files written under {data_dir / env}")


@tokenizer_app.command("build")
def tokenizer_build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output tokenizer folder.")],
    env_name: Annotated[str, typer.Option("--env", help="Environment.")] = "alfworld",
    vocab_size: Annotated[int, typer.Option(help="Vocabulary size.")] = 1024,
    tasks: Annotated[int | None, typer.Option(help="Use the first N train tasks.")] = None,
    format: FormatOpt = "alfworld",
    isolate_chars: IsolateCharsOpt = None,
) -> None:
    """Play the expert on the train split and train the offline tokenizer on its text."""
    from agentdistill.task_data import load_tasks
    from agentdistill.teacher import build_tokenizer, expert_trajectories

    try:  # before the expert plays
        check_isolated_chars(isolate_chars)
    except ValueError as exc:
        raise _fail(f"--isolate-chars: {exc}") from exc
    trajectories = expert_trajectories(load_tasks(env_name, "train", limit=tasks).tasks, seed=0)
    fmt = FormatConfig(name=format).build()  # type: ignore[arg-type]
    build_tokenizer(trajectories, fmt, vocab_size, out, isolate_chars=isolate_chars)
    size = len(load_tokenizer(out))
    console.print(f"tokenizer (vocab {size}) from {len(trajectories)} expert episodes -> {out}")


@teacher_app.command("train")
def teacher_train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (resumes if present).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    env_name: Annotated[str, typer.Option("--env", help="Environment.")] = "alfworld",
    format: FormatOpt = "alfworld",
    preamble: PreambleOpt = None,
    data: DataOpt = Path("data"),
    restart: RestartOpt = False,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Bootstrap the teacher: expert data -> tokenizer -> teacher preset trained on it.

    The format (and preamble) is recorded in the model folder: rollouts, distillation and
    benchmarks then prompt the teacher exactly as it was trained. Running it again on the
    same --out resumes the run if its settings and data are the same, and refuses otherwise.
    Launched by `accelerate launch` or `torchrun`, the processes train it data-parallel.
    """
    from agentdistill.task_data import load_tasks
    from agentdistill.teacher import TeacherConfig, bootstrap_teacher

    try:
        overrides = [*(set_ or []), *_runtime_overrides(device, dtype)]
        cfg = load_config(TeacherConfig, config, overrides)
        fmt = _format(format, preamble)
        assert fmt is not None
        tasks = load_tasks(env_name, "train", data, limit=cfg.train_tasks)
        result = bootstrap_teacher(cfg, out, fmt, tasks=tasks.tasks, restart=restart)
    except (ConfigError, ValueError, RecordFileError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    rows = {
        "expert episodes": f"{result.expert_trajectories} ({result.expert_success_rate:.0%} won)",
        "parameters": f"{result.parameters:,}",
        "steps / epochs": f"{result.train.steps} / {result.train.epochs:.2f}",
        "final loss (REASON / ACT)": f"{result.train.final_reason_loss:.3f} / "
        f"{result.train.final_act_loss:.3f}",
        "train tokens/s": f"{result.train.tokens_per_s:,.0f}",
        "train wall time": f"{result.train.wall_s:.0f} s",
    }
    if is_main_process():
        console.print(_summary_table(f"teacher -> {result.model_dir}", rows))


def _endpoint_policy(config: Any, fmt: FormatConfig | None) -> Any:
    """`--policy endpoint`: the endpoint policy, once its URL, model and format are given."""
    from agentdistill.policies.endpoint import EndpointPolicy

    if not config.base_url or not config.model:
        raise ValueError("--policy endpoint needs --base-url URL and --model NAME")
    if fmt is None:
        raise ValueError(
            "--policy endpoint needs --format (and --preamble, if the model was prompted "
            "with one): no model folder records how the served model is prompted"
        )
    return EndpointPolicy(config, fmt.build(), preamble=fmt.preamble)


@app.command()
def rollout(
    out: Annotated[Path, typer.Option("--out", "-o", help="Trajectory JSONL to write.")],
    policy: Annotated[
        str, typer.Option(help="'expert', a model folder, or 'endpoint' (see --base-url).")
    ] = "expert",
    env_name: Annotated[str, typer.Option("--env", help="Environment.")] = "alfworld",
    split: SplitOpt = "valid_unseen",
    limit: Annotated[int | None, typer.Option(help="Only the first N tasks.")] = None,
    batch_size: Annotated[int, typer.Option(help="Episodes at once.")] = 16,
    max_steps: Annotated[
        int | None, typer.Option(help="Step cap of an episode (default: the environment's).")
    ] = None,
    temperature: Annotated[float, typer.Option(help="0 = greedy.")] = 0.0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Sampling / expert seed.")] = 0,
    format: ModelFormatOpt = None,
    preamble: PreambleOpt = None,
    data: DataOpt = Path("data"),
    naive: Annotated[bool, typer.Option(help="Use the naive (no KV cache) engine.")] = False,
    ground: Annotated[
        bool, typer.Option(help="Map inadmissible actions to the closest admissible command.")
    ] = False,
    engine: EngineOpt = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="--policy endpoint: the server's API root, e.g. http://HOST:8000/v1."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="--policy endpoint: the served model's name.")
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="--policy endpoint: environment variable holding the API key.")
    ] = "OPENAI_API_KEY",
    chat: Annotated[
        bool, typer.Option(help="--policy endpoint: use /v1/chat/completions (chat-only servers).")
    ] = False,
    max_concurrency: Annotated[
        int, typer.Option(help="--policy endpoint: requests in flight at once.")
    ] = 16,
    timeout: Annotated[
        float, typer.Option(help="--policy endpoint: seconds before one request times out.")
    ] = 120.0,
    max_retries: Annotated[
        int, typer.Option(help="--policy endpoint: retries of a failed request (backoff).")
    ] = 4,
    restart: Annotated[
        bool,
        typer.Option(
            help="Discard the partial run left beside --out (<out>.partial) and start over; "
            "without it a partial run of the same policy, seed, tasks and step cap is resumed "
            "and one of another is an error."
        ),
    ] = False,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Roll out a policy on a split; write validated trajectories and print a summary.

    Episodes are saved as they finish (<out>.partial): a killed run started again with the
    same arguments plays only the tasks it had not finished. --out is written when every
    task is done, and only one process at a time may write it.

    --policy endpoint plays a model served behind an OpenAI-compatible API (vLLM, SGLang,
    `agentdistill serve`) at --base-url as --model; --format (and --preamble) say how it is
    prompted, since no model folder records it.
    """
    from agentdistill.config import resolve_format
    from agentdistill.environments.registry import episode_cap, make_env
    from agentdistill.policies.endpoint import EndpointConfig
    from agentdistill.policies.expert import ExpertPolicy
    from agentdistill.policies.hf import DecodingConfig
    from agentdistill.rollout import RolloutConfig, RolloutOutputError, run_rollouts, summarize
    from agentdistill.task_data import load_tasks
    from agentdistill.teacher import load_policy

    try:
        tasks = load_tasks(env_name, split, data, limit=limit).tasks
        decoding = DecodingConfig(
            temperature=temperature, top_p=top_p, seed=seed, ground_actions=ground
        )
        if policy == "expert":
            # an expert that hurries for the cap (WebShop's) must know a shorter --max-steps
            cap = episode_cap(env_name, max_steps, engine)
            chosen = ExpertPolicy(env_name, seed, max_steps=cap)
        elif policy == "endpoint":
            chosen = _endpoint_policy(
                EndpointConfig(
                    base_url=base_url or "",
                    model=model or "",
                    api_key_env=api_key_env,
                    max_concurrency=max_concurrency,
                    timeout_s=timeout,
                    max_retries=max_retries,
                    chat=chat,
                    decoding=decoding,
                ),
                _format(format, preamble),
            )
        else:
            fmt = resolve_format(policy, _format(format, preamble))
            chosen = load_policy(
                policy,
                fmt.build(),
                decoding,
                preamble=fmt.preamble,
                cached=not naive,
                runtime=_runtime(device, dtype),
            )
    except (ValueError, FileNotFoundError, RecordFileError) as exc:
        raise _fail(str(exc)) from exc
    from agentdistill.policies.endpoint import EndpointError

    try:
        trajectories = run_rollouts(
            chosen,
            lambda: make_env(env_name, engine),
            tasks,
            RolloutConfig(batch_size=batch_size, max_steps=max_steps),
            seed=seed,
            out=out,
            restart=restart,
        )
    except (RolloutOutputError, RecordFileError, EndpointError) as exc:
        raise _fail(str(exc)) from exc
    table = Table(title=f"{chosen.info.name} on {env_name}/{split} -> {out}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summarize(trajectories).items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)


@app.command("serve")
def serve_cmd(
    model_dir: Annotated[
        Path, typer.Argument(help="HF causal LM folder (weights and tokenizer).", exists=True)
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    model_name: Annotated[
        str | None, typer.Option("--model-name", help="Served name (default: the folder's).")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Require the API key held by this environment variable."),
    ] = None,
    max_logprobs: Annotated[
        int, typer.Option(help="Most top log-probabilities per position a request may ask.")
    ] = 20,
    prefix_cache: Annotated[
        int, typer.Option(help="Sequences whose KV cache is kept for the next request (0: off).")
    ] = 16,
    device: Annotated[str, typer.Option(help="cpu, cuda, mps or auto.")] = "cpu",
    dtype: Annotated[str, typer.Option(help="fp32, bf16 or fp16.")] = "fp32",
    fail_first: Annotated[
        int, typer.Option(hidden=True, help="Answer the first N requests 503 (tests).")
    ] = 0,
) -> None:
    """Serve a local model behind an OpenAI-compatible API (/v1/models, /v1/completions with
    logprobs, echo and vLLM's prompt_logprobs, /v1/chat/completions): for local tests of
    the endpoint teacher; real teachers are served by vLLM or SGLang."""
    from agentdistill.runtime import RuntimeConfig
    from agentdistill.serving import ServeConfig, serve

    try:
        config = ServeConfig(
            model_dir=str(model_dir),
            model_name=model_name,
            host=host,
            port=port,
            max_logprobs=max_logprobs,
            api_key_env=api_key_env,
            fail_first=fail_first,
            prefix_cache=prefix_cache,
            runtime=RuntimeConfig.model_validate({"device": device, "dtype": dtype}),
        )
        serve(config)
    except (ValidationError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc


@app.command("distill")
def distill_cmd(
    trajectories: Annotated[
        Path, typer.Option(help="Teacher trajectory JSONL.", exists=True, dir_okay=False)
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (resumes if present).")],
    teacher: Annotated[
        Path | None,
        typer.Option(
            help="Teacher model folder (with its tokenizer); omitted: seqkd or seqkd_span from "
            "the trajectories alone."
        ),
    ] = None,
    tokenizer_dir: Annotated[
        Path | None,
        typer.Option(
            "--tokenizer",
            help="Without --teacher: the student's tokenizer (folder or tokenizer.json); "
            "default: the student folder's own, or one trained on the trajectories.",
        ),
    ] = None,
    vocab_size: Annotated[
        int,
        typer.Option(help="Vocabulary of a tokenizer trained on the trajectories (no teacher)."),
    ] = 1024,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    format: ModelFormatOpt = None,
    preamble: PreambleOpt = None,
    restart: RestartOpt = False,
    skip_invalid: SkipInvalidOpt = False,
    max_line_bytes: MaxLineBytesOpt = _LIMITS.max_line_bytes,
    max_steps: MaxStepsOpt = _LIMITS.max_steps,
    max_tokens: MaxTokensOpt = _LIMITS.max_tokens,
    allow_unknown_env: AllowUnknownEnvOpt = _LIMITS.allow_unknown_env,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Distil a student from teacher trajectories (method and losses from the config).

    The trajectories are rendered in the format the teacher was trained with (recorded in
    its folder; --format/--preamble for a teacher that records none); --max-tokens counts
    them with the teacher's tokenizer in that format. Running it again on the same --out
    resumes the run if method, settings, teacher and data are the same, and refuses otherwise.

    Without --teacher (e.g. trajectories of an API model, see `agentdistill import`), seqkd
    and seqkd_span run on the trajectories alone: the format is --format (default react)
    with --preamble, the student's tokenizer --tokenizer, the student folder's own, or one
    trained on the trajectories (--vocab-size); --max-tokens applies when it is given.

    Launched by `accelerate launch` or `torchrun`, the processes train it data-parallel.
    """
    from agentdistill.config import resolve_format
    from agentdistill.distillation.trainer import DistillConfig, check_teacher_free, distill
    from agentdistill.models import PRESETS

    limits = _limits(max_line_bytes, max_steps, allow_unknown_env, max_tokens)
    tokenizer: Any = None
    try:
        overrides = [*(set_ or []), *_runtime_overrides(device, dtype)]
        cfg = load_config(DistillConfig, config, overrides)
        if teacher is None:
            check_teacher_free(cfg)
            text = preamble.read_text(encoding="utf-8") if preamble is not None else ""
            fmt = FormatConfig(name=format or "react", preamble=text)  # type: ignore[arg-type]
            known = tokenizer_dir or (None if cfg.student in PRESETS else Path(cfg.student))
            tokenizer = load_tokenizer(known) if known is not None else None
        else:
            if tokenizer_dir is not None:
                raise ValueError("--tokenizer: with --teacher, the student takes its tokenizer")
            fmt = resolve_format(teacher, _format(format, preamble))
            tokenizer = load_tokenizer(teacher)
    except (ConfigError, ValueError, TypeError, OSError) as exc:
        raise _fail(str(exc)) from exc
    data, _ = _read(
        trajectories,
        skip_invalid,
        limits,
        tokenizer=tokenizer,
        fmt=fmt.build() if tokenizer is not None else None,
    )
    try:
        result = distill(
            cfg,
            teacher,
            data,
            out,
            fmt=fmt,
            restart=restart,
            tokenizer=tokenizer_dir,
            vocab_size=vocab_size,
        )
    except (ConfigError, RecordFileError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    teacher_size = f"{result.teacher_parameters:,}" if result.teacher_parameters else "none"
    rows = {
        "trajectories": str(result.trajectories),
        "parameters (teacher)": f"{result.student_parameters:,} ({teacher_size})",
        "compression": f"{result.compression:.1f}x" if result.compression else "-",
        "steps / epochs": f"{result.train.steps} / {result.train.epochs:.2f}",
        "final loss (REASON / ACT)": f"{result.train.final_reason_loss:.3f} / "
        f"{result.train.final_act_loss:.3f}",
        "train tokens/s": f"{result.train.tokens_per_s:,.0f}",
        "wall time (cache + train)": f"{result.cache_s:.0f} s + {result.train.wall_s:.0f} s",
    }
    if is_main_process():
        console.print(_summary_table(f"{cfg.method} student -> {result.model_dir}", rows))


def _metrics_table(title: str, results: Sequence[BenchmarkLike]) -> Table:
    """Benchmark results (name, parameters, metrics) as the results table, rendered by rich."""
    # Imported here: pandas (under `results`) loads only for commands that show results.
    from agentdistill.results import benchmark_frame, rich_table

    return rich_table(benchmark_frame(results), title)


@app.command("benchmark")
def benchmark_cmd(
    model: Annotated[Path, typer.Option(help="Model folder (with its tokenizer).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for episodes + metrics.json.")],
    env_name: Annotated[str, typer.Option("--env", help="Environment.")] = "alfworld",
    reference: Annotated[
        Path | None, typer.Option(help="The teacher's episodes on the same split (CoT match).")
    ] = None,
    name: Annotated[str, typer.Option(help="Name in reports.")] = "model",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    format: ModelFormatOpt = None,
    preamble: PreambleOpt = None,
    data: DataOpt = Path("data"),
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """Benchmark a model: success, steps, reasoning length, CoT match, invalid actions (CIs).

    The model is prompted in the format it records (it was trained with it), preamble
    included; the tasks come from the data folder.
    """
    from agentdistill.config import resolve_format
    from agentdistill.experiment import BenchmarkConfig, benchmark_model
    from agentdistill.rollout import RolloutOutputError
    from agentdistill.task_data import load_tasks
    from agentdistill.teacher import load_policy

    try:
        cfg = load_config(BenchmarkConfig, config, set_)
        fmt = resolve_format(model, _format(format, preamble))
        policy = load_policy(
            model,
            fmt.build(),
            cfg.decoding,
            preamble=fmt.preamble,
            name=name,
            runtime=_runtime(device, dtype),
        )
        tasks = load_tasks(env_name, cfg.split, data, limit=cfg.limit)
        ref = read_trajectories(reference) if reference is not None else None
        result = benchmark_model(policy, tasks, out, cfg, env=env_name, reference=ref)
    except (ConfigError, ValueError, FileNotFoundError, RecordFileError, RolloutOutputError) as exc:
        raise _fail(str(exc)) from exc
    console.print(_metrics_table(f"benchmark -> {out}", [result]))


@app.command("experiment")
def experiment_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Artifact root of the experiment.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    stage: Annotated[
        list[str] | None, typer.Option(help="Run only these stages (default: all, in order).")
    ] = None,
    env_names: Annotated[
        list[str] | None,
        typer.Option("--env", help="Run only these environments of the profile (default: all)."),
    ] = None,
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="Log runs to MLflow (the profile's store).")
    ] = True,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
) -> None:
    """The whole experiment, for each environment of the profile in turn (under OUT/<env>/):
    tasks, teacher, teacher benchmark (floor), rollouts, segments, students, benchmarks,
    report; every stage logs its MLflow runs (idempotently)."""
    from agentdistill.experiment import STAGES, run_experiment
    from agentdistill.profile import env_root, load_profile

    overrides = [
        *(set_ or []),
        *([] if track else ["tracking.enabled=false"]),
        *_runtime_overrides(device, dtype),
    ]
    try:
        profile = load_profile(config, overrides)
        envs = profile.select(env_names)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    for env in envs:
        try:
            paths = run_experiment(profile.config(env), env_root(out, env), stage or STAGES)
        except (ConfigError, ValueError, FileNotFoundError, RecordFileError, RuntimeError) as exc:
            raise _fail(f"{env}: {exc}") from exc
        report = paths.report / "report.md"
        if not is_main_process():
            continue
        if report.exists() and (not stage or "report" in stage):
            typer.echo(report.read_text())  # plain: markdown tables must not be re-wrapped
        console.print(f"{env}: artifacts under {paths.root}")


@app.command("timings")
def timings_cmd(
    env_root: Annotated[
        Path, typer.Argument(help="An environment's run folder, e.g. runs/experiment/alfworld.")
    ],
) -> None:
    """Stage times of a run as a markdown table (from its timings.jsonl)."""
    from agentdistill.experiment import stage_time_table

    try:
        table = stage_time_table(env_root)
    except (FileNotFoundError, ValueError) as error:
        err_console.print(f"error: {error}")
        raise typer.Exit(code=2) from None
    print(table)


@app.command("promote")
def promote_cmd(
    floor: Annotated[
        float, typer.Option(help="A candidate's success CI lower bound must reach this.")
    ] = 0.0,
    env_name: Annotated[str, typer.Option("--env", help="Environment of the students.")] = (
        "alfworld"
    ),
    profile: Annotated[
        str | None, typer.Option(help="Only versions of this profile compete (tag profile).")
    ] = None,
    alias: Annotated[str, typer.Option(help="Registry alias to set.")] = "champion",
    model_name: Annotated[
        str | None,
        typer.Option("--model-name", help="Registered model (default: agentdistill-ENV-student)."),
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow URI (default: the local store under mlflow/).")
    ] = None,
) -> None:
    """Point an MLflow alias at the best registered student (rule: see tracking)."""
    from agentdistill.tracking import Tracker, TrackingConfig, offline_environment

    offline_environment()
    settings = TrackingConfig(tracking_uri=tracking_uri, success_floor=floor, champion_alias=alias)
    if model_name:
        settings = settings.model_copy(update={"registered_model": model_name})
    tracker = Tracker(settings, env=env_name)
    version, reason = tracker.promote_champion(profile=profile)
    console.print(reason)
    if version is None:
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
