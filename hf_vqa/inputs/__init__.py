"""Inputs: records JSON/JSONL, an image folder, a saved dataset or a Hub id → a `Dataset`.

- `load`: the loaders (`load_records`, `load_image_folder`, `load_input`).
- `stamps`: cheap stdlib fingerprints of input files (used by the loaders and the up-to-date check).
"""

__all__: list[str] = []
