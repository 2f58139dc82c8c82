"""The documentation: the README stays a front page whose links land, the site's nav names real pages,
and the command-line page is rendered from the parser (so it cannot drift).

The full check is `mkdocs build --strict` in `.ci/run`; these are the fast parts of it. The hook tests
need the `docs` extra and skip without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _hook(name: str):
    pytest.importorskip(
        "mkdocs", reason="the docs extra is not installed: .venv/bin/pip install -e '.[docs]'"
    )
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages(nav) -> list[str]:
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_readme_is_a_front_page_whose_links_land():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert (
        text.count("<!-- test-command -->") == 1 and text.count("<!-- /test-command -->") == 1
    )  # .ci/run reads it
    links = re.findall(r"\]\(((?:docs/)[^)#]+)(?:#[^)]*)?\)", text)
    assert links, "the README links into the docs"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, f"README links to missing files: {missing}"


def test_nav_names_real_pages_or_pages_being_written():
    """Every nav entry exists in docs/, or is one of the pages the pending hook drops until it exists."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    pending = set(re.findall(r'"([\w-]+\.md)"', (DOCS / "hooks" / "pending.py").read_text(encoding="utf-8")))
    pages = _nav_pages(config["nav"])
    assert "cli.md" in pages and "api.md" in pages and "architecture.md" in pages
    unknown = [p for p in pages if not (DOCS / p).is_file() and p not in pending]
    assert not unknown, f"nav entries with no page and not pending: {unknown}"
    written = {p.name for p in DOCS.glob("*.md")}
    assert written <= set(pages), f"pages missing from the nav: {sorted(written - set(pages))}"


def test_cli_page_renders_every_subcommand_and_option_from_the_parser():
    from hf_vqa.cli.parser import build_parser

    hook = _hook("cli_help")
    assert hook.MARKER in (DOCS / "cli.md").read_text(encoding="utf-8")
    page = hook.render()
    parser = build_parser("hf-vqa")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, child in sub.choices.items():
        assert f"### `hf-vqa {name} --help`" in page
        for action in child._actions:
            for flag in action.option_strings:
                assert flag in page, f"{name}: {flag} is not on the CLI page"


def test_pending_pages_leave_the_nav_and_their_links_become_text(tmp_path):
    hook = _hook("pending")
    (tmp_path / "verification.md").write_text("# Verification\n")
    missing = hook._missing(tmp_path)
    assert "verification.md" not in missing and "review.md" in missing
    nav = [
        {"Home": "index.md"},
        {"Guides": [{"Review": "review.md"}, {"Checks": "checks.md"}]},
        {"Only": [{"R": "review.md"}]},
    ]
    assert hook._prune(nav, missing) == [{"Home": "index.md"}, {"Guides": [{"Checks": "checks.md"}]}]

    class Config:
        docs_dir = str(tmp_path)

    text = "See [review](review.md#how), [verification](verification.md) and [gone](gone.md)."
    assert hook.on_page_markdown(text, None, Config()) == (
        "See review, [verification](verification.md) and [gone](gone.md)."  # other broken links stay broken
    )
