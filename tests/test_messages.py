import json
from importlib import resources

import jsonschema
import pytest

from hf_vqa.errors import InputError
from hf_vqa.messages import FakeImage, build_request

SCHEMA = json.loads(
    resources.files("hf_vqa.mock").joinpath("schemas/create_chat_completion_request.schema.json").read_text()
)
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)

IMG = [FakeImage(f"data:image/png;base64,QUFB{i}", f"sha{i}") for i in range(3)]


def build(conv, images=(), **kw):
    req = build_request(conv, list(images), model="m", params={"temperature": 0.0}, **kw)
    VALIDATOR.validate(req.body)  # every request we build must be a valid OpenAI request
    return req


def human(text):
    return {"from": "human", "value": text}


def test_placeholder_is_replaced_by_the_image_in_place():
    req = build([human("Look: <image> What is it?")], IMG[:1])
    parts = req.body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    assert parts[0]["text"] == "Look:" and parts[2]["text"] == "What is it?"
    assert parts[1]["image_url"]["url"] == IMG[0].data_url
    assert "<image>" not in json.dumps(req.body)


def test_without_placeholders_images_go_first_in_the_first_user_turn():
    req = build([human("Describe both."), {"from": "gpt", "value": "ok"}, human("More?")], IMG[:2])
    first = req.body["messages"][0]["content"]
    assert [p["type"] for p in first] == ["image_url", "image_url", "text"]
    assert req.body["messages"][2] == {"role": "user", "content": "More?"}


def test_multi_turn_multi_image_and_roles():
    conv = [
        {"from": "system", "value": "Be brief."},
        human("<image>\nFirst?"),
        {"from": "gpt", "value": "A cat."},
        human("<image>\nAnd this one?"),
        {"from": "gpt", "value": "reference answer that should be dropped"},
    ]
    req = build(conv, IMG[:2])
    roles = [m["role"] for m in req.body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]  # trailing assistant turn dropped
    assert req.body["messages"][3]["content"][0]["image_url"]["url"] == IMG[1].data_url


def test_system_prompt_replaces_conversation_system_turn():
    conv = [{"from": "system", "value": "old"}, human("hi")]
    req = build(conv, system_prompt="new")
    assert req.body["messages"][0] == {"role": "system", "content": "new"}
    assert sum(m["role"] == "system" for m in req.body["messages"]) == 1


def test_prompt_is_used_when_there_is_no_human_turn():
    req = build(None, IMG[:1], prompt="Ask three questions.")
    parts = req.body["messages"][0]["content"]
    assert parts[-1] == {"type": "text", "text": "Ask three questions."}


def test_no_human_turn_and_no_prompt_is_a_clear_error():
    with pytest.raises(InputError, match="no human turn") as info:
        build([{"from": "gpt", "value": "x"}], IMG[:1])
    assert "prompt" in info.value.fix


@pytest.mark.parametrize("n_images, text", [(1, "<image><image>"), (3, "<image> and <image>")])
def test_placeholder_count_mismatch_is_an_error(n_images, text):
    with pytest.raises(InputError, match="placeholder"):
        build([human(text)], IMG[:n_images])


def test_unknown_speaker_and_bad_turn_are_errors():
    with pytest.raises(InputError, match="unknown speaker"):
        build([{"from": "robot", "value": "x"}])
    with pytest.raises(InputError, match="not a"):
        build(["just a string"])


def test_key_depends_on_image_hash_endpoint_and_params_not_on_data_url_text():
    a = build_request(
        [human("q")], [FakeImage("data:image/png;base64,AAAA", "h1")], model="m", endpoint="http://x/v1"
    )
    b = build_request(
        [human("q")], [FakeImage("data:image/png;base64,BBBB", "h1")], model="m", endpoint="http://x/v1"
    )
    c = build_request(
        [human("q")], [FakeImage("data:image/png;base64,AAAA", "h2")], model="m", endpoint="http://x/v1"
    )
    d = build_request(
        [human("q")], [FakeImage("data:image/png;base64,AAAA", "h1")], model="m", endpoint="http://y/v1"
    )
    e = build_request(
        [human("q")],
        [FakeImage("data:image/png;base64,AAAA", "h1")],
        model="m",
        endpoint="http://x/v1",
        params={"temperature": 0.5},
    )
    assert a.key == b.key  # the key hashes the image bytes' digest, computed once
    assert len({a.key, c.key, d.key, e.key}) == 4


def test_response_format_is_passed_through():
    fmt = {"type": "json_schema", "json_schema": {"name": "qa", "schema": {"type": "object"}}}
    req = build([human("q")], response_format=fmt)
    assert req.body["response_format"] == fmt


def test_a_prepared_image_goes_into_the_payload_as_its_base64_bytes_not_as_text(tmp_path):
    # The data URL made as text was a decode and two ~180 KB copies per photo (GIL held), then encoded
    # back to bytes for the body: the request now holds the base64 bytes themselves and joins them once.
    import base64

    from PIL import Image

    from hf_vqa.images.prepare import prepare_image

    path = tmp_path / "a.jpg"
    Image.new("RGB", (64, 48), "red").save(path, quality=90)
    img = prepare_image(str(path))
    req = build_request([{"from": "human", "value": "<image>\nWhat?"}], [img], model="m")
    assert req.image_data[0][1] is img.b64  # the same bytes object: no copy until the body is joined
    url = req.body["messages"][0]["content"][0]["image_url"]["url"]
    assert (
        url
        == img.data_url
        == req.image_urls[0]
        == "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    )
    assert json.loads(req.payload()) == req.body
