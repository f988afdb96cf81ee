"""``OUT/sensing/pooled_forecaster.json``: written, read back exactly, refused when it does not fit the run."""

from __future__ import annotations

import json

import pytest
from echelon_demand.models.calibrated import CalibratedForecaster

from platform_core.components import ComponentSpec
from platform_core.config import load_config
from platform_core.pooled import (
    PooledParams,
    PooledParamsError,
    apply_pooled_params,
    given_pooled_forecaster,
    pooled_path,
    read_pooled_params,
    reusable_pooled_forecaster,
    write_pooled_params,
)

CONFIGURED = {"horizon_periods": 26, "origins": 3, "base": "bootstrap", "base_params": None}
# awkward floats: they must come back bit for bit
POOLED = {**CONFIGURED, "class_params": {"smooth": {"stretch": 0.1 + 0.2, "mean_factor": 1 / 3, "level_sd": 1e-300},
                                         "lumpy": {"stretch": 2.0 ** 0.5, "mean_factor": 1.0, "level_sd": 0.0}}}


def _spec(name="calibrated", **params):
    return ComponentSpec(name, CalibratedForecaster, {**CONFIGURED, **params})


def _write(tmp_path, **changes):
    pooled = PooledParams(forecaster="calibrated", configured=dict(CONFIGURED), period_days=7.0,
                          params=POOLED, run_id="r1", input_fingerprint="f1")
    return write_pooled_params(tmp_path, PooledParams(**{**pooled.__dict__, **changes}))


def test_round_trip_is_exact_and_applied(tmp_path):
    path = _write(tmp_path)
    assert path == pooled_path(tmp_path) and path.parent.name == "sensing"
    back = read_pooled_params(tmp_path)
    assert back is not None and back.params == POOLED and back.run_id == "r1"
    assert back.params["class_params"]["smooth"]["stretch"] == 0.1 + 0.2
    assert list(back.params["class_params"]) == ["smooth", "lumpy"]  # order as fitted
    spec = apply_pooled_params(_spec(), 7.0, back, tmp_path)
    assert spec.params == POOLED and spec.build().class_params == POOLED["class_params"]


@pytest.mark.parametrize(("spec", "period_days", "message"), [
    (_spec("signals"), 7.0, "of forecaster 'calibrated', this run's forecaster is 'signals'"),
    (_spec(horizon_periods=13), 7.0, r"other \[forecaster\] parameters .*differing: horizon_periods"),
    (_spec(), 1.0, "fitted on 7-day periods, this run plans 1-day periods"),
])
def test_a_file_for_another_forecaster_configuration_or_grid_is_refused(tmp_path, spec, period_days, message):
    _write(tmp_path)
    pooled = read_pooled_params(tmp_path)
    with pytest.raises(PooledParamsError, match=message) as err:
        apply_pooled_params(spec, period_days, pooled, tmp_path)
    assert str(pooled_path(tmp_path)) in str(err.value) and "--refit-pooled" in str(err.value)


def test_an_edited_or_damaged_file_is_refused_naming_it(tmp_path):
    path = _write(tmp_path)
    record = json.loads(path.read_text())
    record["params"]["class_params"]["smooth"]["stretch"] = 0.5
    path.write_text(json.dumps(record))
    with pytest.raises(PooledParamsError, match="sha256 does not match") as err:
        read_pooled_params(tmp_path)
    assert str(path) in str(err.value)
    path.write_text("{not json")
    with pytest.raises(PooledParamsError, match="not a pooled-parameters file"):
        read_pooled_params(tmp_path)


def test_missing_file_refit_and_non_pooling_forecasters(tmp_path):
    config = load_config()
    assert read_pooled_params(tmp_path) is None
    assert reusable_pooled_forecaster(_spec(), config, tmp_path) is None  # an older run: fitted afresh
    with pytest.raises(PooledParamsError, match="pooled_forecaster.json not found"):
        given_pooled_forecaster(_spec(), config, tmp_path)  # a full run told to use them: an error
    _write(tmp_path)
    assert reusable_pooled_forecaster(_spec(), config, tmp_path).params == POOLED
    assert reusable_pooled_forecaster(_spec(), config, tmp_path, refit=True) is None
    assert _write(tmp_path / "other", params={**POOLED, "odd": (1, 2)}) is None  # a tuple: not plain JSON, not saved
