#!/usr/bin/env python
"""Build a VQA dataset from images with any OpenAI-compatible VLM. See `--help` and README.md.

Example:
    python scripts/build_dataset.py image-vqa --input examples/sample/records.json --output out/ --mock auto
"""

import sys

from hf_vqa.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
