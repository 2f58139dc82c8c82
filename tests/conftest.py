"""Shared test setup. Fixtures live in per-area plugin modules so they stay small:

- ``fixtures_vlm``: the loopback OpenAI-compatible mock VLM (``hf_vqa.mock.server``).
- ``fixtures_hub``: the loopback Hub-compatible server (``tests/hub_server.py``).
- ``fixtures_data``: small sample images and records made on the fly.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# fixtures_hub first: it points HF_ENDPOINT at the loopback Hub before anything imports datasets.
pytest_plugins = ["fixtures_hub", "fixtures_vlm", "fixtures_data"]
