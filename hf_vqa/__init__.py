"""hf_vqa: turn images into visual-question-answering data with any OpenAI-compatible VLM.

The flow, one module per step:

    inputs (load_records, load_input) → images (prepare_image) → messages (build_request)
    → engine (the only HTTP) → generate (prompted_vqa) → parse / refine (refine_qa_pairs,
    refine_wiki_qa, checks) → publish (records, folder, card, hub, training exports)

Example:
    >>> import hf_vqa
    >>> ds = hf_vqa.load_records("examples/sample/records.json")  # doctest: +SKIP
    >>> ds = ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": hf_vqa.VLM(model="gpt-4o-mini")})  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from hf_vqa.version import __version__

if TYPE_CHECKING:  # editors and type checkers see the lazy names
    from hf_vqa.config import VLM
    from hf_vqa.cost.estimate import Estimate, estimate
    from hf_vqa.errors import (
        BatchError,
        ConfigError,
        HfVqaError,
        HubError,
        ImageError,
        InputError,
        ParseError,
        RequestError,
    )
    from hf_vqa.generate import prompted_vqa
    from hf_vqa.inputs.load import load_image_folder, load_input, load_records
    from hf_vqa.mock.local import mock_server
    from hf_vqa.pipeline import run_pipeline
    from hf_vqa.publish.card import RunInfo
    from hf_vqa.publish.hub import push_card, push_dataset, push_only
    from hf_vqa.publish.report import write_report
    from hf_vqa.publish.training import (
        export_llava,
        export_llava_onevision,
        export_trl,
        export_trl_prompt_completion,
    )
    from hf_vqa.quality.agreement import Agreement, judge_agreement
    from hf_vqa.quality.blind import blind_check
    from hf_vqa.quality.dedupe import dedupe_questions
    from hf_vqa.quality.verify import judge_vlm, verify_pairs
    from hf_vqa.refine import refine_qa_pairs, refine_wiki_qa
    from hf_vqa.schema import features_after
    from hf_vqa.shards.job import ShardJob
    from hf_vqa.shards.on_ray import run_on_ray

_EXPORTS = {
    "VLM": "config",
    "BatchError": "errors",
    "Estimate": "cost.estimate",
    "estimate": "cost.estimate",
    "ConfigError": "errors",
    "HfVqaError": "errors",
    "ImageError": "errors",
    "InputError": "errors",
    "ParseError": "errors",
    "RequestError": "errors",
    "HubError": "errors",
    "RunInfo": "publish.card",
    "dedupe_questions": "quality.dedupe",
    "write_report": "publish.report",
    "export_llava": "publish.training",
    "export_trl": "publish.training",
    "export_llava_onevision": "publish.training",
    "export_trl_prompt_completion": "publish.training",
    "features_after": "schema",
    "push_card": "publish.hub",
    "push_dataset": "publish.hub",
    "push_only": "publish.hub",
    "run_pipeline": "pipeline",
    "run_on_ray": "shards.on_ray",  # Ray itself is imported only when it runs (the optional `ray` extra)
    "ShardJob": "shards.job",
    "load_image_folder": "inputs.load",
    "load_input": "inputs.load",
    "load_records": "inputs.load",
    "mock_server": "mock.local",
    "prompted_vqa": "generate",
    "refine_qa_pairs": "refine",
    "refine_wiki_qa": "refine",
    "Agreement": "quality.agreement",
    "judge_agreement": "quality.agreement",
    "blind_check": "quality.blind",
    "judge_vlm": "quality.verify",
    "verify_pairs": "quality.verify",
}


def __getattr__(name: str):
    """Import on first use, so `import hf_vqa.errors` does not pull in `datasets`."""
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hf_vqa' has no attribute {name!r}")


__all__ = [
    "VLM",
    "Agreement",
    "BatchError",
    "ConfigError",
    "Estimate",
    "HfVqaError",
    "HubError",
    "ImageError",
    "InputError",
    "ParseError",
    "RequestError",
    "RunInfo",
    "ShardJob",
    "__version__",
    "blind_check",
    "dedupe_questions",
    "estimate",
    "export_llava",
    "export_llava_onevision",
    "export_trl",
    "export_trl_prompt_completion",
    "features_after",
    "judge_agreement",
    "judge_vlm",
    "load_image_folder",
    "load_input",
    "load_records",
    "mock_server",
    "prompted_vqa",
    "push_card",
    "push_dataset",
    "push_only",
    "refine_qa_pairs",
    "refine_wiki_qa",
    "run_on_ray",
    "run_pipeline",
    "verify_pairs",
    "write_report",
]
