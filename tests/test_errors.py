import pickle

import pytest

from hf_vqa.errors import ConfigError, HfVqaError, ImageError, RequestError, one_line


@pytest.mark.parametrize(
    "err",
    [
        HfVqaError("bad", received={"a": 1}, fix="do x"),
        ConfigError("bad field", received=0, fix="set 1"),
        ImageError("truncated", source="a.jpg", fix="re-download"),
        RequestError("slow down", status=429, attempts=7, retryable=True),
    ],
)
def test_exceptions_round_trip_through_pickle(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert back.__dict__ == err.__dict__


def test_messages_say_what_received_and_fix():
    assert (
        str(ConfigError("x must be >= 1", received=0, fix="x=1")) == "x must be >= 1 (received: 0). Fix: x=1"
    )
    assert str(ImageError("missing", source="a.jpg")) == "image a.jpg: missing"
    assert str(RequestError("boom", status=500, attempts=3)).startswith("HTTP 500 after 3 attempt(s): boom")


def test_received_is_shortened_and_one_line():
    err = HfVqaError("x", received="a\n" * 500)
    assert "\n" not in err.received and len(err.received) <= 200
    assert one_line("a\n\n b  c") == "a b c"
