"""How many prompt tokens one image costs, by each model family's documented formula. Pure arithmetic.

Formulas (width × height are the pixels *sent*, after hf_vqa's own caps):

- ``openai-tile`` (gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3): fit in 2048×2048, scale the shortest side
  down to 768, count 512-px tiles; tokens = base + per_tile × tiles (85 + 170 for gpt-4o/4.1,
  2833 + 5667 for gpt-4o-mini, 75 + 150 for o1/o3, 70 + 140 for gpt-5). OpenAI, "Images and vision",
  section "Calculating costs" (platform.openai.com/docs/guides/images-vision#calculating-costs).
- ``openai-patch`` (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano): 32×32-px patches, at most 1536
  (the image is scaled down to fit), times a multiplier (1.62 for gpt-4.1-mini and gpt-5-mini, 2.46
  for the nano models, 1.72 for o4-mini). Same OpenAI page.
- ``claude``: tokens = w × h / 750 after the image is scaled to a 1568-px long edge and about 1,600
  tokens (Anthropic, "Vision", section "Evaluate image size", docs.anthropic.com/en/docs/vision).
- ``gemini``: 258 tokens when both sides are at most 384 px, else 258 per 768×768 tile (Google,
  "Understand and count tokens", ai.google.dev/gemini-api/docs/tokens, image section).
- ``qwen`` (Qwen2-VL, Qwen2.5-VL): 14-px patches merged 2×2, so one token per 28×28 px after
  ``smart_resize`` (sides rounded to multiples of 28, pixels kept within min_pixels = 4·28² and
  max_pixels; DashScope's default max is 1280·28²), plus 2 for the vision start/end tokens (Alibaba
  Model Studio, "Vision" / image token counting, help.aliyun.com/zh/model-studio/vision; Qwen2-VL's
  ``qwen_vl_utils.smart_resize``).
- ``qwen3`` (Qwen3-VL): 16-px patches merged 2×2, so one token per 32×32 px after the same
  ``smart_resize`` with factor 32 (min_pixels = 4·32², DashScope's default max 2560·32²), plus 2.

Each formula's `name` is the key `--image-tokens` accepts (``openai-tile-4o-mini``, not a display form).

Example:
    >>> image_tokens("openai-tile", 1024, 1024)
    765
    >>> image_tokens("gemini", 300, 300), image_tokens("claude", 1000, 750)
    (258, 1000)
    >>> formula_for("gpt-4.1-mini").name, formula_for("Qwen2.5-VL-72B-Instruct").name
    ('openai-patch', 'qwen')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from hf_vqa.errors import ConfigError

__all__ = ["FORMULAS", "Formula", "formula_for", "image_tokens"]


@dataclass(frozen=True)
class Formula:
    """One family's rule: `name` (see the module doc), its constants, and why it was chosen."""

    name: str
    family: str = ""
    base: float = 0.0
    per_unit: float = 1.0
    max_pixels: int = 0
    why: str = ""

    def tokens(self, width: int, height: int) -> int:
        """Prompt tokens for one image of `width` × `height` pixels."""
        w, h = max(1, int(width)), max(1, int(height))
        family = self.family or self.name
        if family == "openai-tile":
            scale = min(1.0, 2048 / max(w, h))
            w, h = w * scale, h * scale
            scale = min(1.0, 768 / min(w, h))
            w, h = w * scale, h * scale
            return int(self.base + self.per_unit * math.ceil(w / 512) * math.ceil(h / 512))
        if family == "openai-patch":
            patches = math.ceil(w / 32) * math.ceil(h / 32)
            if patches > 1536:
                s = math.sqrt(32 * 32 * 1536 / (w * h))
                s *= min(math.floor(w * s / 32) / (w * s / 32), math.floor(h * s / 32) / (h * s / 32))
                patches = math.ceil(w * s / 32) * math.ceil(h * s / 32)
            return int(patches * self.per_unit)
        if family == "claude":
            scale = min(1.0, 1568 / max(w, h), math.sqrt(1600 * 750 / (w * h)))
            return math.ceil(w * scale * h * scale / 750)
        if family == "gemini":
            if w <= 384 and h <= 384:
                return 258
            return 258 * math.ceil(w / 768) * math.ceil(h / 768)
        if family == "qwen":
            rh, rw = _smart_resize(h, w, self.max_pixels or 1280 * 28 * 28)
            return rh * rw // (28 * 28) + 2
        if family == "qwen3":
            rh, rw = _smart_resize(h, w, self.max_pixels or 2560 * 32 * 32, 32, 4 * 32 * 32)
            return rh * rw // (32 * 32) + 2
        raise ConfigError(
            "unknown image-token formula", received=self.name, fix=f"use one of {sorted(FORMULAS)}"
        )


