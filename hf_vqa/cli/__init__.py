"""The command line (`scripts/build_dataset.py`, or the `hf-vqa` console script).

- `main`: the run (`main()`): load, generate, refine, write, publish, summarise.
- `parser`: the parser, its option groups and help; defaults from `VLM`.
- `command`: the named exit codes and the command as the user ran it.
- `interrupts`: Ctrl-C and disk-full endings (one line, a named exit code).
- `publish`: the publishing options (`--push-to-hub`, `--shard`, `--export`, `push-only`).
- `cost`: `--dry-run` and batch mode; `sharding`: `--ray`, `--shards`; `report`: diversity lines,
  `--dedupe`, `--report` and the `report` subcommand; `store`: `store --check/--repair`.
- `jobs`: the one "already done" manifest, checked before anything heavy is imported; `lock`: one
  run per output.
"""

__all__: list[str] = []
