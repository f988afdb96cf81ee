"""A dataset's demand and lead times per stage, as a run fits them (for ``echelon simulate``).

When the policy file has no ``mean_demand`` column (a run's ``recommendations.parquet``
or the input's ``current_policy`` file), ``echelon simulate`` takes each stage's demand
and lead time from the dataset in ``NETWORK_DIR``, fitted by the run's components
(``--config``, default the built-in defaults: the ``bootstrap`` forecaster and the
``empirical`` lead-time model): the very per-period demand and lead-time distributions
the run's solver simulated.  A customer-facing stage gets its fitted per-period demand;
an internal stage with demand of its own gets the empirical distribution of that own
demand (its fitted demand includes its customers' orders, which the simulation
generates itself); a stage without demand rows gets none.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from platform_core.distributions import DiscreteDistribution

__all__ = ["StageInputs", "dataset_stage_inputs"]

StageInputs = dict[tuple[str, str], tuple[DiscreteDistribution | None, DiscreteDistribution]]
"""``(sku, location) -> (per-period demand [units/period] or None, lead time [periods])``."""


def dataset_stage_inputs(data_dir: str | os.PathLike[str], config_path: str | None = None) -> StageInputs:
    """Fitted demand and lead time of every stage of the dataset in ``data_dir``.

    Raises:
        platform_core.data.errors.DataValidationError: the dataset is invalid (or has no
            demand file).
        ValueError: the configuration is invalid.
    """
    from platform_core.batch import stage_problem
    from platform_core.config import load_config
    from platform_core.data.loaders import load_dataset
    from platform_core.pipeline import plan_dataset, prepare_components
    from platform_core.plugin_host import PluginHost
    from platform_core.run_context import RunContext

    host = PluginHost()
    config = load_config(config_path, host=host)
    dataset = load_dataset(data_dir, period_days=config.run.period_days)
    ctx = RunContext(run_id="simulate", data_dir=Path(dataset.root), out_dir=Path(os.devnull), config=config)
    specs = prepare_components(host, config, ctx)
    shared, _batches = plan_dataset(dataset, config, specs)
    n = int(shared.sku.size)
    out: StageInputs = {}
    if n == 0:
        return out
    problem, _forecaster = stage_problem(shared, np.arange(n, dtype=np.int64))
    internal = np.zeros(n, dtype=bool)
    internal[shared.edge_up] = True
    for k in range(n):
        key = (str(shared.sku[k]), str(shared.location[k]))
        demand: DiscreteDistribution | None = None
        if shared.has_demand[k] and not internal[k]:
            demand = problem.period_demand[k]
        elif shared.has_demand[k]:
            own = shared.demand[k]
            usable = own[np.isfinite(own) & ~shared.stocked_out[k]]
            demand = DiscreteDistribution.from_samples(np.maximum(usable, 0.0)) if usable.size else None
        out[key] = (demand, problem.lead_time[k])
    return out
