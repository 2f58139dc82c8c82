"""runner/rows.py: one row's request, the same wherever it is built."""

from PIL import Image

from hf_vqa import VLM
from hf_vqa.generate import row_images as from_generate
from hf_vqa.runner.rows import image_settings, row_images, row_request


def test_a_rows_request_carries_its_prepared_image_and_keys_on_the_image_bytes(tmp_path):
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "a.png")
    Image.new("RGB", (40, 30), (10, 200, 10)).save(tmp_path / "b.png")
    vlm = VLM(model="m", api_key_env="", max_image_side=20)
    row = {
        "image": [str(tmp_path / "a.png")],
        "conversation": [{"from": "human", "value": "<image>\nWhat colour?"}],
    }
    images = row_images(row, vlm, "image")
    assert [(im.width, im.height) for im in images] == [(20, 15)]  # the VLM's cap applied
    request = row_request(row, vlm, images)
    content = request.body["messages"][0]["content"]
    assert content[0]["image_url"]["url"] == images[0].data_url and content[1]["text"] == "What colour?"
    other = {**row, "image": [str(tmp_path / "b.png")]}
    assert row_request(other, vlm, row_images(other, vlm, "image")).key != request.key  # the bytes count
    assert row_request(row, vlm, row_images(row, vlm, "image")).key == request.key  # and only they
    assert from_generate is row_images and image_settings(vlm) is image_settings(vlm)  # one place, cached
