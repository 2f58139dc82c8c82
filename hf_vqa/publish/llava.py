"""LLaVA exports, each named after the loader that reads it, and the check that says what that loader rejects.

- `llava` (`export_llava`): the original LLaVA `LazySupervisedDataset` format. `image` is ONE path (the
  loader calls `Image.open(os.path.join(image_folder, record["image"]))`) and the first human turn holds
  exactly one `<image>` token. A row with two or more images cannot be written this way: it is skipped
  and counted, and the message points to `llava-onevision`.
- `llava-onevision` (`export_llava_onevision`): the LLaVA-NeXT / LLaVA-OneVision format, whose loader
  also accepts a list (`if type(image_file) is list: ...`). `image` is a string for one image and a list
  for several; the first human turn holds one `<image>` token per image, in order.

Both write `folder/llava.json` (a list of `{id, image, conversations}`) and `folder/images/*`.

Example:
    >>> path, written, skipped = write_llava_json(ds, "out/llava", loader="llava")  # doctest: +SKIP
    >>> [check_llava_record(r, "out/llava") for r in json.loads(path.read_text())][:1]  # doctest: +SKIP
    [[]]
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import datasets

from hf_vqa.publish.atomic import replacing
from hf_vqa.publish.folder import embed_images
from hf_vqa.publish.pairs import article_of, qa_pairs, resolve_qas_key, user_text

__all__ = [
    "LOADERS",
    "check_llava_record",
    "export_llava",
    "export_llava_onevision",
    "write_llava",
    "write_llava_json",
    "write_llava_onevision",
    "write_sharegpt",
]

LOADERS = ("llava", "llava-onevision", "sharegpt")
_FILE = {"llava": "llava.json", "llava-onevision": "llava.json", "sharegpt": "sharegpt.json"}


def write_llava_json(
    ds: datasets.Dataset,
    folder: str | os.PathLike,
    *,
    loader: str = "llava",
    multi_turn: bool = True,
    qas_key: str = "qas",
    image_key: str = "image",
) -> tuple[Path, int, int]:
    """Write `folder/llava.json` (`sharegpt.json`) + `folder/images/*` for `loader`; return (path, records,
    rows skipped because they hold more images than the loader reads).

    `sharegpt` writes ShareGPT conversations as LLaMA-Factory reads them: `conversations` (human and gpt
    turns, `<image>` tokens in the first) and `images`, a list of paths relative to the JSON file.
    """
    if loader not in LOADERS:
        raise ValueError(f"unknown LLaVA loader {loader!r}; use one of {LOADERS}")
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    qas_key = resolve_qas_key(ds, qas_key)
    top = qas_key.split(".")[0]
    source = embed_images(ds.select_columns([image_key, top]))
    records, skipped = [], 0
    for index, row in enumerate(source):
        pairs = qa_pairs(row, qas_key)
        article = article_of(row, qas_key)  # context-vqa: the article goes in the first human turn
        images = row[image_key] if isinstance(row[image_key], list) else [row[image_key]]
        if not pairs or not images or not all(im and im.get("bytes") for im in images):
            continue  # a failed row, or an image that could not be read
        if loader == "llava" and len(images) > 1:
            skipped += 1  # the original loader opens one path per record
            continue
        names = [_write_image(im, folder / "images", f"{index:06d}_{j}") for j, im in enumerate(images)]
        image: str | list[str] = names[0] if len(names) == 1 else names
        for k, chunk in enumerate([pairs] if multi_turn else [[p] for p in pairs]):
            turns = []
            for turn, (question, answer) in enumerate(chunk):
                prefix = "<image>\n" * len(names) if turn == 0 else ""
                text = user_text(question, article if turn == 0 else "")
                turns += [{"from": "human", "value": prefix + text}, {"from": "gpt", "value": answer}]
            rid = f"{index:06d}" if multi_turn else f"{index:06d}_{k}"
            if loader == "sharegpt":
                records.append({"id": rid, "conversations": turns, "images": names})
            else:
                records.append({"id": rid, "image": image, "conversations": turns})
    path = folder / _FILE[loader]
    with replacing(path) as tmp:  # the old file stays until the new one is complete
        tmp.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    return path, len(records), skipped


def export_llava(
    ds: datasets.Dataset,
    folder: str | os.PathLike,
    *,
    multi_turn: bool = True,
    qas_key: str = "qas",
    image_key: str = "image",
) -> Path:
    """The original LLaVA format (one image per record; rows with more images are skipped); the JSON path.

    One record per image row with all its pairs as turns (`multi_turn=False`: one record per pair).

    Example:
        >>> export_llava(ds, "out/llava")  # doctest: +SKIP
        PosixPath('out/llava/llava.json')
    """
    return write_llava_json(ds, folder, loader="llava", multi_turn=multi_turn, qas_key=qas_key,
                            image_key=image_key)[0]  # fmt: skip


def export_llava_onevision(
    ds: datasets.Dataset,
    folder: str | os.PathLike,
    *,
    multi_turn: bool = True,
    qas_key: str = "qas",
    image_key: str = "image",
) -> Path:
    """The LLaVA-OneVision format (`image` a list when a row has several); the JSON path.

    Example:
        >>> export_llava_onevision(ds, "out/llava_ov")  # doctest: +SKIP
        PosixPath('out/llava_ov/llava.json')
    """
    return write_llava_json(ds, folder, loader="llava-onevision", multi_turn=multi_turn, qas_key=qas_key,
                            image_key=image_key)[0]  # fmt: skip


def write_llava(ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """The `llava` export (original loader: one image per record)."""
    path, written, skipped = write_llava_json(ds, target, loader="llava", image_key=image_key)
    line = f"exported llava: {path} ({written} records)"
    if skipped:
        line += (f"; skipped {skipped} row(s) with several images, which the original LLaVA loader cannot "
                 "open (use --export llava-onevision for them)")  # fmt: skip
    return line


def write_sharegpt(ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """The `sharegpt` export: ShareGPT conversations (one per image row, all its pairs as human/gpt turns)
    in `target/sharegpt.json`, images in `target/images/` named relative to it."""
    path, written, _ = write_llava_json(ds, target, loader="sharegpt", image_key=image_key)
    return f"exported sharegpt: {path} ({written} conversations)"


def write_llava_onevision(ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """The `llava-onevision` export (LLaVA-NeXT/OneVision loader: `image` may be a list)."""
    path, written, _ = write_llava_json(ds, target, loader="llava-onevision", image_key=image_key)
    return f"exported llava-onevision: {path} ({written} records)"


def check_llava_record(
    record: dict[str, Any], folder: str | os.PathLike, *, loader: str = "llava"
) -> list[str]:
    """Problems that `loader` (`"llava"`: the original; `"llava-onevision"`) would hit with one record.

    Both: keys `id`/`image`/`conversations`, alternating non-empty human/gpt turns, image files present,
    `<image>` tokens only in the first human turn. `llava`: `image` must be one path (a list, even of one,
    fails in `os.path.join`) and the first turn holds exactly one `<image>`. `llava-onevision`: one
    `<image>` per image.

    Example:
        >>> record = {"id": "1", "image": ["a.png", "b.png"], "conversations": []}
        >>> check_llava_record(record, ".")[0]
        'image is a list of 2; the original LLaVA loader opens one path per record (export llava-onevision for several images)'
        >>> check_llava_record(record, ".", loader="llava-onevision")[0]
        'image file a.png does not exist'
    """
    problems = [f"missing key {k!r}" for k in ("id", "image", "conversations") if k not in record]
    if problems:
        return problems
    value = record["image"]
    images = value if isinstance(value, list) else [value]
    if loader == "llava" and not isinstance(value, str):
        kind = f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__
        problems.append(f"image is {kind}; the original LLaVA loader opens one path per record"
                        " (export llava-onevision for several images)")  # fmt: skip
    if not images or not all(isinstance(name, str) and name for name in images):
        problems.append("image holds no path")
        images = [name for name in images if isinstance(name, str) and name]
    for name in images:
        if not (Path(folder) / name).is_file():
            problems.append(f"image file {name} does not exist")
    turns = record["conversations"] if isinstance(record["conversations"], list) else []
    if not turns or len(turns) % 2:
        problems.append(f"{len(turns)} turns; expected human/gpt pairs")
    for i, turn in enumerate(turns):
        want = "human" if i % 2 == 0 else "gpt"
        if not isinstance(turn, dict) or turn.get("from") != want or not str(turn.get("value") or "").strip():
            problems.append(f"turn {i} is not a non-empty {want!r} turn")
            continue
        tokens = str(turn.get("value") or "").count("<image>")
        expected = (1 if loader == "llava" else len(images)) if i == 0 else 0
        if tokens != expected:
            problems.append(f"turn {i} has {tokens} <image> token(s), expected {expected}")
    return problems


def _write_image(value: dict, folder: Path, stem: str) -> str:
    from PIL import Image as PILImage

    data = value["bytes"]
    with PILImage.open(io.BytesIO(data)) as im:
        ext = {"JPEG": "jpg", "MPO": "jpg"}.get(im.format or "", (im.format or "png").lower())
    (folder / f"{stem}.{ext}").write_bytes(data)
    return f"images/{stem}.{ext}"
