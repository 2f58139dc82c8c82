"""One rule for every model family's special tokens and reasoning markers, applied before parsing.

- chat-template tokens `<|…|>` (Qwen/InternVL `<|im_end|>`, GLM-4.5V `<|begin_of_box|>`, Llama
  `<|eot_id|>`), with a role word right after a start token (`<|im_start|>assistant`);
- Kimi-VL's `◁…▷` markers; word tokens in angle brackets with an underscore or a known name
  (Idefics `<end_of_utterance>`, Gemma `<start_of_turn>model` / `<end_of_turn>`, `</s>`, `<eos>`);
- think-like blocks, paired (`<think>…</think>`, `<thinking>`, `<reasoning>`, `<reflection>`, `<thought>`,
  `<analysis>`, `◁think▷…◁/think▷`) or not: a closing tag with no opening one drops everything before it;
  an opening tag that is never closed drops everything after it (the reasoning was cut off);
- wrapper tags around the answer (`<answer>`, `<output>`, `<response>`, `<final_answer>`, `<result>`) go,
  their content stays.

Example:
    >>> strip_special("◁think▷red tram◁/think▷<|begin_of_box|>Q: Colour?\\nA: Red<|end_of_box|>")
    'Q: Colour?\\nA: Red'
    >>> strip_special("reasoning that lost its opening tag</think>\\nQ: Why?\\nA: So.")
    '\\nQ: Why?\\nA: So.'
"""

from __future__ import annotations

import re

__all__ = ["strip_special"]

_NAMES = r"think|thinking|thought|thoughts|reasoning|reflection|analysis|scratchpad"
_OPEN = re.compile(rf"(?:<|◁)\s*(?:{_NAMES})\s*(?:>|▷)", re.IGNORECASE)
_CLOSE = re.compile(rf"(?:<|◁)\s*/\s*(?:{_NAMES})\s*(?:>|▷)", re.IGNORECASE)
_CHAT_TOKEN = re.compile(r"<\|[^|<>\n]{1,60}\|>(?:(?:assistant|user|system)\b[ \t]*\n?)?")
_KIMI_TOKEN = re.compile(r"◁[^◁▷\n]{1,60}▷")
_WORD_TOKEN = re.compile(
    r"</?(?:[a-z]{1,20}(?:_[a-z]{1,20}){1,5}|s|eos|bos|eot|pad|unk)>(?:(?:assistant|user|system|model)\b[ \t]*\n?)?"
)
_WRAPPER = re.compile(r"</?\s*(?:answer|output|response|final_answer|final|result)\s*>", re.IGNORECASE)


def strip_special(text: str) -> str:
    """`text` without special tokens and reasoning blocks (see the module docstring)."""
    if "<" not in text and "◁" not in text:  # every pattern here starts with one of them
        return text
    while (close := _CLOSE.search(text)) and not _OPEN.search(text, 0, close.start()):
        text = text[close.end() :]  # an unpaired closing tag: what came before was reasoning
    out, pos = [], 0
    while opened := _OPEN.search(text, pos):
        out.append(text[pos : opened.start()])
        close = _CLOSE.search(text, opened.end())
        pos = len(text) if close is None else close.end()
    out.append(text[pos:])
    text = "".join(out)
    text = _WRAPPER.sub("", _KIMI_TOKEN.sub("", _CHAT_TOKEN.sub("", text)))
    return _WORD_TOKEN.sub("", text)
