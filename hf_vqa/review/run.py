"""A review round trip: an output folder's rows out to people (Label Studio, or a file), their verdicts back.

`export_review` samples rows, makes one task per row (images uploaded, or inline in a file) and adds only
tasks the project does not hold yet (matched by `hf_vqa_id`). `import_review` reads the annotations, maps
them back by that id, writes the `qa_human` column and, when asked, applies people's corrections and keeps
only the pairs they approved; the output's card gets a "Human review" section.

Example:
    >>> done = export_review("out/", url="http://127.0.0.1:8080", project="my review", sample=50)  # doctest: +SKIP
    >>> report = import_review("out/", "out_reviewed/", url="http://127.0.0.1:8080", project="my review")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_vqa.errors import InputError
from hf_vqa.review.export import build_task, check_where, labeling_config, pairs_at, row_id, sample_rows
from hf_vqa.review.human import (
    HUMAN_COLUMN,
    ImportReport,
    apply_fixes,
    human_column,
    human_feature,
    keep_approved,
)

__all__ = ["ExportReport", "default_project", "export_review", "import_review", "read_review_input"]

_SAMPLE_COLUMNS = ("all_grounded", "has_duplicate", "has_leak", "qa_verdicts", "qa_blind")
_CHUNK = 50  # tasks (and their images) per upload / import request


@dataclass(frozen=True)
class ExportReport:
    """What an export did: rows sampled, tasks made, tasks already there, where they went."""

    sampled: int
    created: int
    already: int
    images: int
    target: str  # the project (title and id at host) or the file
    skipped_without_pairs: int

    def line(self) -> str:
        return (f"review export: {self.sampled} row(s) sampled, {self.created} task(s) made, {self.already} "
                f"already there, {self.images} image(s) sent -> {self.target}")  # fmt: skip


def default_project(output: str | os.PathLike) -> str:
    """The project's title when `--project` is not given: `hf_vqa review: <folder name>` (cut to fit).

    Example:
        >>> default_project("runs/out/")
        'hf_vqa review: out'
    """
    return f"hf_vqa review: {Path(str(output).rstrip('/')).name}"[:TITLE_MAX]


TITLE_MAX = 41  # Label Studio's titles are 3 to 50 characters; the companion "<title> (images)" must fit too


def _title(project: str | None, folder: str | os.PathLike) -> str:
    title = project or default_project(folder)
    if not 3 <= len(title) <= TITLE_MAX:
        raise InputError("the Label Studio project's title must be 3 to 41 characters long", received=title,
                         fix="pass a shorter or longer --project (Label Studio allows 50, and the images' "
                         "companion project adds ' (images)')")  # fmt: skip
    return title


def read_review_input(folder: str | os.PathLike, split: str = "train") -> tuple[Any, str]:
    """The output folder's rows (images undecoded) and where their pairs are (`qas`, `context_vqa.qas`)."""
    from hf_vqa.images.columns import undecoded
    from hf_vqa.publish.read_folder import read_output_folder

    if not Path(folder).is_dir():
        raise InputError("--input must be an output folder (parquet + card)", received=str(folder),
                         fix="pass the --output folder of a finished image-vqa or context-vqa run")  # fmt: skip
    ds = undecoded(read_output_folder(folder, split))
    if "context_vqa" in ds.column_names:
        return ds, "context_vqa.qas"
    if "qas" in ds.column_names:
        return ds, "qas"
    raise InputError("the output has no pairs to review (no qas or context_vqa column)",
                     received=ds.column_names, fix="pass the output of an image-vqa or context-vqa run")  # fmt: skip


def _images(ds: Any, indices: list[int], image_key: str) -> dict[int, list[bytes]]:
    """The encoded bytes of the images of rows `indices` (only those rows are read)."""
    if image_key not in ds.column_names or not indices:
        return {}
    out = {}
    for i, value in zip(indices, ds.select(indices)[image_key]):
        items = value if isinstance(value, list) else [value]
        out[i] = [x["bytes"] for x in items if isinstance(x, dict) and isinstance(x.get("bytes"), bytes)]
    return out


def _rows(ds: Any, qas_key: str) -> tuple[list[dict], list[str]]:
    """Light row dicts (pairs, article, check columns; no images) and each row's review id."""
    top = qas_key.split(".")[0]
    names = [c for c in (top, *_SAMPLE_COLUMNS) if c in ds.column_names]
    rows = [dict(r, row=i) for i, r in enumerate(ds.select_columns(names))]
    ids = []
    for i, row in enumerate(rows):
        article = (row.get(top) or {}).get("context") if "." in qas_key else None
        ids.append(row_id(i, pairs_at(row, qas_key) or [], article))
    return rows, ids


