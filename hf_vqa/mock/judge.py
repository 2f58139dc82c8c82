"""The mock VLM as a judge and as a blind model: honest, from what it knows of each image.

The mock knows each image's truth (its size and mean colour: the tag ``"<W>x<H> rgb(R,G,B)"`` it writes
into its own answers). As a judge (a request whose system prompt is hf_vqa's judge prompt) it reads the
numbered pairs and the article from the request and compares each answer with that truth:

- "What are the dimensions and colour of image i ..." → correct only if the answer is image i's tag;
- "Is image i wider than it is tall?" → correct only if yes/no matches image i's shape;
- any other question, with an article (context-vqa) → correct only if the answer is written in the
  article (grounding's matching; the article is the row's own, which the mock wrote from the image);
- any other question, no article ("Which prompt was I given?") → not answerable from the image, and
  nothing in it contradicts the answer: answerable no, correct yes.

So answers moved between rows are caught (another image's tag, another article's facts) and right ones
pass. As a blind model (no image; the system prompt says none is available) it answers yes/no questions
"Yes." and says it cannot tell otherwise: pairs whose answer is "yes" come out guessable.

Example:
    >>> from hf_vqa.mock.images import ImageInfo
    >>> red = ImageInfo(64, 48, (200, 0, 0), "PNG")
    >>> text = "Pairs:\\n[1] Q: What are the dimensions and colour of image 1?\\n    A: 64x48 rgb(200,0,0)\\n[2] Q: Is image 1 wider than it is tall?\\n    A: no"
    >>> [v["correct"] for v in judge_verdicts([red], text)]
    [True, False]
"""

from __future__ import annotations

import json
import re

from hf_vqa.mock.images import ImageInfo

__all__ = ["blind_answer", "is_blind", "is_judge", "judge_content", "judge_verdicts"]

_PAIR = re.compile(r"^\[(\d+)\] Q: (.*)\n    A: (.*)$", re.MULTILINE)
_ARTICLE = re.compile(r"^Article:\n(.*)$", re.MULTILINE)
_TAG_Q = re.compile(r"dimensions and colou?r of image (\d+)", re.IGNORECASE)
_SHAPE_Q = re.compile(r"is image (\d+) wider than it is tall", re.IGNORECASE)


def is_judge(system_text: str) -> bool:
    """True for hf_vqa's judge requests (its system prompt)."""
    return "You check question-answer pairs" in system_text


def is_blind(system_text: str) -> bool:
    """True for hf_vqa's blind-pass requests (no image; its system prompt says so)."""
    return "No image is available to you" in system_text


def _norm(text: str) -> str:
    return " ".join(text.lower().replace(" ", "").split())


def _verdict(images: list[ImageInfo], article: str | None, question: str, answer: str) -> dict:
    tag_q, shape_q = _TAG_Q.search(question), _SHAPE_Q.search(question)
    found = tag_q or shape_q
    if found:
        i = int(found.group(1))
        if not 1 <= i <= len(images):
            return {"answerable": False, "correct": False, "reason": f"there is no image {i}"}
        info = images[i - 1]
        if tag_q:
            ok = _norm(answer).strip(".") == _norm(info.tag)
            why = f"image {i} measures {info.tag}" + ("" if ok else f", not {answer}")
        else:
            truth = "yes" if info.width > info.height else "no"
            ok = answer.strip().lower().rstrip(".").split(",")[0].strip() == truth
            why = f"image {i} is {info.width}x{info.height}: the answer is {truth}"
        return {"answerable": True, "correct": ok, "reason": why}
    if article:
        from hf_vqa.quality.grounding import ground

        ok = ground(answer, article).grounded if answer.strip() else False
        why = "the article says so" if ok else "the article does not say this"
        return {"answerable": True, "correct": ok, "reason": why}
    return {"answerable": False, "correct": True,
            "reason": "not about what the image shows; nothing in it contradicts the answer"}  # fmt: skip


def judge_verdicts(images: list[ImageInfo], user_text: str) -> list[dict]:
    """One verdict per numbered pair of a judge request's text (see the module docstring)."""
    article = _ARTICLE.search(user_text)
    context = article.group(1) if article else None
    return [{"pair": int(n), **_verdict(images, context, q, a)} for n, q, a in _PAIR.findall(user_text)]


def judge_content(images: list[ImageInfo], user_text: str, *, json_mode: bool) -> str:
    """The judge's reply: JSON when asked through response_format, else one line per pair."""
    verdicts = judge_verdicts(images, user_text)
    if json_mode:
        return json.dumps({"verdicts": verdicts})
    yes = {True: "yes", False: "no"}
    return "\n".join(f"Pair {v['pair']}: answerable {yes[v['answerable']]}, correct {yes[v['correct']]}. "
                     f"Reason: {v['reason']}" for v in verdicts)  # fmt: skip


def blind_answer(question: str) -> str:
    """What the mock says to a question with no image: "Yes." to a yes/no question, else it cannot tell.

    Example:
        >>> blind_answer("Is image 1 wider than it is tall?"), blind_answer("Who built it?")
        ('Yes.', 'I cannot tell without the image.')
    """
    first = question.strip().split(" ")[0].lower()
    if first in ("is", "are", "does", "do", "can", "was", "were", "has", "have"):
        return "Yes."
    return "I cannot tell without the image."
