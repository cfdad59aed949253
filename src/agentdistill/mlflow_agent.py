"""The champion as an agent: an MLflow pyfunc model that answers with an episode's next turn.

`Tracker.log_training` logs every checkpoint as an `AgentModel`: the Hugging Face folder (with
the `agentdistill_format.json` it was trained with, preamble included) as the artifact
`hf_model`, and this class, which plays the in-process policy `HFPolicy` one turn at a time.
MLflow's own scoring server serves it:

    MLFLOW_TRACKING_URI=sqlite:///mlflow/mlflow.db \\
    mlflow models serve -m models:/agentdistill-alfworld-student@champion \\
        --env-manager local --host 127.0.0.1 --port 5001

    curl -s http://127.0.0.1:5001/invocations -H 'Content-Type: application/json' -d '{
      "inputs": [{"first_observation": "You are in the middle of a room. ... Your task is to: ...",
                  "steps": [{"reasoning": "To solve the task, ...", "action": "go to cabinet 1",
                             "observation": "On the cabinet 1, you see a soapbottle 2."}],
                  "admissible": ["go to cabinet 2", "take soapbottle 2 from cabinet 1", "look"]}],
      "params": {"ground_actions": true}}'
    {"predictions": [{"text": "> take soapbottle 2 from cabinet 1\\n", "reasoning": "",
      "action": "take soapbottle 2 from cabinet 1", "command": "take soapbottle 2 from cabinet 1",
      "parsed": true, "complete": true, "grounded_from": null, "prompt_tokens": 187,
      "generated_tokens": 12}]}

Requests go under MLflow's `inputs` key (the signature comes from the typed `predict`: the
server validates each element as an `AgentRequest`; a bad one is a 400 with the reason).
In Python the same model answers `Tracker().load_model().predict([{"first_observation": ...,
"steps": [...]}], params={...})` with `AgentTurn` objects.

Request (`AgentRequest`, one per element of `inputs`): the episode so far, as the client
keeps it: the task's `first_observation` (what the environment's reset returned) and the
`steps` so far (reasoning, action, observation; send back each turn's `action`, which is the
grounded command when grounding replaced it), optionally the environment's `admissible`
commands; or a ready `prompt` (the format's text up to where the turn starts, preamble
included). The model renders the episode with the format its folder records (`ReactFormat.
prompt`: byte for byte the training text), so a client never needs to know the format.

Answer (`AgentTurn`): the turn's raw `text` as the model wrote it (protocol answers such as
ALFWorld's `OK.` after a thought included) stopped at the format's turn end, the parsed
`reasoning` and `action`, and the `command` the environment should receive (the format's
`normalize_action`, or the closest admissible command). `complete` is false when the turn ran
out of tokens or the model ended its output before the turn end.

Params (per request, defaults from the signature): `max_new_tokens` (the turn's token budget),
`temperature` (0: greedy), `top_p`, `seed`, `ground_actions` (replace an action that is not
among the request's `admissible` commands by the closest one, as `HFPolicy` does).

Runtime: `model_config={"runtime": {"device": "cpu", "dtype": "fp32"}}` (validated by
`RuntimeConfig`; the CPU in fp32 by default) at log time, at load time
(`mlflow.pyfunc.load_model(uri, model_config={"runtime": {...}})`) or at serve time
(`MLFLOW_PYFUNC_INFERENCE_CONFIG='{"runtime": {"device": "cuda", "dtype": "bf16"}}'`).
Devices and precisions are a deployment's choice, not a request's: moving weights per request
would cost more than the turn. The weights go to the device; the inputs follow only as far as
`HFPolicy` places them (its sessions build their tensors on the CPU at the time of writing).

Turns are exactly those of the in-process policy: `predict` calls `HFPolicy.next_turns`, the
rollout engine's session resumed with the episode's history, so a greedy served episode plays
the same actions as `run_rollouts` with `HFPolicy` (tests/test_serving_champion.py checks it
through `mlflow models serve`). Sampled turns are seeded per request (`seed` and the request's
`task_id`), not per episode.

Why a pyfunc and not MLflow's transformers flavor: that flavor wraps a `pipeline`; it can
continue a prompt, and its `llm/v1/completions` task stops at `stop` strings matched as token
ids of the slow tokenizer (ours are fast-only byte-level BPE, and a merged token never
matches). A turn is not a continuation cut at a string: ALFWorld's protocol answers every
`> think:` line with `OK.` in the middle of the turn, the turn ends where the format's
`turn_state` says (an action line), and the answer must be parsed, normalized and grounded
against the admissible commands with the format the model was trained in. The flavor would
also leave the episode's rendering (preamble, few-shot examples, canonical turns) to every
client, and it contacts the Hugging Face Hub for a model card unless kept offline. The pyfunc
carries the format with the weights and runs the project's own turn protocol.

Models logged before this class (`tracking.HFCausalLM`, a plain greedy continuation of
prompts) still load and keep their old behaviour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentdistill.config import ConfigError, FormatConfig, resolve_format
from agentdistill.formats import FormatError
from agentdistill.policies.hf import DecodingConfig, EpisodeContext, HFPolicy
from agentdistill.records import Step
from agentdistill.runtime import RuntimeConfig
from agentdistill.tracking import HF_ARTIFACT, offline_environment

#: The CPU in fp32 unless a deployment says otherwise (`RuntimeConfig`'s own default is auto).
DEFAULT_RUNTIME = {"device": "cpu", "dtype": "fp32"}


class EpisodeStep(BaseModel):
    """One step of the episode so far, as the client recorded it."""

    model_config = ConfigDict(extra="forbid")

    # Optional with a None default: MLflow's schema then marks the field as not required.
    reasoning: str | None = Field(default=None, description="The turn's thought(s); none: ''.")
    action: str = Field(description="The action as the model's answer gave it (`action`).")
    observation: str = Field(description="The environment's answer to the command.")


class AgentRequest(BaseModel):
    """The episode so far (or a ready prompt) whose next turn is asked for."""

    model_config = ConfigDict(extra="forbid")

    first_observation: str | None = Field(
        default=None, description="The task's first observation (what reset returned)."
    )
    steps: list[EpisodeStep] | None = Field(default=None, description="The steps so far.")
    prompt: str | None = Field(
        default=None,
        description="A ready prompt instead of first_observation and steps: the format's text "
        "up to where the turn starts, preamble included.",
    )
    admissible: list[str] | None = Field(
        default=None, description="The environment's admissible commands (for grounding)."
    )
    task_id: str | None = Field(
        default=None, description="Seeds sampling (seed + task id) as a rollout of the task."
    )

    @model_validator(mode="after")
    def _one_context(self) -> AgentRequest:
        if (self.prompt is None) == (self.first_observation is None):
            raise ValueError("give either first_observation (and steps) or prompt")
        if self.prompt is not None and self.steps:
            raise ValueError("steps come with first_observation, not with a ready prompt")
        return self


class AgentTurn(BaseModel):
    """The model's next turn."""

    text: str = Field(description="The turn as written, stopped at the format's turn end.")
    reasoning: str = Field(description="The parsed thought(s), one per line.")
    action: str = Field(description="The parsed (or grounded) action: the next step's action.")
    command: str = Field(description="What the environment should receive.")
    parsed: bool = Field(description="An action could be parsed from the text.")
    complete: bool = Field(description="The text ends at the format's turn end.")
    grounded_from: str | None = Field(
        default=None, description="The model's own action when grounding replaced it."
    )
    prompt_tokens: int = Field(description="Tokens encoded for the turn.")
    generated_tokens: int = Field(description="Tokens the model generated.")


