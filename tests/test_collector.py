"""cli/collector.py: the CLI's garbage-collector settings."""

import gc

import pytest

from hf_vqa.cli.collector import THRESHOLD, calm_collector


@pytest.fixture
def collector():
    before, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)
    gc.enable() if enabled else gc.disable()


def test_it_freezes_what_is_alive_and_raises_the_young_threshold(collector):
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    assert calm_collector()
    assert gc.get_freeze_count() > 1000  # the imported modules' objects
    assert gc.get_threshold() == (THRESHOLD, 10, 10)
    cycle = []
    cycle.append(cycle)  # made after the freeze: still collected
    del cycle
    assert gc.collect() >= 1


def test_a_higher_threshold_is_kept_and_a_disabled_collector_left_alone(collector):
    gc.set_threshold(20_000, 10, 10)
    assert calm_collector() and gc.get_threshold()[0] == 20_000
    gc.unfreeze()
    gc.disable()
    assert not calm_collector()
    assert gc.get_freeze_count() == 0 and not gc.isenabled()


def test_a_cli_run_calms_the_collector_of_its_process(collector, tmp_path):
    import json
    import subprocess
    import sys

    from clitools import ROOT

    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"image": [], "conversation": [{"from": "human", "value": "hi"}]}]))
    code = (
        "import atexit, gc, sys\n"
        "from hf_vqa.cli.main import main\n"
        "atexit.register(lambda: print('GC', gc.get_threshold()[0], gc.get_freeze_count() > 1000))\n"
        f"sys.exit(main(['image-vqa', '--input', {str(records)!r}, '--output', {str(tmp_path / 'out')!r}, '--dry-run']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert f"GC {THRESHOLD} True" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
