"""Human review: an output's pairs out to people (Label Studio, or its JSON files), their verdicts back.

- `export`: the sample, one task per row, the labeling config (pure; the labeling contract is here);
- `labelstudio`: a small client for Label Studio's REST API (urllib; deadlines and byte caps);
- `files`: Label Studio's import and export JSON formats, for files that travel by hand;
- `human`: the `qa_human` column (majority of people), `--filter human-approved`, `--apply-fixes`;
- `run`: the round trip over an output folder (`export_review`, `import_review`).

The CLI is `build_dataset.py review export|import` (`hf_vqa.cli.review`); the guide is docs/review.md.
"""
