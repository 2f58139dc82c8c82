"""Default prompts for the two pipelines, following OpenDCAI DataFlow-MM's API pipelines.

Sources (public, read through the stored index; DataFlow-MM is Apache-2.0):

- ContextVQA (`api_pipelines/image_contextvqa.py`): the user prompt is the `conversation[0].value` of the
  documented seed record in OpenDCAI/DataFlow-MM-Doc,
  `docs/en/notes/mm_guide/image_understanding/context_vqa_api.md` (and `docs/zh/.../context_vqa_api.md`);
  the same text is `SKVQAGeneratorPrompt` in OpenDCAI/DataFlow-MM `dataflow/prompts/image.py` and the
  `user_prompt` of `dataflow/statics/pipelines/gpu_pipelines/context_vqa.py`. It is the generation prompt
  of the SK-VQA paper. The system prompt is the one set in
  OpenDCAI/DataFlow-MM `dataflow/statics/pipelines/api_pipelines/image_contextvqa.py`.
- Image VQA (`api_pipelines/image_vqa.py`): DataFlow-MM only sets a system prompt
  (`dataflow/statics/pipelines/api_pipelines/image_vqa.py`, kept verbatim below, grammar included) and
  takes the user prompt from each seed record ("Please construct a QA pair based on the content in the
  image." in `dataflow/example/image_to_text_pipeline/capsbench_qas.json`). `IMAGE_VQA_PROMPT` is ours:
  it asks for several pairs in the "Q:"/"A:" layout that `hf_vqa.parse.reply.parse_qa_pairs` reads best.
"""

from __future__ import annotations

__all__ = [
    "CONTEXT_VQA_PROMPT",
    "CONTEXT_VQA_SYSTEM_PROMPT",
    "DATAFLOW_IMAGE_VQA_SEED_PROMPT",
    "IMAGE_VQA_PROMPT",
    "IMAGE_VQA_SYSTEM_PROMPT",
    "REPAIR_PROMPT",
]

# Verbatim from OpenDCAI/DataFlow-MM-Doc docs/en/notes/mm_guide/image_understanding/context_vqa_api.md
# (seed record `conversation[0].value`); also OpenDCAI/DataFlow-MM dataflow/prompts/image.py
# (SKVQAGeneratorPrompt, there indented and prefixed with "<image>\n").
CONTEXT_VQA_PROMPT = (
    "Write a Wikipedia article related to this image without directly referring to the image. "
    "Then write question answer pairs. The question answer pairs should satisfy the following criteria.\n"
    "1: The question should refer to the image.\n"
    "2: The question should avoid mentioning the name of the object in the image.\n"
    "3: The question should be answered by reasoning over the Wikipedia article.\n"
    "4: The question should sound natural and concise.\n"
    "5: The answer should be extracted from the Wikipedia article.\n"
    "6: The answer should not be any objects in the image.\n"
    "7: The answer should be a single word or phrase and list all correct answers separated by commas.\n"
    "8: The answer should not contain 'and', 'or', rather you can split them into multiple answers."
)

# OpenDCAI/DataFlow-MM dataflow/statics/pipelines/api_pipelines/image_contextvqa.py (PromptedVQAGenerator).
CONTEXT_VQA_SYSTEM_PROMPT = "You are a helpful assistant."

# OpenDCAI/DataFlow-MM dataflow/statics/pipelines/api_pipelines/image_vqa.py (PromptedVQAGenerator), verbatim.
IMAGE_VQA_SYSTEM_PROMPT = (
    "You are a image question-answer generator. "
    "Your task is to generate a question-answer pair for the given image content."
)

# OpenDCAI/DataFlow-MM dataflow/example/image_to_text_pipeline/capsbench_qas.json, seed `conversation[0].value`.
DATAFLOW_IMAGE_VQA_SEED_PROMPT = "Please construct a QA pair based on the content in the image."

IMAGE_VQA_PROMPT = (
    "Look carefully at this image and write 5 question-answer pairs about it.\n"
    "Requirements:\n"
    "1: Each question must be answerable by looking at the image alone; do not ask about things that "
    "cannot be seen.\n"
    "2: Cover different aspects: objects, attributes (color, material, size), counts, spatial relations, "
    "actions, visible text, and the overall scene.\n"
    "3: Keep answers short and factual: a word, a phrase, or one short sentence.\n"
    "4: Do not repeat a question.\n"
    "Write each pair on two lines, exactly like this, with nothing before or after the pairs:\n"
    "Q: <question>\n"
    "A: <answer>"
)

# `--repair-parse`: a reply that gave no pairs goes back as text only (no image) with this instruction and the
# pipeline's JSON schema; `{schema}` and `{reply}` are filled in. It asks only for reformatting.
REPAIR_PROMPT = (
    "The text between the two lines of dashes was meant to hold question-answer pairs{article}, but it could "
    "not be read. Rewrite it as JSON that matches this JSON schema:\n{schema}\n"
    "Only reformat it: copy every question, answer{and_article} exactly as written, do not add, drop, "
    "translate or correct anything, and reply with the JSON only.\n"
    "----------\n{reply}\n----------"
)