def default_params(decoding: DecodingConfig | None = None) -> dict[str, Any]:
    """The params of a request (and their defaults: the signature's) for a decoding."""
    decoding = decoding or DecodingConfig()
    return {
        "max_new_tokens": decoding.max_turn_tokens,
        "temperature": float(decoding.temperature),
        "top_p": float(decoding.top_p),
        "seed": decoding.seed,
        "ground_actions": decoding.ground_actions,
    }


def _invalid(message: str) -> MlflowException:
    # INVALID_PARAMETER_VALUE: the scoring server answers 400 with the message
    return MlflowException.invalid_parameter_value(message)


class AgentModel(mlflow.pyfunc.PythonModel):
    """Pyfunc model of a ReAct student: the next turn of each requested episode.

    `model_config`: `runtime` (see `RuntimeConfig`; default CPU fp32) and `format` (a
    `FormatConfig` dump for a folder that records none; it must agree with a recorded one).
    """

    def load_context(self, context: Any) -> None:
        from agentdistill.models import load_model
        from agentdistill.tokenizer import load_tokenizer

        offline_environment()
        config = dict(context.model_config or {})
        try:
            runtime = RuntimeConfig(**{**DEFAULT_RUNTIME, **(config.get("runtime") or {})})
            given = config.get("format")
            path = Path(context.artifacts[HF_ARTIFACT])
            fmt = resolve_format(path, FormatConfig.model_validate(given) if given else None)
        except (ValidationError, ConfigError) as exc:
            raise MlflowException(f"agent model config: {exc}") from exc
        model = load_model(path, dtype=runtime.torch_dtype).to(runtime.torch_device)
        self.runtime = runtime
        self.policy = HFPolicy(
            model,
            load_tokenizer(path),
            fmt.build(),
            DecodingConfig(),
            preamble=fmt.preamble,
            name=path.name,
            model_id=str(path),
        )

    def __getstate__(self) -> dict[str, Any]:
        # MLflow runs predict on the input example before pickling the instance: the loaded
        # weights must not travel in python_model.pkl (they are the `hf_model` artifact)
        return {}

    def predict(
        self, context: Any, model_input: list[AgentRequest], params: dict[str, Any] | None = None
    ) -> list[AgentTurn]:
        values = {**default_params(), **(params or {})}
        try:
            decoding = DecodingConfig(
                max_turn_tokens=values["max_new_tokens"],
                temperature=values["temperature"],
                top_p=values["top_p"],
                seed=values["seed"],
                ground_actions=values["ground_actions"],
            )
        except ValidationError as exc:
            raise _invalid(f"invalid params: {exc}") from exc
        base = self.policy
        policy = HFPolicy(
            base.model,
            base.tokenizer,
            base.fmt,
            decoding,
            preamble=base.preamble,
            name=base.name,
            model_id=base.model_id,
        )
        contexts = [_context(request, index) for index, request in enumerate(model_input)]
        try:
            turns = policy.next_turns(contexts)
        except FormatError as exc:  # a step the format cannot render
            message = f"the episode cannot be rendered in format {base.fmt.name!r}: {exc}"
            raise _invalid(message) from exc
        return [
            AgentTurn(
                text=turn.raw,
                reasoning=turn.reasoning,
                action=turn.action,
                command=turn.action if turn.command is None else turn.command,
                parsed=turn.parsed,
                complete=_complete(base, turn.raw),
                grounded_from=turn.grounded_from,
                prompt_tokens=turn.prompt_tokens,
                generated_tokens=turn.generated_tokens,
            )
            for turn in turns
        ]


