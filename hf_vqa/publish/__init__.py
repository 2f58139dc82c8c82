"""Publishing the result.

- `records`: the seed's JSON/JSONL records.
- `folder`: a local folder laid out like a Hub repo (parquet with embedded images + card).
- `card`: the dataset card (`RunInfo`, merged across shards and runs).
- `hub`: `push_dataset`, `push_card`, `push_only` (shards from N machines).
- `training`: TRL / LLaVA exports; `exports`: the registry (format name → writer).
"""

__all__: list[str] = []
