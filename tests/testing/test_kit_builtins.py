"""Every built-in component passes every check of its family (Ray: test_kit_ray.py)."""

import pytest

from platform_core.plugin_host import PluginHost
from platform_core.testing import ComponentUnderTest, inputs, parametrize_with_checks

#: small parameters that keep the kit fast (gradient boosting, bootstrap calibration)
PARAMS = {
    "forecaster:quantile_gbm": {"levels": (0.1, 0.3, 0.5, 0.7, 0.9), "max_iter": 10},
    "forecaster:sensing": {"n_sim": 50},
    "lead_time:quantile_gbm": {"levels": (0.1, 0.5, 0.9), "max_iter": 10, "min_samples_leaf": 5},
    "lead_time:quantile_gbm_tuned": {"levels": (0.1, 0.5, 0.9), "min_samples_leaf": 5,
                                      "grid": ((10, 0.1, 5), (10, 0.1, 10))},
    "solver:learned_policy": {"generations": 1, "states": 100, "rollouts": 50, "evaluation_paths": 4,
                              "evaluation_periods": 1000, "max_states": 2000},
}

BUILTINS = [
    info for info in PluginHost(autoload=False).components()
    if not (info.family == "executor" and info.name == "ray")
]


@pytest.fixture(scope="module", autouse=True)
def registered_model():
    """The ``registered`` forecaster reads a fitted model from the MLflow registry; here the
    load returns an in-memory fitted quantile GBM (the registry round trip is covered by
    tests/mlflow_tracking)."""
    import echelon_mlflow.forecaster as registered
    from echelon_demand.models.global_gbm import QuantileGBMForecaster

    model = QuantileGBMForecaster(**PARAMS["forecaster:quantile_gbm"]).fit(inputs.demand_series())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registered, "_load", lambda *args: model)
        yield


def test_every_family_has_builtins():
    families = {info.family for info in BUILTINS}
    assert families == {"forecaster", "lead_time", "cost", "solver", "executor"}


@parametrize_with_checks(
    [ComponentUnderTest(i.cls, PARAMS.get(f"{i.family}:{i.name}", {}), i.family, i.name) for i in BUILTINS]
)
def test_builtin_conforms(component, check):
    check(component)
