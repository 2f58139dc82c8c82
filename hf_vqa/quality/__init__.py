"""The quality room: what says whether a generated pair can be trusted.

- checks on each pair and their helpers: `checks`, `grounding`, `canonical` forms, `diversity`, `dedupe`;
- `verify`: a judge VLM says, pair by pair, whether each answer is answerable from the image and correct
  (`verify_pairs`, a `datasets.map` function; the prompt and the reading of its reply in `verdicts`);
- `blind`: each question alone, with no image, to a text model: pairs it answers anyway are `guessable`;
- `pairs`: reading a row's pairs, and `--filter verified` / `--filter not-guessable`, which drop pairs;
- `agreement`: the judge measured against human labels (`judge_agreement`: accuracy, precision, recall,
  Cohen's kappa, with n); `summary`: the counts for the summary line and the card.
"""

__all__ = []
