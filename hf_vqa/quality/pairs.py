"""A row's question-answer pairs, and the filters that drop pairs (not rows): `verified`, `not-guessable`.

Every per-pair column (`qa_checks`, `qa_verdicts`, `qa_blind`, `qa_human`) is aligned one to one with the
row's pairs (`qas`, or `context_vqa.qas`); dropping a pair drops its entry in each of them, and the row
flags of the checks are recomputed from the checks that remain. A row left with no pair is dropped and
counted.

Example:
    >>> pairs_of({"qas": [{"question": "Q?", "answer": "A"}]}, "qas")
    [{'question': 'Q?', 'answer': 'A'}]
    >>> passes({"answerable": True, "correct": True}, None, ["verified"])
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "PAIR_COLUMNS",
    "PAIR_FILTERS",
    "PairFilterReport",
    "filter_pairs",
    "pairs_of",
    "passes",
    "qas_key_for",
]

PAIR_FILTERS = ("verified", "not-guessable")  # `--filter` names that drop pairs
PAIR_COLUMNS = ("qa_checks", "qa_verdicts", "qa_blind", "qa_human")  # aligned with the pairs
_FLAGS = ("all_grounded", "has_duplicate", "has_leak")
FIXES = "qa_human_fixes"  # per row, not per pair: its `pair` indices follow the pairs that are kept


def qas_key_for(column_names: list[str] | Any) -> str:
    """Where the pairs are: `context_vqa.qas` when the data has a `context_vqa` column, else `qas`.

    Example:
        >>> qas_key_for(["image", "context_vqa"]), qas_key_for(["image", "qas"])
        ('context_vqa.qas', 'qas')
    """
    return "context_vqa.qas" if "context_vqa" in column_names else "qas"


def pairs_of(row: dict, qas_key: str) -> list[dict] | None:
    """The row's pairs (`qas_key` may be dotted), or None when the row has none (failed or unparsed)."""
    top, *rest = qas_key.split(".")
    value = row.get(top)
    for part in rest:
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, list) else None


def passes(verdict: dict | None, blind: dict | None, filters: list[str] | tuple[str, ...]) -> bool:
    """True when a pair passes every named pair filter: `verified` (the judge said answerable and
    correct; a pair the judge could not judge does not pass), `not-guessable` (the blind model did not
    answer it; an unchecked pair passes)."""
    if "verified" in filters and not (verdict and verdict.get("answerable") and verdict.get("correct")):
        return False
    return not ("not-guessable" in filters and blind and blind.get("guessable"))


@dataclass(frozen=True)
class PairFilterReport:
    """What the pair filters dropped: pairs, and rows left with no pair."""

    filters: tuple[str, ...]
    pairs_dropped: int
    rows_dropped: int

    def to_dict(self) -> dict:
        """Plain data, for the card."""
        return {"filters": list(self.filters), "pairs_dropped": self.pairs_dropped,
                "rows_dropped": self.rows_dropped}  # fmt: skip


def _drop(batch: dict[str, list], *, qas_key: str, filters: list[str]) -> dict[str, list]:
    top, *rest = qas_key.split(".")
    columns = [c for c in PAIR_COLUMNS if c in batch]
    out: dict[str, list] = {top: [], "_pairs_dropped": [], **{c: [] for c in columns}}
    out |= {flag: [] for flag in _FLAGS if flag in batch}
    if FIXES in batch:  # review import --apply-fixes: [{pair, before, after}] names pairs by index
        out[FIXES] = []
    n = len(batch[top])
    for k in range(n):
        pairs = pairs_of({top: batch[top][k]}, qas_key)
        verdicts = batch.get("qa_verdicts", [None] * n)[k] or []
        blinds = batch.get("qa_blind", [None] * n)[k] or []
        keep = None
        if pairs is not None:
            keep = [j for j in range(len(pairs)) if passes(_at(verdicts, j), _at(blinds, j), filters)]
        value = batch[top][k]
        if keep is not None:
            kept = [pairs[j] for j in keep]
            value = {**value, rest[0]: kept} if rest else kept
        out[top].append(value)
        out["_pairs_dropped"].append(0 if keep is None else len(pairs) - len(keep))
        for c in columns:
            items = batch[c][k]
            out[c].append(
                items if keep is None or items is None else [items[j] for j in keep if j < len(items)]
            )
        if FIXES in batch:
            new = {j: i for i, j in enumerate(keep)} if keep is not None else None
            fixes = batch[FIXES][k] or []
            out[FIXES].append(
                fixes if new is None else [{**f, "pair": new[f["pair"]]} for f in fixes if f["pair"] in new]
            )
        if "qa_checks" in batch and keep is not None and len(keep) != len(pairs):
            checks = out["qa_checks"][-1] or []
            flags = (bool(checks) and all(c["grounded"] for c in checks), any(c["duplicate"] for c in checks),
                     any(c["leak"] for c in checks))  # fmt: skip
            for name, flag in zip(_FLAGS, flags):
                if name in batch:
                    out[name].append(flag)
        else:
            for name in _FLAGS:
                if name in batch:
                    out[name].append(batch[name][k])
    return out


def _at(items: list, j: int) -> Any:
    return items[j] if j < len(items) else None


def filter_pairs(ds: Any, filters: list[str] | tuple[str, ...]) -> tuple[Any, PairFilterReport]:
    """Apply the pair filters named in `filters` (others are ignored); drop rows left with no pair.

    Rows that had no pairs to begin with (failed rows) are kept: the row filters (`parsed`) decide those.

    Example:
        >>> ds, report = filter_pairs(ds, ["verified"])  # doctest: +SKIP
        >>> report.pairs_dropped, report.rows_dropped  # doctest: +SKIP
        (12, 3)
    """
    wanted = tuple(f for f in PAIR_FILTERS if f in filters)
    for name, column, fix in (
        ("verified", "qa_verdicts", "--verify"),
        ("not-guessable", "qa_blind", "--blind-check"),
    ):
        if name in wanted and column not in ds.column_names:
            from hf_vqa.errors import ConfigError

            raise ConfigError(f"--filter {name} needs the {column} column", received=ds.column_names,
                              fix=f"add {fix} (or run `verify` on the output first)")  # fmt: skip
    if not wanted or len(ds) == 0:
        return ds, PairFilterReport(wanted, 0, 0)
    qas_key = qas_key_for(ds.column_names)
    top = qas_key.split(".")[0]
    import datasets

    out = ds.map(_drop, batched=True, fn_kwargs={"qas_key": qas_key, "filters": list(wanted)},
                 features=datasets.Features({**ds.features, "_pairs_dropped": datasets.Value("int64")}),
                 desc="Dropping pairs that did not pass")  # fmt: skip
    dropped_counts = out["_pairs_dropped"]
    emptied = [i for i, (d, pairs) in enumerate(zip(dropped_counts, out.select_columns([top])[top]))
               if d and not pairs_of({top: pairs}, qas_key)]  # fmt: skip
    out = out.remove_columns("_pairs_dropped")
    if emptied:
        gone = set(emptied)
        out = out.select([i for i in range(len(out)) if i not in gone])
    return out, PairFilterReport(wanted, sum(dropped_counts), len(emptied))
