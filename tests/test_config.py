import json
import pickle

import pytest

from hf_vqa.config import VLM
from hf_vqa.errors import ConfigError


def test_defaults_read_base_url_from_env(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1")
    assert VLM().base_url == "http://127.0.0.1:9999/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert VLM().base_url == "https://api.openai.com/v1"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout": -1}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"temperature": 3}, "temperature"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "localhost:8000"}, "base_url"),
        ({"model": ""}, "model"),
        ({"rpm": 0}, "rpm"),
        ({"max_image_side": 0}, "max_image_side"),
    ],
)
def test_invalid_fields_name_the_field_and_the_fix(kwargs, field):
    with pytest.raises(ConfigError) as info:
        VLM(**kwargs)
    assert field in str(info.value)
    assert info.value.fix


def test_api_key_env_must_be_a_name_and_the_value_is_never_echoed():
    with pytest.raises(ConfigError) as info:
        VLM(api_key_env="sk-live-abc123-secret")
    assert "sk-live-abc123-secret" not in str(info.value)


def test_api_key_is_read_at_call_time_and_never_stored(monkeypatch):
    vlm = VLM(api_key_env="HF_VQA_TEST_KEY")
    monkeypatch.setenv("HF_VQA_TEST_KEY", "sk-test-123")
    assert vlm.api_key() == "sk-test-123"
    assert "sk-test-123" not in repr(vlm) and b"sk-test-123" not in pickle.dumps(vlm)
    monkeypatch.delenv("HF_VQA_TEST_KEY")
    with pytest.raises(ConfigError, match="HF_VQA_TEST_KEY is not set"):
        vlm.api_key()
    assert VLM(api_key_env="").api_key() == "EMPTY"


def test_picklable_hashable_and_generation_params():
    vlm = VLM(model="m", base_url="http://h:1/v1", max_tokens=100, top_p=0.9)
    assert pickle.loads(pickle.dumps(vlm)) == vlm
    assert hash(vlm) == hash(VLM(model="m", base_url="http://h:1/v1", max_tokens=100, top_p=0.9))
    assert vlm.generation_params() == {"max_tokens": 100, "top_p": 0.9}  # temperature: not sent unless set
    assert vlm.host == "h"


def test_response_format_is_canonical_json_hashable_sent_and_in_the_store_key():
    from hf_vqa.messages import build_request

    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    a, b = VLM(api_key_env="", response_format=fmt), VLM(api_key_env="", response_format=json.dumps(fmt))
    assert a == b and hash(a) == hash(b) and a.response_format == fmt
    assert (
        a.generation_params()["response_format"] == fmt and "response_format" not in VLM().generation_params()
    )
    key = build_request(None, [], model="m", params=a.generation_params(), prompt="hi").key
    assert (
        key
        != build_request(None, [], model="m", params=VLM(api_key_env="").generation_params(), prompt="hi").key
    )
    with pytest.raises(ConfigError, match=r"an object with a .type."):
        VLM(response_format={"json_schema": {}})
