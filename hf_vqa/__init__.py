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

from .config import VLM
from .errors import ConfigError, HfVqaError, ImageError, InputError, ParseError, RequestError
from .generate import prompted_vqa
from .io import load_image_folder, load_input, load_records
from .refine import refine_qa_pairs, refine_wiki_qa
from .schema import features_after

__all__ = [
    "VLM",
    "ConfigError",
    "HfVqaError",
    "ImageError",
    "InputError",
    "ParseError",
    "RequestError",
    "__version__",
    "features_after",
    "load_image_folder",
    "load_input",
    "load_records",
    "prompted_vqa",
    "refine_qa_pairs",
    "refine_wiki_qa",
]
