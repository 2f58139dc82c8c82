"""Training exports: TRL's vision SFT format and LLaVA's JSON, plus the checks a trainer relies on.

- `export_trl`: a `Dataset` with `messages` (user turn: one `{"type": "image"}` part per image, then
  the question; assistant turn: the answer) and `images`. One row per QA pair, or one multi-turn
  dialogue per image row with `multi_turn=True`. Pass it to `trl.SFTTrainer` as `train_dataset`.
- `export_trl_prompt_completion`: `prompt` (the user turn) + `completion` (the answer) + `images`, one
  pair per row: TRL then trains on the answers only (`completion_only_loss`, on by default for this
  format). With `messages`, TRL's loss covers the questions too unless `assistant_only_loss=True` and
  the chat template marks assistant turns with `{% generation %}`. For vision models TRL advises
  `SFTConfig(max_length=None)`, so that image tokens are never cut.
- LLaVA (`hf_vqa.publish.llava`, re-exported here): `export_llava` for the original loader (one image
  per record), `export_llava_onevision` for several images per record.
- The seed's JSON records are `export.export_records`.

Rows without parsed pairs (failed requests, unparsable replies) are skipped. For context-vqa data the
pairs are in `context_vqa.qas`, and the article they were answered from goes in the (first) user turn
(`Context:\\n<article>\\n\\nQuestion: <question>`, as SK-VQA trains), in every export; filter on the
checks first if you like, e.g.
`ds.filter(lambda r: r["all_grounded"] and not r["has_leak"])`.

Example:
    >>> trl_ds = export_trl(ds, multi_turn=True)  # doctest: +SKIP
    >>> trl_ds[0]["messages"][0]["content"][0]  # doctest: +SKIP
    {'type': 'image', 'text': None}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
from datasets import Features, Image, List, Value

from hf_vqa.errors import InputError
from hf_vqa.publish.folder import embed_images
from hf_vqa.publish.llava import check_llava_record, export_llava, export_llava_onevision, write_llava
from hf_vqa.publish.pairs import article_of, qa_pairs, resolve_qas_key, user_text

PART = {"type": Value("string"), "text": Value("string")}
MESSAGES = List({"role": Value("string"), "content": List(PART)})
TRL_FEATURES = Features({"messages": MESSAGES, "images": List(Image())})
PROMPT_COMPLETION_FEATURES = Features({"prompt": MESSAGES, "completion": MESSAGES, "images": List(Image())})


def export_trl(
    ds: datasets.Dataset, *, multi_turn: bool = False, qas_key: str = "qas", image_key: str = "image"
) -> datasets.Dataset:
    """TRL vision-SFT rows: `messages` + `images` (see the module docstring).

    Example:
        >>> export_trl(ds).column_names  # doctest: +SKIP
        ['messages', 'images']
    """
    qas_key = resolve_qas_key(ds, qas_key)
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
            article = article_of({top: qas}, qas_key)  # context-vqa: the article goes in the user turn
            for chunk in [pairs] if multi_turn else [[p] for p in pairs]:
                if chunk:
                    out["messages"].append(_messages(chunk, len(images), article))
                    out["images"].append(images)
        return out

    feats = Features({**TRL_FEATURES, "images": List(Image(decode=False))})
    rows = source.map(
        to_rows, batched=True, remove_columns=source.column_names, features=feats, desc="TRL export"
    )
    return rows.cast_column("images", List(Image()))


def export_trl_prompt_completion(
    ds: datasets.Dataset, *, qas_key: str = "qas", image_key: str = "image"
) -> datasets.Dataset:
    """TRL prompt-completion rows (one pair each): `prompt` = the user turn (image parts, then the
    question), `completion` = the assistant's answer, `images`. TRL computes the loss on the completion only.

    Example:
        >>> export_trl_prompt_completion(ds).column_names  # doctest: +SKIP
        ['prompt', 'completion', 'images']
    """
    rows = export_trl(ds, qas_key=qas_key, image_key=image_key)

    def split(batch: dict[str, list]) -> dict[str, list]:
        return {
            "prompt": [m[:-1] for m in batch["messages"]],
            "completion": [m[-1:] for m in batch["messages"]],
        }

    return rows.map(
        split, batched=True, remove_columns=["messages"], desc="prompt/completion"
    ).select_columns(["prompt", "completion", "images"])


def write_trl(ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """The `trl` export: one QA pair per row, saved as a folder that `load_dataset` reads."""
    return _save_trl(ds, target, image_key=image_key, multi_turn=False)


def write_trl_multiturn(ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """The `trl-multiturn` export: one dialogue per image, saved as a folder."""
    return _save_trl(ds, target, image_key=image_key, multi_turn=True)


def write_trl_prompt_completion(ds: datasets.Dataset, target: Path, *, image_key: str = "image") -> str:
    """The `trl-prompt-completion` export: answers-only training, saved as a folder."""
    return _save_trl(ds, target, image_key=image_key, multi_turn=False, prompt_completion=True)


def _save_trl(
    ds: datasets.Dataset, target: Path, *, image_key: str, multi_turn: bool, prompt_completion: bool = False
) -> str:
    from hf_vqa.publish.folder import save_folder

    if prompt_completion:
        rows = export_trl_prompt_completion(ds, image_key=image_key)
    else:
        rows = export_trl(ds, multi_turn=multi_turn, image_key=image_key)
    turns = "one multi-turn dialogue per image" if multi_turn else "one QA pair per row"
    columns = "`prompt`, `completion` and `images`" if prompt_completion else "`messages` and `images`"
    card = (
        # no `configs:` block: datasets finds data/train-* itself, keyed on the files, so a re-export is
        # never read back stale by load_dataset(folder) (see card.build_card)
        "---\ntags:\n- hf-vqa\n- trl\n---\n"
        f"# TRL vision SFT export ({turns}, {len(rows)} rows)\n\n"
        f"Columns {columns}, as `trl.SFTTrainer` expects for vision-language models"
        " (use `SFTConfig(max_length=None)` so image tokens are never cut).\n"
    )
    save_folder(rows, target, card=card)
    name = "trl-prompt-completion" if prompt_completion else "trl-multiturn" if multi_turn else "trl"
    return f"exported {name}: {target} ({len(rows)} rows; datasets.load_dataset({str(target)!r}))"


def check_trl_row(row: dict[str, Any]) -> list[str]:
    """Problems TRL's vision collator would hit (empty list = fine), checked without a processor.

    Reads `messages` rows and prompt-completion rows (`prompt` ending in a user turn, `completion`
    holding only assistant turns).

    Example:
        >>> check_trl_row({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        ...                "images": []})
        ['the last message is from user, not assistant']
    """
    if "prompt" in row or "completion" in row:
        prompt, completion = row.get("prompt") or [], row.get("completion") or []
        problems = []
        if not prompt or prompt[-1].get("role") != "user":
            problems.append("the prompt does not end with a user turn")
        if not completion or any(m.get("role") != "assistant" for m in completion):
            problems.append("the completion is not assistant turns only")
        return problems + check_trl_row({"messages": [*prompt, *completion], "images": row.get("images")})
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


def _messages(pairs: list[tuple[str, str]], n_images: int, article: str = "") -> list[dict]:
    messages = []
    for turn, (question, answer) in enumerate(pairs):
        parts = [{"type": "image", "text": None}] * (n_images if turn == 0 else 0)
        text = user_text(question, article if turn == 0 else "")
        messages.append({"role": "user", "content": [*parts, {"type": "text", "text": text}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


__all__ = [
    "PROMPT_COMPLETION_FEATURES",
    "TRL_FEATURES",
    "article_of",
    "check_llava_record",
    "check_trl_row",
    "export_llava",
    "export_llava_onevision",
    "export_trl",
    "export_trl_prompt_completion",
    "qa_pairs",
    "resolve_qas_key",
    "user_text",
    "write_llava",
    "write_trl",
    "write_trl_multiturn",
    "write_trl_prompt_completion",
]
