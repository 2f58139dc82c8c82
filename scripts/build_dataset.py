#!/usr/bin/env python
"""Build a VQA dataset from images with any OpenAI-compatible VLM. See `--help` and README.md.

Example:
    python scripts/build_dataset.py image-vqa --input examples/sample/records.json --output out/ --mock auto
"""

from hf_vqa.cli.main import run

if __name__ == "__main__":
    run()  # main(), then a quick exit (no interpreter teardown; see hf_vqa.cli.main.exit_now)
