"""What goes to the reviewers: the sample of rows, one task per row, and the labeling config. Pure: no I/O.

The labeling contract (also in docs/review.md), so annotations can be scripted as well as clicked:

- a task's `data` holds `hf_vqa_id` (a stable id of the row: its index and content), `row` (the row's index
  in the output), `images` (the row's images), `article` (context-vqa) and `pairs`: `[{index, question,
  answer, text}]`, where `index` is the pair's index in the row;
- for pair k the controls are `pair_<k>` (Choices: `correct` / `incorrect`), `needs_image_<k>` (Choices:
  `needs the image` / `does not`) and `fix_<k>` (TextArea: a corrected answer).

The sample is reproducible: the same `seed` picks the same rows. `where` restricts it to rows that
failed a check (`failed`, `not-grounded`, or, after the verify pass, `not-verified` and `guessable`);
several `where` names share the sample evenly between them (stratified).

Example:
    >>> rows = [{"row": 0, "context_vqa": {"context": "A red ball.", "qas": [{"question": "Colour?", "answer": "red"}]}}]
    >>> task = build_task(rows[0], "context_vqa.qas", images=["/data/upload/1/a.jpg"], hf_vqa_id="x1")
    >>> task["data"]["row"], task["data"]["pairs"][0]["index"], task["data"]["article"]
    (0, 0, 'A red ball.')
    >>> "pair_{{idx}}" in labeling_config(article=True)
    True
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from typing import Any

from hf_vqa.errors import InputError

__all__ = [
    "CORRECT",
    "DOES_NOT",
    "INCORRECT",
    "NEEDS_IMAGE",
    "WHERE",
    "build_task",
    "labeling_config",
    "pairs_at",
    "row_id",
    "sample_rows",
]

CORRECT, INCORRECT = "correct", "incorrect"
NEEDS_IMAGE, DOES_NOT = "needs the image", "does not"
# --where: what a row must show to be sampled, and the columns it reads
WHERE = {
    "failed": "failed a check (an answer not in the article, a repeated question, or a leak)",
    "not-grounded": "an answer does not appear in the article",
    "not-verified": "the verify pass's judge did not say answerable and correct for a pair (qa_verdicts)",
    "guessable": "a blind model answered a pair without the image (qa_blind)",
}
_NEEDS = {"not-verified": "qa_verdicts", "guessable": "qa_blind"}


def pairs_at(row: dict, qas_key: str) -> list[dict] | None:
    """The row's pairs (`qas` or `context_vqa.qas`), or None when it has none (a failed row).

    Example:
        >>> pairs_at({"context_vqa": None}, "context_vqa.qas") is None
        True
    """
    value: Any = row
    for part in qas_key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, list) else None


def row_id(row_index: int, pairs: Sequence[dict], article: str | None) -> str:
    """A stable id for a row as it was sent: its index, pairs and article (the images are not read: an
    import of a large output stays cheap). A rerun of the export finds the tasks it already made by this
    id; an import leaves out tasks whose row has changed since.

    Example:
        >>> row_id(3, [{"question": "Q?", "answer": "A"}], None) == row_id(3, [{"question": "Q?", "answer": "A"}], None)
        True
        >>> row_id(3, [{"question": "Q?", "answer": "A"}], None) == row_id(4, [{"question": "Q?", "answer": "A"}], None)
        False
    """
    content = json.dumps(
        [row_index, [[p.get("question"), p.get("answer")] for p in pairs], article],
        ensure_ascii=False,
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:24]


def build_task(row: dict, qas_key: str, *, images: list[str], hf_vqa_id: str) -> dict:
    """One Label Studio task (import format) for a row; `row["row"]` is its index in the output.

    `images` are the URLs the reviewer's browser loads (uploads on the server, or data URLs in a file);
    `hf_vqa_id` is the row's `row_id`.
    """
    pairs = pairs_at(row, qas_key) or []
    article = (row.get(qas_key.split(".")[0]) or {}).get("context") if "." in qas_key else None
    data: dict[str, Any] = {
        "hf_vqa_id": hf_vqa_id,
        "row": int(row["row"]),
        "images": list(images),
        "pairs": [
            {
                "index": k,
                "question": p.get("question") or "",
                "answer": p.get("answer") or "",
                "text": f"Q{k + 1}: {p.get('question') or ''}\nA{k + 1}: {p.get('answer') or ''}",
            }
            for k, p in enumerate(pairs)
        ],
    }
    if "." in qas_key:
        data["article"] = article or ""
    return {"data": data}


def labeling_config(*, article: bool) -> str:
    """The project's labeling config: the row's image(s), the article (context-vqa) and, for each pair k
    (a `Repeater` over `$pairs`), `pair_<k>`, `needs_image_<k>` and `fix_<k>`."""
    parts = [
        "<View>",
        '  <Header value="Row $row"/>',
        '  <Image name="image" valueList="$images"/>',
    ]
    if article:
        parts += ['  <Header value="Article"/>', '  <Text name="article" value="$article"/>']
    parts += [
        '  <Header value="Question-answer pairs"/>',
        '  <Repeater on="$pairs" indexFlag="{{idx}}">',
        '    <View style="border-top: 1px solid #ccc; padding-top: 8px; margin-top: 8px">',
        '      <Text name="pair_text_{{idx}}" value="$pairs[{{idx}}].text"/>',
        '      <Choices name="pair_{{idx}}" toName="pair_text_{{idx}}" choice="single" showInline="true">',
        f'        <Choice value="{CORRECT}"/>',
        f'        <Choice value="{INCORRECT}"/>',
        "      </Choices>",
        '      <Choices name="needs_image_{{idx}}" toName="pair_text_{{idx}}" choice="single" showInline="true">',
        f'        <Choice value="{NEEDS_IMAGE}"/>',
        f'        <Choice value="{DOES_NOT}"/>',
        "      </Choices>",
        '      <TextArea name="fix_{{idx}}" toName="pair_text_{{idx}}" maxSubmissions="1" editable="true"',
        '                placeholder="corrected answer (only if the answer is wrong)"/>',
        "    </View>",
        "  </Repeater>",
        "</View>",
    ]
    return "\n".join(parts)


def _matches(row: dict, where: str) -> bool:
    if where == "failed":
        return row.get("all_grounded") is False or bool(row.get("has_duplicate")) or bool(row.get("has_leak"))
    if where == "not-grounded":
        return row.get("all_grounded") is False
    if where == "not-verified":
        return any(not (v and v.get("answerable") and v.get("correct")) for v in row.get("qa_verdicts") or [])
    return any(b and b.get("guessable") for b in row.get("qa_blind") or [])


def check_where(where: Sequence[str], column_names: Sequence[str]) -> None:
    """Refuse a `--where` the data cannot answer (e.g. `not-verified` before the verify pass).

    Example:
        >>> check_where(["guessable"], ["qas"])
        Traceback (most recent call last):
        ...
        hf_vqa.errors.InputError: --where guessable needs the qa_blind column, which this output does not have (received: ['qas']). Fix: run the verify pass with its blind check first, or pick another --where (failed, not-grounded)
    """
    for name in where:
        if name not in WHERE:
            raise InputError("unknown --where", received=name, fix=f"use one of {', '.join(WHERE)}")
        column = _NEEDS.get(name)
        if column and column not in column_names:
            step = "its blind check" if column == "qa_blind" else "its judge"
            raise InputError(f"--where {name} needs the {column} column, which this output does not have",
                             received=list(column_names),
                             fix=f"run the verify pass with {step} first, or pick another --where (failed, not-grounded)")  # fmt: skip


def sample_rows(
    rows: Sequence[dict], qas_key: str, *, n: int | None, seed: int = 0, where: Sequence[str] = ()
) -> list[int]:
    """Indices (into `rows`, sorted) of a reproducible sample of `n` rows with pairs (all when `n` is None).

    With several `where` names the sample is stratified: each name gets an even share of `n`, drawn
    from the rows that show it (a short stratum's share goes to the others).

    Example:
        >>> rows = [{"all_grounded": i % 2 == 0, "qas": [{"question": "Q", "answer": "A"}]} for i in range(10)]
        >>> sample_rows(rows, "qas", n=3, seed=1, where=["not-grounded"]) == sample_rows(rows, "qas", n=3, seed=1, where=["not-grounded"])
        True
        >>> all(i % 2 == 1 for i in sample_rows(rows, "qas", n=3, seed=1, where=["not-grounded"]))
        True
    """
    rng = random.Random(seed)
    eligible = [i for i, r in enumerate(rows) if pairs_at(r, qas_key)]  # a failed row has nothing to review
    strata = [[i for i in eligible if _matches(rows[i], w)] for w in where] or [eligible]
    for stratum in strata:
        rng.shuffle(stratum)
    limit = sum(len(s) for s in strata) if n is None else n
    chosen: dict[int, None] = {}
    cursors = [0] * len(strata)
    while len(chosen) < limit and any(c < len(s) for c, s in zip(cursors, strata)):
        for k, stratum in enumerate(strata):  # round robin: an even share per stratum
            while cursors[k] < len(stratum) and stratum[cursors[k]] in chosen:
                cursors[k] += 1
            if cursors[k] < len(stratum) and len(chosen) < limit:
                chosen[stratum[cursors[k]]] = None
                cursors[k] += 1
    return sorted(chosen)
