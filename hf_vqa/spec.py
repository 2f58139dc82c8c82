"""The two seed pipelines described as data: one typed spec that the library and the CLI both read.

No `datasets` import here, so the CLI can list pipelines, filters and defaults before anything
heavy loads. `pipeline.run_pipeline` turns a spec into `ds.map` steps; the CLI and the card take
their defaults from the same spec (never a copy).

Example:
    >>> spec = PIPELINES["context-vqa"]
    >>> spec.refine, spec.refined
    ('refine_wiki_qa', 'context_vqa')
    >>> spec.instructions(system_prompt="", prompt=None)[0]  # '' means "send no system prompt"
    ''
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hf_vqa.errors import ConfigError
from hf_vqa.prompts import CONTEXT_VQA_PROMPT, CONTEXT_VQA_SYSTEM_PROMPT, IMAGE_VQA_PROMPT
from hf_vqa.quality.pairs import PAIR_FILTERS
from hf_vqa.quality.row_checks import ROW_CHECKS

if TYPE_CHECKING:
    from hf_vqa.config import VLM

__all__ = ["FILTER_NAMES", "PIPELINES", "PipelineSpec", "get_spec"]

_QAS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
        "required": ["question", "answer"],
        "additionalProperties": False,
    },
}


def _json_format(name: str, properties: dict) -> dict:
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


@dataclass(frozen=True)
class PipelineSpec:
    """One pipeline: generate with `prompt`/`system_prompt`, then refine with the step named `refine`.

    `refined` is the refiner's output column; `description` is the card's one-line account.
    `json_format` is the `response_format` sent with `--json-mode` and `--structured`.
    """

    name: str
    refine: str
    refined: str
    prompt: str
    system_prompt: str | None
    description: str
    json_format: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    filters: tuple[str, ...] = ("parsed", *PAIR_FILTERS)  # the `--filter` names that apply to it

    def instructions(
        self, system_prompt: str | None, prompt: str | None, language: str = "en"
    ) -> tuple[str | None, str]:
        """The system prompt and instruction actually sent, from what the user gave.

        `language` picks the prompts written for that language (`hf_vqa.languages`) as the defaults.

        `system_prompt=None` means "the pipeline's default"; `""` means "no system prompt" (it is
        kept, and the request builder leaves an empty system prompt out). An empty or missing
        `prompt` means the pipeline's default instruction.
        """
        default_system, default_prompt = self.system_prompt, self.prompt
        if language != "en":
            from hf_vqa.languages import prompts_for

            written = prompts_for(language)
            default_prompt = written.image if self.refine == "refine_qa_pairs" else written.context
            default_system = written.system if self.system_prompt else None
        return (default_system if system_prompt is None else system_prompt), (prompt or default_prompt)

    def vlm_for(self, vlm: VLM) -> VLM:
        """`vlm` with this pipeline's JSON schema as `response_format` when it asks for `structured` replies
        and has none of its own (otherwise `vlm` itself).

        Example:
            >>> from hf_vqa.config import VLM
            >>> PIPELINES["image-vqa"].vlm_for(VLM(structured=True)).response_format["type"]
            'json_schema'
        """
        if not vlm.structured or vlm.response_format is not None:
            return vlm
        return dataclasses.replace(vlm, response_format=self.json_format)


PIPELINES: dict[str, PipelineSpec] = {
    spec.name: spec
    for spec in (
        PipelineSpec(
            name="image-vqa",
            refine="refine_qa_pairs",
            refined="qas",
            prompt=IMAGE_VQA_PROMPT,
            system_prompt=None,
            description="the image(s) and an instruction go to the VLM; the reply is parsed into `qas` "
            "(question-answer pairs).",
            json_format=_json_format("image_vqa", {"qas": _QAS}),
        ),
        PipelineSpec(
            name="context-vqa",
            refine="refine_wiki_qa",
            refined="context_vqa",
            prompt=CONTEXT_VQA_PROMPT,
            system_prompt=CONTEXT_VQA_SYSTEM_PROMPT,  # DataFlow-MM's api_pipelines/image_contextvqa.py
            description="the VLM writes a Wikipedia-style article about the image, then question-answer "
            "pairs answered from it; parsed into `context_vqa: {context, qas}` with per-row checks.",
            json_format=_json_format("context_vqa", {"context": {"type": "string"}, "qas": _QAS}),
            filters=(
                "parsed",
                "grounded",
                "no-duplicate",
                "no-leak",
                *PAIR_FILTERS,
            ),  # the checks need an article
        ),
    )
}

# `--filter` names: "parsed" (the refiner read the reply), one per row check (see checks.ROW_CHECKS), and
# the pair filters of the verify and blind passes (`quality.pairs`: they drop pairs, not rows).
FILTER_NAMES: tuple[str, ...] = ("parsed", *(check.filter for check in ROW_CHECKS), *PAIR_FILTERS)


def get_spec(name: str) -> PipelineSpec:
    """The spec named `name`, or a `ConfigError` that lists the known ones.

    Example:
        >>> get_spec("image-vqa").refined
        'qas'
    """
    try:
        return PIPELINES[name]
    except KeyError:
        raise ConfigError(
            "unknown pipeline", received=name, fix=f"use one of {', '.join(PIPELINES)}"
        ) from None
