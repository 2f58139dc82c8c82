"""`python -m hf_vqa.mock`: serve the mock VLM (same as `python -m hf_vqa.mock.server`)."""

from hf_vqa.mock.server import main

if __name__ == "__main__":
    raise SystemExit(main())
