"""Read GSM chains (Willems 2008 / Graves-Willems JSON) and convert them to network tables.

JSON layout (``../shared/data/README.md``): ``stages[]`` with ``id``, ``stage_time`` [days],
``stage_cost`` (cost added at the stage) [currency/unit], optional ``max_service_time`` [days],
``is_demand_stage``, ``avg_demand`` and ``std_demand`` [units/day], and ``z`` or
``service_level`` for demand stages; optional ``external_inbound_service_time`` [days] and
``classification``. ``edges[]`` with ``source``, ``target`` and optional ``multiplicity``
(units of source per unit of target, default 1). Stochastic stage times are replaced by their
mean ``stage_time``.

The platform tables (:mod:`platform_core.data.schemas`) get one stage per chain stage
(``sku`` = stage id, ``location`` = classification or ``"chain"``, ``unit_cost`` = cumulative
value, ``price`` = ``unit_cost`` since the data have no prices, ``carrying_rate`` as given,
``service_target`` = the demand stage's service level). The GSM-specific data ride along in
extra columns of the stages table, all prefixed ``gsm_``:

=========================== ================= ===============================================
column                      unit              meaning
=========================== ================= ===============================================
``gsm_stage_time``          [days]            mean processing / lead time ``T_j``
``gsm_added_cost``          [currency/unit]   cost added at the stage
``gsm_max_service_time``    [days]            bound on the outbound service time (null: none)
``gsm_external_inbound``    [days]            service time quoted by external suppliers
``gsm_is_demand_stage``     [-]               whether the stage faces external demand
``gsm_avg_demand``          [units/day]       external mean demand (0 if none)
``gsm_std_demand``          [units/day]       external demand standard deviation (0 if none)
``gsm_z``                   [-]               safety factor of the external demand
=========================== ================= ===============================================
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import special

from .network import GSMNetwork

__all__ = [
    "load_network",
    "network_from_dict",
    "import_chain",
    "write_chain_tables",
    "network_from_tables",
    "reference_holding_rate",
    "write_chain_dataset",
    "moment_history",
    "CHAIN_RUN_CONFIG",
]

_DEFAULT_CARRYING_RATE = 0.25


def _num(stage: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    val = stage.get(key, default)
    if val is None:
        raise ValueError(f"{where}: stage {stage.get('id', '?')!r} is missing field '{key}'")
    try:
        out = float(val)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: stage {stage.get('id', '?')!r} field '{key}' is not a number") from None
    if math.isnan(out):
        raise ValueError(f"{where}: stage {stage.get('id', '?')!r} field '{key}' is NaN")
    return out


def network_from_dict(data: dict[str, Any], name: str = "network") -> GSMNetwork:
    """Build a :class:`GSMNetwork` from a parsed chain JSON document.

    Args:
        data: the document (``stages`` and ``edges`` lists).
        name: name used in error messages (usually the file name).

    Raises:
        ValueError: naming ``name`` and the field, for a missing field, an unknown stage in an
            edge, a duplicate id or a cycle.
    """
    if not isinstance(data, dict) or "stages" not in data:
        raise ValueError(f"{name}: missing field 'stages'")
    stages = data["stages"]
    edges = data.get("edges", [])
    if not isinstance(stages, list) or not stages:
        raise ValueError(f"{name}: field 'stages' must be a non-empty list")
    if not isinstance(edges, list):
        raise ValueError(f"{name}: field 'edges' must be a list")
    ids: list[str] = []
    for st in stages:
        if not isinstance(st, dict) or "id" not in st:
            raise ValueError(f"{name}: a stage is missing field 'id'")
        ids.append(str(st["id"]))
    index = {sid: i for i, sid in enumerate(ids)}
    if len(index) != len(ids):
        raise ValueError(f"{name}: field 'id' has duplicate stage ids")
    n = len(ids)
    t = np.zeros(n)
    c = np.zeros(n)
    maxs = np.full(n, np.inf)
    ext = np.zeros(n)
    mu = np.zeros(n)
    sd = np.zeros(n)
    z = np.zeros(n)
    cls: list[str] = []
    for i, st in enumerate(stages):
        t[i] = _num(st, "stage_time", name)
        c[i] = _num(st, "stage_cost", name)
        if st.get("max_service_time") is not None:
            maxs[i] = _num(st, "max_service_time", name)
        ext[i] = _num(st, "external_inbound_service_time", name, 0.0)
        cls.append(str(st.get("classification", "")))
        if bool(st.get("is_demand_stage", False)):
            mu[i] = _num(st, "avg_demand", name, 0.0)
            sd[i] = _num(st, "std_demand", name)
            if st.get("z") is not None:
                z[i] = _num(st, "z", name)
            elif st.get("service_level") is not None:
                level = _num(st, "service_level", name)
                if not 0.0 < level < 1.0:
                    raise ValueError(f"{name}: stage {ids[i]!r} field 'service_level' must be in (0, 1)")
                z[i] = NormalDist().inv_cdf(level)
            else:
                raise ValueError(f"{name}: demand stage {ids[i]!r} is missing field 'z' or 'service_level'")
    up: list[int] = []
    down: list[int] = []
    qty: list[float] = []
    for e in edges:
        if not isinstance(e, dict):
            raise ValueError(f"{name}: field 'edges' holds a non-object entry")
        for key in ("source", "target"):
            if key not in e:
                raise ValueError(f"{name}: an edge is missing field '{key}'")
            if str(e[key]) not in index:
                raise ValueError(f"{name}: edge field '{key}' names unknown stage {e[key]!r}")
        up.append(index[str(e["source"])])
        down.append(index[str(e["target"])])
        q = e.get("multiplicity", 1)
        try:
            qty.append(float(q if q is not None else 1))
        except (TypeError, ValueError):
            raise ValueError(f"{name}: edge field 'multiplicity' is not a number") from None
    return GSMNetwork(
        ids=ids, stage_time=t, added_cost=c,
        edge_up=np.asarray(up, dtype=np.int64), edge_down=np.asarray(down, dtype=np.int64),
        quantity_per=np.asarray(qty, dtype=np.float64),
        max_service_time=maxs, external_inbound=ext, avg_demand=mu, std_demand=sd, z=z,
        classification=cls, name=name,
    )


def _read_json(json_path: str | Path) -> tuple[dict[str, Any], str]:
    path = Path(json_path)
    try:
        with path.open() as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    return data, str(path)


def load_network(json_path: str | Path) -> GSMNetwork:
    """Read a chain JSON file into a :class:`GSMNetwork`.

    Raises:
        ValueError: naming the file and field for malformed input.
        FileNotFoundError: if the file does not exist.
    """
    data, name = _read_json(json_path)
    return network_from_dict(data, name=name)


def reference_holding_rate(json_path: str | Path) -> float | None:
    """The holding rate stored with a reference instance (``expected.holding_cost_rate``), if any."""
    data, _ = _read_json(json_path)
    exp = data.get("expected") if isinstance(data, dict) else None
    if isinstance(exp, dict) and exp.get("holding_cost_rate") is not None:
        return float(exp["holding_cost_rate"])
    return None


def _tables(network: GSMNetwork, carrying_rate: float) -> tuple[pa.Table, pa.Table]:
    n = network.n_stages
    locs = [c if c else "chain" for c in network.classification]
    demand = network.std_demand > 0
    service = [float(NormalDist().cdf(float(network.z[i]))) if demand[i] else None for i in range(n)]
    maxs = [float(v) if math.isfinite(v) else None for v in network.max_service_time.tolist()]
    stages = pa.table({
        "sku": pa.array(network.ids, pa.string()),
        "location": pa.array(locs, pa.string()),
        "unit_cost": pa.array(network.value, pa.float64()),
        "price": pa.array(network.value, pa.float64()),
        "carrying_rate": pa.array(np.full(n, carrying_rate), pa.float64()),
        "service_target": pa.array(service, pa.float64()),
        "gsm_stage_time": pa.array(network.stage_time, pa.float64()),
        "gsm_added_cost": pa.array(network.added_cost, pa.float64()),
        "gsm_max_service_time": pa.array(maxs, pa.float64()),
        "gsm_external_inbound": pa.array(network.external_inbound, pa.float64()),
        "gsm_is_demand_stage": pa.array(demand | (network.avg_demand > 0), pa.bool_()),
        "gsm_avg_demand": pa.array(network.avg_demand, pa.float64()),
        "gsm_std_demand": pa.array(network.std_demand, pa.float64()),
        "gsm_z": pa.array(network.z, pa.float64()),
    })
    up, down = network.edge_up, network.edge_down
    edges = pa.table({
        "upstream_sku": pa.array([network.ids[i] for i in up.tolist()], pa.string()),
        "upstream_location": pa.array([locs[i] for i in up.tolist()], pa.string()),
        "downstream_sku": pa.array([network.ids[i] for i in down.tolist()], pa.string()),
        "downstream_location": pa.array([locs[i] for i in down.tolist()], pa.string()),
        "quantity_per": pa.array(network.quantity_per, pa.float64()),
    })
    return stages, edges


def import_chain(json_path: str | Path, carrying_rate: float | None = None) -> tuple[pa.Table, pa.Table]:
    """Convert a chain JSON file into the platform's ``stages`` and ``edges`` tables.

    Args:
        json_path: the chain file.
        carrying_rate: annual holding rate for the ``carrying_rate`` column [1/year]; by
            default the file's ``expected.holding_cost_rate`` or else 0.25.

    Returns:
        (stages, edges) as Arrow tables; see the module docstring for the ``gsm_`` columns.
    """
    network = load_network(json_path)
    rate = carrying_rate
    if rate is None:
        rate = reference_holding_rate(json_path)
    if rate is None:
        rate = _DEFAULT_CARRYING_RATE
    return _tables(network, float(rate))


def write_chain_tables(json_path: str | Path, out_dir: str | Path,
                       carrying_rate: float | None = None) -> tuple[Path, Path]:
    """Write ``stages.parquet`` and ``edges.parquet`` for a chain JSON file.

    Returns:
        The paths of the two files.
    """
    stages, edges = import_chain(json_path, carrying_rate=carrying_rate)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sp, ep = out / "stages.parquet", out / "edges.parquet"
    pq.write_table(stages, sp)
    pq.write_table(edges, ep)
    return sp, ep


def network_from_tables(stages: pa.Table, edges: pa.Table, name: str = "tables") -> GSMNetwork:
    """Rebuild a :class:`GSMNetwork` from tables written by :func:`import_chain`.

    Raises:
        ValueError: if a ``gsm_`` column is missing or an edge names an unknown stage.
    """
    need = ["sku", "gsm_stage_time", "gsm_added_cost", "gsm_max_service_time",
            "gsm_external_inbound", "gsm_avg_demand", "gsm_std_demand", "gsm_z"]
    for cname in need:
        if cname not in stages.column_names:
            raise ValueError(f"{name}: stages table is missing field '{cname}'")
    ids = [str(v) for v in stages.column("sku").to_pylist()]
    index = {sid: i for i, sid in enumerate(ids)}
    for cname in ("upstream_sku", "downstream_sku", "quantity_per"):
        if cname not in edges.column_names:
            raise ValueError(f"{name}: edges table is missing field '{cname}'")
    up: list[int] = []
    down: list[int] = []
    for key, dest in (("upstream_sku", up), ("downstream_sku", down)):
        for v in edges.column(key).to_pylist():
            if v not in index:
                raise ValueError(f"{name}: edges field '{key}' names unknown stage {v!r}")
            dest.append(index[v])
    maxs = np.array([np.inf if v is None else v for v in stages.column("gsm_max_service_time").to_pylist()])
    locs = [str(v) for v in stages.column("location").to_pylist()] if "location" in stages.column_names else []

    def col(c: str) -> np.ndarray:
        return np.asarray(stages.column(c).to_numpy(zero_copy_only=False), dtype=np.float64)

    return GSMNetwork(
        ids=ids, stage_time=col("gsm_stage_time"), added_cost=col("gsm_added_cost"),
        edge_up=np.asarray(up, dtype=np.int64), edge_down=np.asarray(down, dtype=np.int64),
        quantity_per=np.asarray(edges.column("quantity_per").to_numpy(zero_copy_only=False), dtype=np.float64),
        max_service_time=maxs, external_inbound=col("gsm_external_inbound"),
        avg_demand=col("gsm_avg_demand"), std_demand=col("gsm_std_demand"), z=col("gsm_z"),
        classification=[loc if loc != "chain" else "" for loc in locs], name=name,
    )


#: ``echelon run`` configuration for a dataset written by :func:`write_chain_dataset`
#: (one period = one day, the empirical demand of the whole history, the GSM solver);
#: ``demand_bound = "normal"`` reproduces the chain's ``z sigma sqrt(NRT)`` model.
CHAIN_RUN_CONFIG = """[run]
period_days = 1

