"""Reply parsers: raw VLM text → `{question, answer}` pairs or `{context, qas}`.

- `reply`: the entry points `parse_qa_pairs` / `parse_wiki_qa` and the `QA` / `WikiQA` values.
- `lines`: line classification (markup, bullets, numbering, labels).
- `blocks`: question/answer blocks from classified lines.
- `article`: where the article ends and the questions start.
- `loose_json`: JSON (fenced, bare, JSON Lines) found inside a reply.
- `json_repair`: one snippet decoded despite trailing commas, comments, a cut-off end or Python literals.
"""

__all__: list[str] = []
