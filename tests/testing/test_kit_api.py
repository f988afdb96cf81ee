"""The kit's public API, its pytest plugin and its analytic reference."""

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from platform_core.executor import InProcessExecutor
from platform_core.testing import (
    ComponentUnderTest,
    NotApplicable,
    check_component,
    check_executor,
    checks_for,
    parametrize_with_checks,
)
from platform_core.testing.solver_checks import (
    poisson_cycle_service,
    poisson_fill_rate,
    smallest_level,
    solver_capabilities,
)

REPO = Path(__file__).resolve().parents[2]


def test_ids_read_family_name_check():
    from echelon_demand.bootstrap import BootstrapForecaster

    mark = parametrize_with_checks([ComponentUnderTest(BootstrapForecaster, name="bootstrap")]).mark
    assert mark.args[0] == "component, check"
    ids = [p.id for p in mark.args[1]]
    assert "forecaster[bootstrap]-pmf_sums_to_one" in ids
    assert len(ids) == len(checks_for("forecaster"))


def test_parametrize_accepts_host_records_with_a_params_table(echelon_plugin_host):
    infos = [i for i in echelon_plugin_host.components() if i.name == "quantile_gbm"]
    assert {i.family for i in infos} == {"forecaster", "lead_time"}
    mark = parametrize_with_checks(infos, {"forecaster:quantile_gbm": {"max_iter": 3}}).mark
    specs = {p.values[0].family: p.values[0] for p in mark.args[1]}
    assert specs["forecaster"].params == {"max_iter": 3}
    assert specs["lead_time"].params == {}


def test_not_applicable_becomes_a_skip():
    from echelon_demand.bootstrap import BootstrapForecaster

    mark = parametrize_with_checks([BootstrapForecaster]).mark
    (spec, check), = [p.values for p in mark.args[1] if p.id.endswith("-censoring_raises_mean")]
    with pytest.raises(pytest.skip.Exception, match="does not declare handles_censoring"):
        check(spec)
    (plain,) = [c for c in checks_for("forecaster") if c.name == "censoring_raises_mean"]
    with pytest.raises(NotApplicable):
        plain(spec)


def test_check_component_passes_and_infers_the_family():
    check_component(InProcessExecutor)
    check_executor(InProcessExecutor)
    with pytest.raises(TypeError, match="cannot tell the family"):
        check_component(dict)


def test_every_check_has_a_docstring():
    for family in ("forecaster", "lead_time", "cost", "solver", "executor"):
        for check in checks_for(family):
            assert check.doc, f"{family}:{check.name} has no docstring"


def test_solver_capabilities_are_the_declared_ones():
    from platform_core.components import Solver

    class Bare(Solver):  # declares nothing: the base class's defaults
        def solve(self, problem):
            raise AssertionError("not called")

    class Simulating(Bare):
        network_aware = True
        work_exponent = 2.0

        def __init__(self, replications=7):
            self.replications = replications

    assert solver_capabilities(Bare()) == {
        "network_aware": False, "replications": 1, "periods": 1, "warmup": 0,
        "work_factor": 1.0, "work_exponent": 1.0,
    }
    assert solver_capabilities(Simulating(9)) == {
        "network_aware": True, "replications": 9, "periods": 1, "warmup": 0,
        "work_factor": 1.0, "work_exponent": 2.0,
    }


def test_pytest_plugin_imports_nothing_heavy():
    code = (
        "import sys, platform_core.testing.pytest_plugin, platform_core.testing\n"
        "print(sorted(m for m in ('numpy', 'pyarrow', 'scipy', 'numba', 'platform_core.components') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pytest11_entry_point_names_the_plugin_module():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"echelon": "platform_core.testing.pytest_plugin"}


# ---- the analytic reference of meets_analytic_targets -------------------------------------


def _fill_by_enumeration(level, mean, lead_time):
    """Units short per period = (D_L + d - S)^+ - (D_L - S)^+, summed over a grid."""
    k = np.arange(200)
    p_lead = stats.poisson.pmf(k, lead_time * mean) if lead_time else (k == 0).astype(float)
    p_one = stats.poisson.pmf(k, mean)
    before = k[:, None]
    after = before + k[None, :]
    short = np.maximum(after - level, 0) - np.maximum(before - level, 0)
    return 1.0 - float((p_lead[:, None] * p_one[None, :] * short).sum()) / mean


@pytest.mark.parametrize("lead_time", [0, 1, 2, 5])
def test_poisson_fill_rate_matches_enumeration(lead_time):
    for level in (0, 3, 9, 17, 30):
        assert poisson_fill_rate(level, 4.0, lead_time) == pytest.approx(
            _fill_by_enumeration(level, 4.0, lead_time), abs=1e-10)


def test_analytic_levels_match_the_simulation_engine():
    """The timing convention of the formula is the engine's: simulated fill within 4 SE."""
    from platform_core.distributions import DiscreteDistribution
    from platform_core.simulation.single_stage import evaluate_base_stock

    levels = np.arange(15.0, 25.0)
    n = levels.size
    res = evaluate_base_stock(
        [DiscreteDistribution.poisson(5.0)] * n, [DiscreteDistribution.point(2)] * n,
        np.arange(1, n + 1, dtype=np.uint64), levels, review_period=np.ones(n, dtype=np.int64),
        replications=40, periods=2000, warmup=50,
    )
    for k, level in enumerate(levels):
        assert abs(res.fill_rate[k] - poisson_fill_rate(level, 5.0, 2)) <= 4 * res.fill_rate_se[k] + 1e-4
        assert abs(res.cycle_service[k] - poisson_cycle_service(level, 5.0, 2)) <= 4 * res.cycle_service_se[k] + 1e-3
    assert smallest_level("fill_rate", 0.95, 5.0, 2) == 20
    assert poisson_fill_rate(19, 5.0, 2) < 0.95 <= poisson_fill_rate(20, 5.0, 2)