def export_review(
    folder: str | os.PathLike,
    *,
    url: str | None = None,
    project: str | None = None,
    file: str | os.PathLike | None = None,
    sample: int | None = None,
    seed: int = 0,
    where: tuple[str, ...] | list[str] = (),
    image_key: str = "image",
    split: str = "train",
) -> ExportReport:
    """Send a reproducible sample of the output's rows to Label Studio at `url` (project `project`), or
    write them to `file` in Label Studio's import format. Rows already in the project are not sent again."""
    from hf_vqa.review.files import data_url, image_mime, write_tasks_file

    ds, qas_key = read_review_input(folder, split)
    check_where(list(where), ds.column_names)
    rows, ids = _rows(ds, qas_key)
    picked = sample_rows(rows, qas_key, n=sample, seed=seed, where=list(where))
    no_pairs = sum(1 for r in rows if not pairs_at(r, qas_key))
    config = labeling_config(article="." in qas_key)
    if file is not None:
        images = _images(ds, picked, image_key)
        tasks = [build_task(rows[i], qas_key, images=[data_url(b) for b in images.get(i, [])],
                            hf_vqa_id=ids[i]) for i in picked]  # fmt: skip
        path = write_tasks_file(tasks, file, config)
        count = sum(len(t["data"]["images"]) for t in tasks)
        return ExportReport(len(picked), len(tasks), 0, count, str(path), no_pairs)
    from hf_vqa.review.labelstudio import MEDIA_CONFIG, LabelStudio

    ls = LabelStudio(url or "")
    title = _title(project, folder)
    target, _ = ls.ensure_project(title, config)
    there = {str((t.get("data") or {}).get("hf_vqa_id")) for t in ls.export_tasks(target["id"])}
    todo = [i for i in picked if ids[i] not in there]
    media = ls.ensure_project(f"{title} (images)", MEDIA_CONFIG)[0] if todo else None
    images = _images(ds, todo, image_key)
    sent = 0
    for start in range(0, len(todo), _CHUNK):
        chunk = todo[start : start + _CHUNK]
        files = {
            i: [(f"hfvqa-{ids[i]}-{j}.{image_mime(b)[1]}", b) for j, b in enumerate(images.get(i, []))]
            for i in chunk
        }
        urls = ls.upload_images(media["id"], [f for named in files.values() for f in named])
        sent += len(urls)
        tasks = [build_task(rows[i], qas_key, images=[urls[name] for name, _ in files[i]], hf_vqa_id=ids[i])
                 for i in chunk]  # fmt: skip
        ls.import_tasks(target["id"], tasks)
    where_to = f"project {title!r} (id {target['id']}) at {ls.host}"
    return ExportReport(len(picked), len(todo), len(picked) - len(todo), sent, where_to, no_pairs)


def import_review(
    folder: str | os.PathLike,
    output: str | os.PathLike,
    *,
    url: str | None = None,
    project: str | None = None,
    file: str | os.PathLike | None = None,
    approved_only: bool = False,
    fixes: bool = False,
    split: str = "train",
) -> ImportReport:
    """Read people's annotations (Label Studio at `url`, project `project`; or Label Studio's JSON export
    `file`) and write `output`: the input with `qa_human`, corrections applied and unapproved pairs
    dropped when asked, and a "Human review" section in the card."""
    from hf_vqa.publish.card_review import with_human_review
    from hf_vqa.publish.folder import save_folder

    ds, qas_key = read_review_input(folder, split)
    rows, ids = _rows(ds, qas_key)
    source = f"the file {Path(file).name}" if file is not None else ""  # no machine path in the card
    if file is not None:
        from hf_vqa.review.files import read_tasks_file

        tasks = read_tasks_file(file)
    else:
        from hf_vqa.review.labelstudio import LabelStudio

        ls = LabelStudio(url or "")
        title = _title(project, folder)
        found = ls.find_project(title)
        if found is None:
            raise InputError("no such Label Studio project", received=f"{title!r} at {ls.host}",
                             fix="pass the --project name the export used (see its output line)")  # fmt: skip
        tasks = ls.export_tasks(found["id"])
        source = f"Label Studio project {title!r} at {ls.host}"
    column, report = human_column(ids, [len(pairs_at(r, qas_key) or []) for r in rows], tasks)
    if HUMAN_COLUMN in ds.column_names:
        ds = ds.remove_columns(HUMAN_COLUMN)
    ds = ds.add_column(HUMAN_COLUMN, column, feature=human_feature())
    report.agreement = _agreement(ds)
    if fixes:
        ds, report.fixes_applied = apply_fixes(ds, qas_key)
    if approved_only:
        ds, report.filter = keep_approved(ds, qas_key)
    readme = Path(folder) / "README.md"
    card = with_human_review(readme.read_text(encoding="utf-8") if readme.is_file() else "", report.to_dict(),
                             source=source, rows=len(rows))  # fmt: skip
    save_folder(ds, output, card=card, split=split)
    return report


def _agreement(ds: Any) -> str | None:
    """The verify pass's judge against people (its `judge_agreement`), when the data was verified."""
    if "qa_verdicts" not in ds.column_names:
        return None
    from hf_vqa.quality.agreement import judge_agreement

    return judge_agreement(ds, ds).line()
