"""The public API: `hf_vqa.__all__` is exactly this list, and every name in it resolves.

Moving modules between rooms must not change what `import hf_vqa` offers. Adding or removing a
public name is a decision: change the list below in the same commit, and say so in CHANGELOG.md.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import hf_vqa

PUBLIC = [
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


def test_all_is_the_public_list():
    assert sorted(hf_vqa.__all__) == sorted(PUBLIC), (
        f"added: {sorted(set(hf_vqa.__all__) - set(PUBLIC))}, removed: {sorted(set(PUBLIC) - set(hf_vqa.__all__))}"
    )


def test_every_public_name_resolves_to_its_own_module():
    """Each lazy name imports, from the module that the TYPE_CHECKING block (what editors see) names."""
    tree = ast.parse(Path(hf_vqa.__file__).read_text(encoding="utf-8"))
    typed = {
        alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hf_vqa.")
        for alias in node.names
    }
    for name in PUBLIC:
        value = getattr(hf_vqa, name)
        assert value is not None, name
        if name == "__version__":
            assert isinstance(value, str) and value.count(".") == 2
            continue
        home = importlib.import_module(typed[name])
        assert getattr(home, name) is value, f"{name}: hf_vqa gives another object than {typed[name]}"
        assert f"hf_vqa.{hf_vqa._EXPORTS[name]}" == typed[name], f"{name}: lazy and typed imports disagree"


def test_import_is_light():
    """`import hf_vqa` alone pulls in neither `datasets` nor the HTTP stack (the names are lazy)."""
    code = "import sys, hf_vqa; print(sorted(m for m in ('datasets', 'openai', 'aiohttp', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_every_public_name_is_on_the_api_page():
    """docs/api.md documents each public name from the module it lives in (mkdocstrings `:::` lines)."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    documented = {line.split()[1] for line in page.splitlines() if line.startswith("::: ")}
    missing = [
        f"{getattr(hf_vqa, name).__module__}.{name}"
        for name in PUBLIC
        if name != "__version__" and f"{getattr(hf_vqa, name).__module__}.{name}" not in documented
    ]
    assert not missing, f"add to docs/api.md: {', '.join('::: ' + m for m in missing)}"
