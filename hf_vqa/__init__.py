"""hf_vqa: turn images into visual-question-answering data with any OpenAI-compatible VLM.

The flow, one module per step:

    io (load_records, load_input) → images (prepare_image) → messages (build_request)
    → client (the only HTTP) → generate (prompted_vqa) → parse / refine (refine_qa_pairs,
    refine_wiki_qa, checks) → export / card / hub

Example:
    >>> import hf_vqa
    >>> ds = hf_vqa.load_records("examples/sample/records.json")  # doctest: +SKIP
    >>> ds = ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": hf_vqa.VLM(model="gpt-4o-mini")})  # doctest: +SKIP
"""

__version__ = "0.1.0"

_EXPORTS = {
    "VLM": "config",
    "ConfigError": "errors",
    "HfVqaError": "errors",
    "ImageError": "errors",
    "InputError": "errors",
    "ParseError": "errors",
    "RequestError": "errors",
    "HubError": "errors",
    "RunInfo": "card",
    "export_llava": "train_export",
    "export_trl": "train_export",
    "features_after": "schema",
    "push_card": "hub",
    "push_dataset": "hub",
    "push_only": "hub",
    "run_pipeline": "pipeline",
    "load_image_folder": "io",
    "load_input": "io",
    "load_records": "io",
    "prompted_vqa": "generate",
    "refine_qa_pairs": "refine",
    "refine_wiki_qa": "refine",
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
    "ConfigError",
    "HfVqaError",
    "HubError",
    "ImageError",
    "InputError",
    "ParseError",
    "RequestError",
    "RunInfo",
    "__version__",
    "export_llava",
    "export_trl",
    "features_after",
    "load_image_folder",
    "load_input",
    "load_records",
    "prompted_vqa",
    "push_card",
    "push_dataset",
    "push_only",
    "refine_qa_pairs",
    "refine_wiki_qa",
    "run_pipeline",
]
