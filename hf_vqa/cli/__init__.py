"""The command line (`scripts/build_dataset.py`, or the `hf-vqa` console script).

- `main`: the parser and the run.
- `publish`: the publishing options (`--push-to-hub`, `--shard`, `--export`, `push-only`).
- `jobs`: the one "already done" manifest, checked before anything heavy is imported.
"""

__all__: list[str] = []
