"""MkDocs hook: pages that other branches add are listed in the nav before they exist, without breaking
`mkdocs build --strict`; and the HTML report's screenshot is served from where its test writes it.

- `PENDING` pages that are missing from `docs/` are dropped from the nav, and a link to one becomes its
  plain text. Any other missing page or broken link still fails the strict build.
- `benchmarks/results/report.png` (written by `tests/test_report.py`) is published as `img/report.png`, and
  `benchmarks/results/label_studio_task.png` (written by `benchmarks/review_roundtrip.py`) as
  `img/label_studio_task.png`.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

PENDING = (
    "verification.md",
    "review.md",
    "languages.md",
    "performance.md",
    "troubleshooting.md",
    "training-exports.md",
    "hostile-engine.md",
    "hostile-batch.md",
)
SHARED = {  # site path: repository path
    "img/report.png": "benchmarks/results/report.png",
    "img/label_studio_task.png": "benchmarks/results/label_studio_task.png",  # benchmarks/review_roundtrip.py
}


def _missing(docs: Path) -> set[str]:
    return {name for name in PENDING if not (docs / name).is_file()}


def _prune(nav: list, missing: set[str]) -> list:
    kept = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            value = _prune(value, missing)
            if not value:
                continue
            item = {next(iter(item)): value}
        elif value in missing:
            continue
        kept.append(item)
    return kept


def on_config(config):
    if config.nav:
        config.nav = _prune(config.nav, _missing(Path(config.docs_dir)))
    return config


def on_files(files, config):
    root = Path(config.config_file_path).parent
    for site_path, repo_path in SHARED.items():
        if (root / repo_path).is_file() and files.get_file_from_path(site_path) is None:
            files.append(File.generated(config, site_path, abs_src_path=str(root / repo_path)))
    return files


def on_page_markdown(markdown: str, page, config, **_) -> str:
    missing = _missing(Path(config.docs_dir))
    if not missing:
        return markdown
    names = "|".join(re.escape(name) for name in sorted(missing))
    return re.sub(rf"\[([^\]]+)\]\((?:\./)?(?:{names})(?:#[^)]*)?\)", r"\1", markdown)
