"""Training exports: TRL's vision SFT format and LLaVA's JSON, plus the checks a trainer relies on.

- `export_trl`: a `Dataset` with `messages` (user turn: one `{"type": "image"}` part per image, then
  the question; assistant turn: the answer) and `images`. One row per QA pair, or one multi-turn
  dialogue per image row with `multi_turn=True`. Pass it to `trl.SFTTrainer` as `train_dataset`.
- `export_llava`: `llava.json` (a list of `{id, image, conversations}`) with the images in `images/`.
- The seed's JSON records are `export.export_records`.

Rows without parsed pairs (failed requests, unparsable replies) are skipped. For context-vqa data the
pairs are in `context_vqa.qas`; filter on the checks first if you like, e.g.
`ds.filter(lambda r: r["all_grounded"] and not r["has_leak"])`.

Example:
    >>> trl_ds = export_trl(ds, multi_turn=True)  # doctest: +SKIP
    >>> trl_ds[0]["messages"][0]["content"][0]  # doctest: +SKIP
    {'type': 'image', 'text': None}
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import datasets
from datasets import Features, Image, List, Value

from hf_vqa.errors import InputError
from hf_vqa.publish.folder import embed_images

PART = {"type": Value("string"), "text": Value("string")}
TRL_FEATURES = Features(
    {"messages": List({"role": Value("string"), "content": List(PART)}), "images": List(Image())}
)


def qa_pairs(row: dict[str, Any], qas_key: str) -> list[tuple[str, str]]:
    """The non-empty `(question, answer)` pairs of a row; `qas_key` may be dotted (`context_vqa.qas`).

    Example:
        >>> qa_pairs({"context_vqa": {"qas": [{"question": "Q?", "answer": "A"}]}}, "context_vqa.qas")
        [('Q?', 'A')]
    """
    value: Any = row
    for part in qas_key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    pairs = [((p.get("question") or "").strip(), (p.get("answer") or "").strip()) for p in value or []]
    return [(q, a) for q, a in pairs if q and a]


def export_trl(
    ds: datasets.Dataset, *, multi_turn: bool = False, qas_key: str = "qas", image_key: str = "image"
) -> datasets.Dataset:
    """TRL vision-SFT rows: `messages` + `images` (see the module docstring).

    Example:
        >>> export_trl(ds).column_names  # doctest: +SKIP
        ['messages', 'images']
    """
    qas_key = _qas_key(ds, qas_key)
    top = qas_key.split(".")[0]
    if image_key not in ds.column_names:
        raise InputError("no image column", received=ds.column_names, fix="pass image_key='<column>'")
    source = embed_images(ds.select_columns([image_key, top]))  # self-contained rows

    def to_rows(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {"messages": [], "images": []}
        for images, qas in zip(batch[image_key], batch[top]):
            images = images if isinstance(images, list) else [images]
            if not all(im and im.get("bytes") for im in images):
                continue  # an image that could not be read: its row failed, or the file is gone
            pairs = qa_pairs({top: qas}, qas_key)
            for chunk in [pairs] if multi_turn else [[p] for p in pairs]:
                if chunk:
                    out["messages"].append(_messages(chunk, len(images)))
                    out["images"].append(images)
        return out

    feats = Features({**TRL_FEATURES, "images": List(Image(decode=False))})
    rows = source.map(
        to_rows, batched=True, remove_columns=source.column_names, features=feats, desc="TRL export"
    )
    return rows.cast_column("images", List(Image()))


def export_llava(
    ds: datasets.Dataset,
    folder: str | os.PathLike,
    *,
    multi_turn: bool = True,
    qas_key: str = "qas",
    image_key: str = "image",
) -> Path:
    """Write `folder/llava.json` and `folder/images/*`; return the JSON path.

    One record per image row with all its pairs as turns (`multi_turn=False`: one record per pair).

    Example:
        >>> export_llava(ds, "out/llava")  # doctest: +SKIP
        PosixPath('out/llava/llava.json')
    """
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    qas_key = _qas_key(ds, qas_key)
    top = qas_key.split(".")[0]
    source = embed_images(ds.select_columns([image_key, top]))
    records = []
    for index, row in enumerate(source):
        pairs = qa_pairs(row, qas_key)
        images = row[image_key] if isinstance(row[image_key], list) else [row[image_key]]
        if not pairs or not all(im and im.get("bytes") for im in images):
            continue  # a failed row, or an image that could not be read
        names = [_write_image(im, folder / "images", f"{index:06d}_{j}") for j, im in enumerate(images) if im]
        image: str | list[str] = names[0] if len(names) == 1 else names
        for k, chunk in enumerate([pairs] if multi_turn else [[p] for p in pairs]):
            turns = []
            for turn, (question, answer) in enumerate(chunk):
                prefix = "<image>\n" * len(names) if turn == 0 else ""
                turns += [{"from": "human", "value": prefix + question}, {"from": "gpt", "value": answer}]
            rid = f"{index:06d}" if multi_turn else f"{index:06d}_{k}"
            records.append({"id": rid, "image": image, "conversations": turns})
    path = folder / "llava.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def write_trl(ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """The `trl` export: one QA pair per row, saved as a folder that `load_dataset` reads."""
    return _save_trl(ds, target, image_key=image_key, multi_turn=False)


def write_trl_multiturn(ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """The `trl-multiturn` export: one dialogue per image, saved as a folder."""
    return _save_trl(ds, target, image_key=image_key, multi_turn=True)


def write_llava(ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """The `llava` export: `target/llava.json` plus `target/images/`."""
    return f"exported llava: {export_llava(ds, target, image_key=image_key)}"


def _save_trl(ds: datasets.Dataset, target: Path, *, image_key: str, multi_turn: bool) -> str:
    from hf_vqa.publish.folder import save_folder

    rows = export_trl(ds, multi_turn=multi_turn, image_key=image_key)
    turns = "one multi-turn dialogue per image" if multi_turn else "one QA pair per row"
    card = (
        "---\ntags:\n- hf-vqa\n- trl\nconfigs:\n- config_name: default\n  data_files:\n"
        "  - split: train\n    path: data/train-*\n---\n"
        f"# TRL vision SFT export ({turns}, {len(rows)} rows)\n\n"
        "Columns `messages` and `images`, as `trl.SFTTrainer` expects for vision-language models.\n"
    )
    save_folder(rows, target, card=card)
    name = "trl-multiturn" if multi_turn else "trl"
    return f"exported {name}: {target} ({len(rows)} rows; datasets.load_dataset({str(target)!r}))"


def check_trl_row(row: dict[str, Any]) -> list[str]:
    """Problems TRL's vision collator would hit (empty list = fine), checked without a processor.

    Example:
        >>> check_trl_row({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        ...                "images": []})
        ['the last message is from user, not assistant']
    """
    problems = []
    messages, images = row.get("messages") or [], row.get("images") or []
    if not messages:
        return ["no messages"]
    for i, msg in enumerate(messages):
        want = "user" if i % 2 == 0 else "assistant"
        if msg.get("role") != want:
            problems.append(f"message {i} has role {msg.get('role')!r}, expected {want!r}")
        if not isinstance(msg.get("content"), list) or not msg["content"]:
            problems.append(f"message {i} content is not a non-empty list of parts")
            continue
        for part in msg["content"]:
            kind = part.get("type")
            if kind not in ("image", "text"):
                problems.append(f"message {i} has a part of type {kind!r}")
            elif kind == "text" and not (isinstance(part.get("text"), str) and part["text"].strip()):
                problems.append(f"message {i} has an empty text part")
            elif kind == "image" and msg.get("role") != "user":
                problems.append(f"message {i} ({msg.get('role')}) holds an image part")
    if messages[-1].get("role") != "assistant":
        problems.append(f"the last message is from {messages[-1].get('role')}, not assistant")
    parts = sum(p.get("type") == "image" for m in messages for p in (m.get("content") or []))
    if parts != len(images):
        problems.append(f"{parts} image part(s) but {len(images)} image(s)")
    return problems


def check_llava_record(record: dict[str, Any], folder: str | os.PathLike) -> list[str]:
    """Problems in one LLaVA record: keys, human/gpt turns, one `<image>` per image, files present."""
    problems = [f"missing key {k!r}" for k in ("id", "image", "conversations") if k not in record]
    if problems:
        return problems
    images = record["image"] if isinstance(record["image"], list) else [record["image"]]
    for name in images:
        if not (Path(folder) / name).is_file():
            problems.append(f"image file {name} does not exist")
    turns = record["conversations"]
    if not turns or len(turns) % 2:
        problems.append(f"{len(turns)} turns; expected human/gpt pairs")
    for i, turn in enumerate(turns):
        want = "human" if i % 2 == 0 else "gpt"
        if turn.get("from") != want or not str(turn.get("value") or "").strip():
            problems.append(f"turn {i} is not a non-empty {want!r} turn")
        tokens = str(turn.get("value") or "").count("<image>")
        expected = len(images) if i == 0 else 0
        if tokens != expected:
            problems.append(f"turn {i} has {tokens} <image> token(s), expected {expected}")
    return problems


def _messages(pairs: list[tuple[str, str]], n_images: int) -> list[dict]:
    messages = []
    for turn, (question, answer) in enumerate(pairs):
        parts = [{"type": "image", "text": None}] * (n_images if turn == 0 else 0)
        messages.append({"role": "user", "content": [*parts, {"type": "text", "text": question}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


def _qas_key(ds: datasets.Dataset, qas_key: str) -> str:
    if qas_key.split(".")[0] in ds.column_names:
        return qas_key
    if qas_key == "qas" and "context_vqa" in ds.column_names:
        return "context_vqa.qas"
    raise InputError(
        f"no {qas_key!r} column to export",
        received=ds.column_names,
        fix="export the output of a pipeline (image-vqa: qas; context-vqa: context_vqa.qas) or pass qas_key=",
    )


def _write_image(value: dict, folder: Path, stem: str) -> str:
    from PIL import Image as PILImage

    data = value["bytes"]
    with PILImage.open(io.BytesIO(data)) as im:
        ext = {"JPEG": "jpg", "MPO": "jpg"}.get(im.format or "", (im.format or "png").lower())
    (folder / f"{stem}.{ext}").write_bytes(data)
    return f"images/{stem}.{ext}"


__all__ = [
    "check_llava_record",
    "check_trl_row",
    "export_llava",
    "export_trl",
    "qa_pairs",
    "write_llava",
    "write_trl",
    "write_trl_multiturn",
]
