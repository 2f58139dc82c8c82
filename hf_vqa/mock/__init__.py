"""The bundled mock VLM: a real loopback HTTP server that speaks OpenAI's chat-completions API.

- `server`: the HTTP server, its fault injection and `python -m hf_vqa.mock`.
- `requests`: request parsing and validation against OpenAI's JSON schema (`schemas/`).
- `images`: decoding and checking the request's images.
- `answers`: deterministic answers computed from the images.
"""

__all__: list[str] = []
