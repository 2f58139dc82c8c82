"""The export registry: format name → the function that writes it. A new format is one function and one line.

The registry holds names and import paths only (no `datasets` import), so the CLI can offer the
choices before anything heavy loads. Every writer has the signature
`write(ds, target: Path, *, image_key: str) -> str` and returns the line to show the user.

Example:
    >>> sorted(EXPORTS)
    ['llava', 'llava-onevision', 'sharegpt', 'trl', 'trl-multiturn', 'trl-prompt-completion']
    >>> EXPORTS["llava"].describe
    'LLaVA JSON + image files (original LLaVA loader: one image per record)'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

__all__ = ["EXPORTS", "Export", "run_export"]


@dataclass(frozen=True)
class Export:
    """One export format: where its writer lives (`module:function`) and what it makes."""

    writer: str
    describe: str

    def load(self) -> Callable[..., str]:
        """Import and return the writer."""
        module, _, name = self.writer.partition(":")
        return getattr(importlib.import_module(module), name)


EXPORTS: dict[str, Export] = {
    "trl": Export(
        "hf_vqa.publish.training:write_trl", "TRL vision SFT: messages + images, one QA pair per row"
    ),
    "trl-multiturn": Export(
        "hf_vqa.publish.training:write_trl_multiturn", "TRL vision SFT: one multi-turn dialogue per image"
    ),
    "trl-prompt-completion": Export(
        "hf_vqa.publish.training:write_trl_prompt_completion",
        "TRL vision SFT: prompt + completion + images, loss on the answers only",
    ),
    "llava": Export(
        "hf_vqa.publish.llava:write_llava",
        "LLaVA JSON + image files (original LLaVA loader: one image per record)",
    ),
    "llava-onevision": Export(
        "hf_vqa.publish.llava:write_llava_onevision",
        "LLaVA-OneVision JSON + image files (several images per record as a list)",
    ),
    "sharegpt": Export(
        "hf_vqa.publish.llava:write_sharegpt",
        "ShareGPT conversations (human/gpt turns) + image files, paths relative to sharegpt.json",
    ),
}


def run_export(name: str, ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """Write `ds` as format `name` into `target`; return the line to show the user.

    Example:
        >>> run_export("llava", ds, Path("out/llava"))  # doctest: +SKIP
        'exported llava: out/llava/llava.json'
    """
    return EXPORTS[name].load()(ds, Path(target), image_key=image_key)