def _context(request: AgentRequest | dict[str, Any], index: int) -> EpisodeContext:
    """The policy's view of one request (`model_validate` keeps a validated request as is)."""
    try:
        request = AgentRequest.model_validate(request)
        steps = [
            Step(reasoning=s.reasoning or "", action=s.action, observation=s.observation)
            for s in request.steps or []
        ]
    except ValidationError as exc:
        raise _invalid(f"request {index}: {exc}") from exc
    return EpisodeContext(
        first_observation=request.first_observation or "",
        steps=steps,
        admissible=request.admissible,
        prompt=request.prompt,
        task_id=request.task_id or "request",
    )


def _complete(policy: HFPolicy, text: str) -> bool:
    """The text is one whole turn: the format's turn ends exactly at its end."""
    state = policy.fmt.turn_state(text)
    return state.done and state.end == len(text)


#: The first observation of the logged input example, per format (any other: a question).
EXAMPLE_TASKS = {
    "alfworld": "You are in the middle of a room. Looking quickly around you, you see a "
    "cabinet 1, a countertop 1, and a drawer 1.\nYour task is to: put a clean mug in cabinet 1.",
}


def input_example(
    fmt: FormatConfig, decoding: DecodingConfig | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The logged model's input example: the start of an episode in `fmt`, and the params.

    MLflow takes the signature's params (and their defaults) from the example's params.
    """
    first = EXAMPLE_TASKS.get(fmt.name, "Question: Which city is the Eiffel Tower in?")
    return [{"first_observation": first, "steps": []}], default_params(decoding)


__all__ = [
    "HF_ARTIFACT",
    "AgentModel",
    "AgentRequest",
    "AgentTurn",
    "EpisodeStep",
    "default_params",
    "input_example",
]
