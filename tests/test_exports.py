"""The export registry (`hf_vqa.publish.exports`): every format is a writer function named in one place."""

from __future__ import annotations

import inspect
import subprocess
import sys

from hf_vqa.cli import main as cli
from hf_vqa.publish.exports import EXPORTS


def test_every_registered_writer_loads_and_has_the_writer_signature():
    for name, export in EXPORTS.items():
        writer = export.load()
        params = inspect.signature(writer).parameters
        assert list(params)[:2] == ["ds", "target"], name
        assert params["image_key"].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_the_cli_offers_exactly_the_registry():
    sub = next(a for a in cli.build_parser()._actions if a.dest == "pipeline")
    export = next(a for a in sub.choices["image-vqa"]._actions if a.dest == "export")
    assert sorted(export.choices) == sorted(EXPORTS)


def test_the_registry_does_not_import_datasets():
    code = "import sys, hf_vqa.publish.exports; print('datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