def _smart_resize(height: int, width: int, max_pixels: int, factor: int = 28, min_pixels: int = 4 * 28 * 28):
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


FORMULAS: dict[str, Formula] = {
    f.name: f
    for f in (
        Formula("openai-tile", "openai-tile", 85, 170, why="gpt-4o / gpt-4.1 class: 85 + 170 per 512-px tile"),
        Formula("openai-tile-4o-mini", "openai-tile", 2833, 5667, why="gpt-4o-mini: 2833 + 5667 per tile"),
        Formula("openai-tile-o", "openai-tile", 75, 150, why="o1/o3: 75 + 150 per tile"),
        Formula("openai-tile-5", "openai-tile", 70, 140, why="gpt-5: 70 + 140 per tile"),
        Formula("openai-patch", "openai-patch", per_unit=1.62, why="32-px patches (max 1536) × 1.62"),
        Formula("openai-patch-nano", "openai-patch", per_unit=2.46, why="32-px patches (max 1536) × 2.46"),
        Formula("openai-patch-o4", "openai-patch", per_unit=1.72, why="32-px patches (max 1536) × 1.72"),
        Formula("claude", "claude", why="w·h/750 after a 1568-px / ~1600-token resize"),
        Formula("gemini", "gemini", why="258 per 768-px tile (258 when both sides <= 384)"),
        Formula("qwen", "qwen", max_pixels=1280 * 28 * 28,
                why="Qwen2/2.5-VL: one token per 28x28 px after smart_resize, +2"),
        Formula("qwen3", "qwen3", max_pixels=2560 * 32 * 32,
                why="Qwen3-VL: one token per 32x32 px (16-px patches merged 2x2) after smart_resize, +2"),
    )
}  # fmt: skip

# model-name fragments, most specific first
_RULES = (
    (("gpt-4.1-nano", "gpt-5-nano"), "openai-patch-nano"),
    (("gpt-4.1-mini", "gpt-5-mini"), "openai-patch"),
    (("o4-mini",), "openai-patch-o4"),
    (("gpt-4o-mini",), "openai-tile-4o-mini"),
    (("gpt-5",), "openai-tile-5"),
    (("o1", "o3"), "openai-tile-o"),
    (("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-4-turbo", "chatgpt-4o"), "openai-tile"),
    (("claude",), "claude"),
    (("gemini",), "gemini"),
    (("qwen3-vl", "qwen3vl", "qwen3"), "qwen3"),
    (("qwen",), "qwen"),
)


def formula_for(model: str, override: str | None = None) -> Formula:
    """The formula for `model` (chosen from its name), or the one named by `override`.

    Example:
        >>> formula_for("anything", "gemini").name
        'gemini'
        >>> formula_for("my-local-model").why.endswith("(no rule matched the model name; the default)")
        True
    """
    if override:
        key = override.strip().lower()
        if key not in FORMULAS:
            raise ConfigError("unknown image-token formula", received=override,
                              fix=f"use one of {', '.join(sorted(FORMULAS))}")  # fmt: skip
        f = FORMULAS[key]
        return replace(f, why=f.why + " (chosen by --image-tokens)")
    name = model.lower().rsplit("/", 1)[-1]
    for fragments, key in _RULES:
        if any(_has(name, frag) for frag in fragments):
            f = FORMULAS[key]
            return replace(f, why=f.why + f" (from the model name {model!r})")
    f = FORMULAS["openai-tile"]
    return replace(f, why=f.why + " (no rule matched the model name; the default)")


def _has(name: str, fragment: str) -> bool:
    """`fragment` in `name` at a word start (so "o1" matches "o1-mini" but not "qwen-vl-o1x")."""
    at = name.find(fragment)
    while at >= 0:
        if at == 0 or not name[at - 1].isalnum():
            return True
        at = name.find(fragment, at + 1)
    return False


def image_tokens(formula: str, width: int, height: int) -> int:
    """Tokens for one `width` × `height` image under the formula named `formula` (a `FORMULAS` key)."""
    return formula_for("", formula).tokens(width, height)
