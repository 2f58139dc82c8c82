"""MkDocs hook: `cli.md`'s `<!-- cli-help -->` marker becomes every command's `--help`, rendered from the
argparse parser at build time, so the page cannot drift from the code.

The width is fixed (argparse reads `COLUMNS`), so the page is the same on every machine.
"""

from __future__ import annotations

import argparse
import os

from mkdocs.exceptions import PluginError

MARKER = "<!-- cli-help -->"
PROG = "hf-vqa"
WIDTH = "100"


def render(prog: str = PROG) -> str:
    """Markdown: `hf-vqa --help`, then one section per subcommand with its `--help`."""
    from hf_vqa.cli.parser import build_parser  # light: no datasets, no openai

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser(prog)
        parts = [f"### `{prog} --help`\n\n```text\n{parser.format_help().rstrip()}\n```\n"]
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, child in sub.choices.items():
            parts.append(f"### `{prog} {name} --help`\n\n```text\n{child.format_help().rstrip()}\n```\n")
            nested = [a for a in child._actions if isinstance(a, argparse._SubParsersAction)]
            for inner, grandchild in nested[0].choices.items() if nested else ():  # e.g. review export
                text = grandchild.format_help().rstrip()
                parts.append(f"### `{prog} {name} {inner} --help`\n\n```text\n{text}\n```\n")
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, **_) -> str:
    if page.file.src_uri != "cli.md":
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"docs/cli.md lost its {MARKER} marker: the generated --help has nowhere to go")
    return markdown.replace(MARKER, render())
