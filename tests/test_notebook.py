"""`ds.map(hf_vqa.prompted_vqa, ...)` inside a real Jupyter kernel, whose event loop is running."""

import json

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def test_prompted_vqa_runs_inside_a_jupyter_kernel(tmp_path, mock_vlm):
    records = [
        {"image": [f"img{i}.png"], "conversation": [{"from": "human", "value": "<image>\nWhat is this?"}]}
        for i in range(6)
    ]
    cells = [
        "import asyncio, json, os\nfrom PIL import Image\n"
        f"os.chdir({str(tmp_path)!r})\n"
        "for i in range(6):\n    Image.new('RGB', (40 + i, 30), (40 * i, 100, 200)).save(f'img{i}.png')\n"
        f"open('records.json', 'w').write({json.dumps(json.dumps(records))})",
        # ipykernel runs an event loop: this is what breaks datasets' async map path
        "asyncio.get_event_loop().is_running()",
        "import hf_vqa\n"
        f"vlm = hf_vqa.VLM(model='mock', base_url={mock_vlm.base_url!r}, api_key_env='', cache_dir='store')\n"
        "ds = hf_vqa.load_records('records.json', cache_dir='hfcache')\n"
        "ds = ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={'vlm': vlm})\n"
        "ds = ds.map(hf_vqa.refine_qa_pairs, batched=True, features=hf_vqa.features_after(ds, hf_vqa.refine_qa_pairs))\n"
        "print(json.dumps({'errors': list(ds['vqa_error']), 'answers': list(ds['vqa']), 'qas': list(ds['qas'])}))",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == "True"
    printed = "".join(o.get("text", "") for o in nb.cells[2].outputs if o.get("name") == "stdout")
    result = json.loads(printed.strip().splitlines()[-1])
    assert result["errors"] == [None] * 6
    for i, answer in enumerate(result["answers"]):
        assert f"{40 + i}x30" in answer
    assert all(len(qas) >= 2 for qas in result["qas"])
    assert mock_vlm.stats()["requests"] == 6
