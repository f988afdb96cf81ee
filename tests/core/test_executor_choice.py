"""``executor = "auto"``: small runs in process (no Ray start-up), large ones on Ray."""

import json

import pytest

from platform_core.config import load_config
from platform_core.hookspecs import hookimpl
from platform_core.pipeline import run
from platform_core.plugin_host import PluginHost

FAST = {"solver": {"replications": 20, "periods": 150}}


@pytest.mark.parametrize(
    ("configured", "sku_locations", "below", "expected"),
    [
        ("auto", 239, 240, "in_process"),
        ("auto", 240, 240, "ray"),  # the threshold itself goes to Ray
        ("auto", 10**6, 5000, "ray"),
        ("auto", 0, 0, "ray"),  # in_process_below = 0: always Ray
        ("ray", 1, 5000, "ray"),  # an explicit choice is kept
        ("in_process", 10**6, 5000, "in_process"),
        ("my_cluster", 1, 5000, "my_cluster"),
    ],
)
def test_choose_executor(configured, sku_locations, below, expected):
    from platform_core.executor import choose_executor

    name, reason = choose_executor(configured, sku_locations, below)
    assert name == expected
    assert (reason == "") == (configured != "auto")
    if configured == "auto":
        assert f"{below:,}" in reason


class _Recorder:
    def __init__(self):
        self.seen = {}

    @hookimpl
    def input_validated(self, run, dataset):
        self.seen["input_validated"] = dict(run.executor)

    @hookimpl
    def run_finished(self, run, result):
        self.seen["run_finished"] = (dict(run.executor), dict(run.components["executor"]))


def test_auto_is_the_default_and_runs_a_small_input_in_process(generated_dataset, tmp_path):
    cfg = load_config(overrides={"tracking": {"uri": "none"}, **FAST})
    assert cfg.run.executor == "auto" and cfg.run.in_process_below == 10_000
    messages = []
    recorder = _Recorder()
    run(generated_dataset, tmp_path / "out", cfg, log=messages.append, host=PluginHost(plugins=[recorder]))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["executor"]["name"] == "in_process"
    assert summary["executor"]["configured"] == "auto"
    assert "240 SKU-locations < in_process_below = 10,000" in summary["executor"]["reason"]
    assert summary["components"]["executor"]["name"] == "in_process"
    # plugins see the chosen executor from input validation on
    assert recorder.seen["input_validated"]["executor"] == "in_process"
    assert recorder.seen["run_finished"][0]["executor"] == "in_process"
    assert recorder.seen["run_finished"][1]["name"] == "in_process"
    assert any(m.endswith("in process (auto: fewer than 10,000 SKU-locations)") for m in messages), messages


def test_in_process_below_must_not_be_negative():
    with pytest.raises(ValueError, match="in_process_below must be >= 0"):
        load_config(overrides={"run": {"in_process_below": -1}})
