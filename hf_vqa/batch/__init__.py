"""Batch mode: the run's requests as OpenAI-style batch files, collected into the request store.

`lines.py` builds and reads the JSONL (request lines, result lines); `manifest.py` is the resumable
record next to the output; `run.py` submits, polls, cancels and collects. The output itself is then
built by the ordinary `prompted_vqa` map reading the store (`store_only=True`).
"""

__all__: list[str] = []