[components]
forecaster = "bootstrap"
solver = "guaranteed_service"

[forecaster]
window = {history_days}

[solver]
demand_bound = "normal"
"""


def moment_history(mean: float, sd: float, periods: int, seed: int = 0) -> np.ndarray:
    """Whole non-negative demands whose sample mean and (population) sd are ``mean`` and ``sd``.

    The normal quantiles ``mean + sd Phi^-1((i + 1/2) / periods)``, rounded and cut at 0,
    then moved one unit at a time (a pair at a time once the sum is right) until the sum is
    ``round(mean periods)`` and the sum of squares ``round(periods (sd^2 + mean^2))``
    (one less when its parity cannot be reached), in a shuffled order (``seed``).  Both
    moments are exact when ``mean periods`` and ``periods (sd^2 + mean^2)`` are whole and
    of the same parity (e.g. mean 5, sd 3 over 730 days); otherwise within ``1 / periods``.

    Args:
        mean: mean demand [units/period] (>= 0).
        sd: standard deviation [units/period] (>= 0).
        periods: length of the history [periods] (>= 2).
        seed: seed of the shuffle.

    Raises:
        ValueError: for a negative or non-finite moment or fewer than 2 periods.
    """
    if not (math.isfinite(mean) and mean >= 0 and math.isfinite(sd) and sd >= 0):
        raise ValueError(f"moment_history: expected a finite mean >= 0 and sd >= 0, got {mean}, {sd}")
    if periods < 2:
        raise ValueError(f"moment_history: expected at least 2 periods, got {periods}")
    u = (np.arange(periods) + 0.5) / periods
    x = np.maximum(np.rint(mean + sd * special.ndtri(u)), 0).astype(np.int64)
    total = int(round(mean * periods))
    while (diff := total - int(x.sum())) != 0:  # the sum: +-1 at the values nearest the mean
        movable = np.flatnonzero(x > 0) if diff < 0 else np.arange(periods)
        near = movable[np.argsort(np.abs(x[movable] - mean), kind="stable")][:abs(diff)]
        x[near] += 1 if diff > 0 else -1
    squares = int(round(periods * (sd * sd + mean * mean)))
    if (squares - total) % 2:  # sum(x^2) and sum(x) have the same parity
        squares -= 1
    for _ in range(100 * periods):
        gap = squares - int(np.dot(x, x))
        if gap == 0:
            break
        # a -> a + 1 with b -> b - 1 changes sum(x^2) by 2 (a - b) + 2, a -> a - 1 with b -> b + 1
        # by 2 (b - a) + 2: the wanted a - b for the gap (else the widest pair, then again)
        want = gap // 2 - 1 if gap > 0 else -gap // 2 + 1
        order = np.argsort(x, kind="stable")
        lo_pos = order[np.searchsorted(x[order], 1):]  # entries that can go down (>= 1)
        if lo_pos.size == 0:
            break
        if gap > 0:  # raise a, lower b with a - b = want (as large as the data allow)
            b = int(lo_pos[0])
            cand = np.flatnonzero(x == x[b] + want)
            a = int(cand[0]) if cand.size and int(cand[0]) != b else int(order[-1])
            if a == b:
                break
            x[a] += 1
            x[b] -= 1
        else:  # lower a, raise b with a - b = want
            b = int(order[0])
            cand = np.flatnonzero(x == x[b] + want)
            a = int(cand[0]) if cand.size and int(cand[0]) != b else int(order[-1])
            if a == b or x[a] == 0:
                break
            x[a] -= 1
            x[b] += 1
    return np.random.default_rng(seed).permutation(x)


def write_chain_dataset(json_path: str | Path, out_dir: str | Path, *, carrying_rate: float | None = None,
                        history_days: int = 730, start: dt.date = dt.date(2024, 1, 1),
                        seed: int = 0) -> dict[str, Path]:
    """Write a chain JSON as an Echelon dataset (docs/data.md) that the GSM solver reads back.

    One period is one day (run it with :data:`CHAIN_RUN_CONFIG`, written as
    ``echelon.toml`` next to the tables):

    * ``stages``: one stage per chain stage, as :func:`import_chain` (``sku`` = stage id,
      ``unit_cost`` = cumulative value, the ``gsm_`` columns ride along), plus
      ``review_period = 1`` and ``lead_time_days``: the stage time, minus one day at a stage
      with external demand, whose review period the solver adds back (its stage time is
      ``L + R`` in the engine's timing, docs/gsm.md);
    * ``edges``: the arcs with their ``multiplicity`` as ``quantity_per``, no transit times;
    * ``demand``: at every demand stage ``history_days`` daily rows from ``start`` whose
      mean and standard deviation are the chain's ``avg_demand`` and ``std_demand``
      (:func:`moment_history`); with ``forecaster = "bootstrap"`` and ``window =
      history_days`` the learned per-day distribution is that history's empirical one,
      so the GSM sees exactly the chain's mean and standard deviation.

    Args:
        json_path: the chain file.
        out_dir: the dataset directory (created).
        carrying_rate: annual holding rate [1/year]; default the file's reference rate or 0.25.
        history_days: length of the demand history [days].
        start: first day of the history.
        seed: seed of the history's order.

    Returns:
        Paths by name: ``stages``, ``edges``, ``demand``, ``config``.

    Raises:
        ValueError: naming the stage and field for what the data contract cannot express:
            a maximum service time other than 0 at a stage with external demand (or any
            at an internal stage), an external inbound service time, a demand stage with a
            stage time below one day.
    """
    network = load_network(json_path)
    name = str(json_path)
    rate = carrying_rate if carrying_rate is not None else reference_holding_rate(json_path)
    stages, edges = _tables(network, float(_DEFAULT_CARRYING_RATE if rate is None else rate))
    demand_stage = np.asarray(stages.column("gsm_is_demand_stage").to_pylist(), dtype=bool)
    for i, sid in enumerate(network.ids):
        maxs = float(network.max_service_time[i])
        if demand_stage[i] and maxs != 0.0:
            raise ValueError(f"{name}: stage {sid!r} field 'max_service_time': the pipeline serves external "
                             f"demand from stock (0), got {maxs:g}")
        if not demand_stage[i] and math.isfinite(maxs):
            raise ValueError(f"{name}: stage {sid!r} field 'max_service_time': the data contract has no "
                             f"maximum service time for an internal stage, got {maxs:g}")
        if float(network.external_inbound[i]) != 0.0:
            raise ValueError(f"{name}: stage {sid!r} field 'external_inbound_service_time': expected 0 (the "
                             f"supplier's time is the stage's lead time), got {network.external_inbound[i]:g}")
        if demand_stage[i] and network.stage_time[i] < 1.0:
            raise ValueError(f"{name}: stage {sid!r} field 'stage_time': a demand stage needs at least one day "
                             f"(its review period), got {network.stage_time[i]:g}")
    lead = network.stage_time - demand_stage.astype(np.float64)
    stages = stages.append_column("review_period", pa.array(np.ones(network.n_stages, dtype=np.int64)))
    stages = stages.append_column("lead_time_days", pa.array(lead, pa.float64()))
    days = [start + dt.timedelta(days=k) for k in range(history_days)]
    skus: list[str] = []
    locs: list[str] = []
    qty: list[np.ndarray] = []
    for i in np.flatnonzero(demand_stage).tolist():
        skus += [network.ids[i]] * history_days
        locs += [str(stages.column("location")[i])] * history_days
        qty.append(moment_history(float(network.avg_demand[i]), float(network.std_demand[i]),
                                  history_days, seed=seed + i).astype(np.float64))
    demand = pa.table({
        "sku": pa.array(skus, pa.string()),
        "location": pa.array(locs, pa.string()),
        "period": pa.array(days * int(demand_stage.sum()), pa.date32()),
        "quantity": pa.array(np.concatenate(qty) if qty else np.zeros(0), pa.float64()),
    })
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"stages": out / "stages.parquet", "edges": out / "edges.parquet",
             "demand": out / "demand.parquet", "config": out / "echelon.toml"}
    pq.write_table(stages, paths["stages"])
    pq.write_table(edges, paths["edges"])
    pq.write_table(demand, paths["demand"])
    paths["config"].write_text(CHAIN_RUN_CONFIG.format(history_days=history_days))
    return paths
