"""The request engine: everything between a prepared request and its `Reply`.

- `client`: the `Engine` (one per process and endpoint): a private event loop, retries, the store.
- `transport`: the only HTTP to the VLM (one POST per attempt).
- `replies`: what a reply means (answer, retryable, final) and how long to wait.
- `concurrency`: adaptive concurrency (AIMD) and Retry-After pauses.
- `ratelimit`: `--rpm` / `--tpm` token buckets shared by all processes.
- `store`: the durable per-request reply store (SQLite WAL).
- `progress`: one live bar across `num_proc` workers.
"""

__all__: list[str] = []
