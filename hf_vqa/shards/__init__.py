"""Beyond one process: shards of one run, on job arrays or a Ray cluster.

- `plan`: `--shard I/N | auto` (Slurm arrays, Kubernetes Indexed Jobs), how many shards run at once,
  and each one's share of `--max-concurrency` / `--rpm` / `--tpm`.
- `job`: `ShardJob`, one shard's plain settings and work (run, push or write, skip if done, merge).
- `on_ray`: `run_on_ray`, one Ray task per shard (the optional `ray` extra).
- `progress`: what the driver knows and prints about each shard.
"""

__all__: list[str] = []
