"""How far the judge can be trusted: its verdicts measured against human labels, pair by pair.

Labels are `{"row": int, "pair": int, "correct": bool}` (row = index in the output, pair = index in the
row's pairs), given as a JSONL file, a list of dicts, or a dataset / output folder with a `qa_human` column
(a list aligned with the pairs of `{correct: bool | None, ...}`, or null; the `review` step writes it).
The positive class is "reject": the judge said not correct, the person said incorrect. Pairs without a
verdict or without a label are left out (n counts the pairs that have both).

Example:
    >>> verdicts = [[{"correct": True}, {"correct": False}], [{"correct": False}]]
    >>> labels = [{"row": 0, "pair": 0, "correct": True}, {"row": 0, "pair": 1, "correct": False},
    ...           {"row": 1, "pair": 0, "correct": True}]
    >>> a = agreement_of(verdicts, labels)
    >>> a.n, a.accuracy, a.precision, a.recall
    (3, 0.6667, 0.5, 1.0)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hf_vqa.errors import InputError

__all__ = ["Agreement", "agreement_of", "judge_agreement", "read_labels"]


@dataclass(frozen=True)
class Agreement:
    """The judge against people on `n` pairs: accuracy, and precision / recall of rejecting a bad pair.

    `kappa` is Cohen's kappa (agreement beyond chance; None when it is undefined: one class only on
    both sides). `tp` = both reject, `fp` = judge rejects a pair people kept, `fn` = judge keeps a pair
    people rejected, `tn` = both keep.
    """

    n: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    kappa: float | None
    tp: int
    fp: int
    fn: int
    tn: int

    def line(self) -> str:
        """One line, as the summary and the card show it.

        Example:
            >>> Agreement(10, 0.9, 1.0, 0.5, 0.62, 1, 0, 1, 8).line()
            "judge vs people on n=10 pairs: accuracy 0.90, rejecting a wrong pair: precision 1.00, recall 0.50, Cohen's kappa 0.62"
        """

        def f(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.2f}"

        return (f"judge vs people on n={self.n} pairs: accuracy {f(self.accuracy)}, rejecting a wrong pair: "
                f"precision {f(self.precision)}, recall {f(self.recall)}, Cohen's kappa {f(self.kappa)}")  # fmt: skip

    def to_dict(self) -> dict:
        """Plain data, for the card's YAML."""
        return asdict(self)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def agreement_of(verdicts: list[list[dict | None] | None], labels: list[dict]) -> Agreement:
    """`Agreement` from per-row verdict lists (as in `qa_verdicts`) and `{row, pair, correct}` labels."""
    tp = fp = fn = tn = 0
    for label in labels:
        row, pair, human = label.get("row"), label.get("pair"), label.get("correct")
        if not isinstance(row, int) or not isinstance(pair, int) or not isinstance(human, bool):
            continue
        if not 0 <= row < len(verdicts) or not verdicts[row] or not 0 <= pair < len(verdicts[row]):
            continue
        verdict = verdicts[row][pair]
        if not verdict or verdict.get("correct") is None:
            continue
        judge_rejects, human_rejects = not verdict["correct"], not human
        tp += judge_rejects and human_rejects
        fp += judge_rejects and not human_rejects
        fn += not judge_rejects and human_rejects
        tn += not judge_rejects and not human_rejects
    n = tp + fp + fn + tn
    observed = (tp + tn) / n if n else None
    kappa = None
    if n:
        chance = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        kappa = round((observed - chance) / (1 - chance), 4) if chance < 1 else None
    return Agreement(n=n, accuracy=None if observed is None else round(observed, 4),
                     precision=_ratio(tp, tp + fp), recall=_ratio(tp, tp + fn), kappa=kappa,
                     tp=tp, fp=fp, fn=fn, tn=tn)  # fmt: skip


def _from_human(column: list) -> list[dict]:
    labels = []
    for row, items in enumerate(column):
        for pair, item in enumerate(items or []):
            if isinstance(item, dict) and isinstance(item.get("correct"), bool):
                labels.append({"row": row, "pair": pair, "correct": item["correct"]})
    return labels


def read_labels(labels: Any) -> list[dict]:
    """`{row, pair, correct}` labels from a JSONL path, a list of dicts, a `Dataset` with `qa_human`, or
    an output folder whose data has `qa_human`.

    Example:
        >>> read_labels([{"row": 0, "pair": 1, "correct": False}])
        [{'row': 0, 'pair': 1, 'correct': False}]
    """
    if isinstance(labels, list):
        return labels
    if hasattr(labels, "column_names"):
        if "qa_human" not in labels.column_names:
            raise InputError("the labels dataset has no qa_human column", received=labels.column_names,
                             fix="pass a JSONL of {row, pair, correct}, or an output with qa_human (review import)")  # fmt: skip
        return _from_human(labels["qa_human"])
    path = Path(os.fspath(labels))
    if path.is_dir():
        from hf_vqa.publish.read_folder import read_output_folder

        return read_labels(read_output_folder(path))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise InputError("cannot read the labels", received=f"{path}: {err.strerror}",
                         fix="pass a JSONL file of {\"row\", \"pair\", \"correct\"} lines") from None  # fmt: skip
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise InputError(f"line {number} of the labels is not JSON", received=line[:120],
                             fix='one {"row": 0, "pair": 1, "correct": false} per line') from None  # fmt: skip
        if not isinstance(item, dict) or not {"row", "pair", "correct"} <= item.keys():
            raise InputError(f"line {number} of the labels lacks row, pair or correct", received=line[:120],
                             fix='one {"row": 0, "pair": 1, "correct": false} per line')  # fmt: skip
        out.append(item)
    return out


def judge_agreement(verified_ds: Any, labels: Any) -> Agreement:
    """The judge's agreement with human labels on a verified dataset (one with `qa_verdicts`).

    `labels`: a JSONL path, a list of `{row, pair, correct}`, or a dataset / output folder with
    `qa_human` (row i of the labels is row i of `verified_ds`).

    Example:
        >>> judge_agreement(verified, "examples/labels/labels.jsonl").line()  # doctest: +SKIP
        "judge vs people on n=36 pairs: accuracy 0.94, ..."
    """
    if "qa_verdicts" not in verified_ds.column_names:
        raise InputError("the dataset has no qa_verdicts column", received=verified_ds.column_names,
                         fix="run the verify step first (hf_vqa.verify_pairs, or build_dataset.py verify)")  # fmt: skip
    return agreement_of(verified_ds["qa_verdicts"], read_labels(labels))
