"""A tiny randomly initialised LLaVA and its processor, built offline (no download), for TRL tests.

Character-level vocabulary, a one-layer CLIP vision tower on 32×32 images and a one-layer Llama: enough for
`trl.SFTTrainer` and its vision collator to run real steps on CPU in seconds.
"""

from __future__ import annotations

from typing import Any

TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}USER:{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{% else %}ASSISTANT:{% for c in m['content'] %}{{ c['text'] }}{% endfor %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def tiny_llava() -> tuple[Any, Any]:
    """(model, processor)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    vocab = {w: i for i, w in enumerate(["<pad>", "<s>", "</s>", "<unk>", "<image>", "USER:", "ASSISTANT:"])}
    for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ?.,:()-'":
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>", additional_special_tokens=["<image>"])  # fmt: skip
    tokenizer.chat_template = TEMPLATE
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=16, chat_template=TEMPLATE,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1)  # fmt: skip
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=32, patch_size=16, projection_dim=32)  # fmt: skip
    text = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024)  # fmt: skip
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=vocab["<image>"],
                         vision_feature_layer=-1, vision_feature_select_strategy="default")  # fmt: skip
    return LlavaForConditionalGeneration(config), processor
