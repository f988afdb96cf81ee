"""The ``learned`` cost model: stockout cost per SKU-location learned from the data.

Per stage, the stockout cost [currency/unit short] is

* at a customer-facing stage (it has order lines or demand rows): the margin lost now plus
  the expected lost future margin, ``margin x (1 + F)``, with ``F`` the lost future units
  per unit short of :class:`~echelon_cost.learned.switching.SwitchingModel` over
  ``customer_horizon_periods``; a customer-facing stage without order lines takes the
  median ``F`` of those with them;
* at an internal stage: the cheaper of expediting the unit (the cheapest carrier for the
  stage's lead time, :class:`~echelon_cost.learned.expediting.ExpediteCostModel`) and the
  stop it causes downstream (:func:`~echelon_cost.learned.bom.assembly_stop_cost`), where
  the data gives either;

never below ``min_stockout_periods`` periods of holding cost (as in the standard model); a
``stockout_cost`` in the ``costs`` table overrides it. Holding and ordering costs are the
standard model's. The cost-optimal service is the critical ratio ``p / (p + h)`` of the
point estimate. The 90 % interval of each estimate (bootstrap of the switching model,
prediction interval of the expediting regression) and its driver are output columns
``learned_*`` of ``recommendations.parquet``; ``summary_`` holds the portfolio figures.

The fitted models are exposed for versioning (:meth:`LearnedCostModel.fitted_artefacts`;
a tracking plugin registers them as ``echelon-cost-learned``): ``switching``
(:class:`~echelon_cost.learned.switching.SwitchingModel`), ``expediting``
(:class:`~echelon_cost.learned.expediting.ExpediteCostModel`) and ``stage_estimates``
(the per-stage figures, BOM stop cost included, keyed by ``sku@location``).
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from echelon_cost.learned.bom import assembly_stop_cost
from echelon_cost.learned.expediting import ExpediteCostModel
from echelon_cost.learned.switching import SwitchingModel
from platform_core.artefacts import Artefact
from platform_core.components import CostModel, StageCosts
from platform_core.data.columns import float_column
from platform_core.data.schemas import Dataset

__all__ = ["LearnedCostModel", "OUTPUT_COLUMNS"]

#: The extra output columns, in order.
OUTPUT_COLUMNS = (
    "learned_stockout_cost", "learned_stockout_cost_lo", "learned_stockout_cost_hi", "learned_cost_driver",
    "learned_switch_probability", "learned_volume_loss", "learned_future_units_per_unit_short",
    "learned_expedite_cost", "learned_expedite_carrier", "learned_assembly_stop_cost",
)


def _keys(table: pa.Table, sku: str = "sku", loc: str = "location") -> list[tuple[str, str]]:
    return list(zip(table.column(sku).to_pylist(), table.column(loc).to_pylist(), strict=True))


def _stage_rows(table: pa.Table, index: dict[tuple[str, str], int], sku: str = "sku",
                loc: str = "location") -> np.ndarray:
    return np.array([index.get(k, -1) for k in _keys(table, sku, loc)], dtype=np.int64)


class LearnedCostModel(CostModel):
    """Stockout cost learned from order lines, expedites and the bill of materials.

    Args:
        customer_horizon_periods: periods over which a lost unit of a customer's volume
            counts as lost margin [periods].
        min_stockout_periods: floor of the stockout cost in periods of holding cost.
        cover_probability: probability that other stock covers a component short before
            it stops an assembly [-].
        prior_sd: spread of a customer segment's switching effect around the common one
            (logit scale) [-]; smaller pools more; ``"auto"``: estimated from the data.
        replications: bootstrap replications of the switching model [-].
        interval: central probability of the reported intervals [-].
        seed: seed of the bootstrap.
    """

    def __init__(self, customer_horizon_periods: float = 52.0, min_stockout_periods: float = 4.0,
                 cover_probability: float = 0.0, prior_sd: float | str = "auto", replications: int = 50,
                 interval: float = 0.9, seed: int = 0) -> None:
        if customer_horizon_periods < 0 or min_stockout_periods < 0:
            raise ValueError("customer_horizon_periods and min_stockout_periods must be >= 0")
        if not 0.0 <= cover_probability <= 1.0:
            raise ValueError(f"cover_probability must be in [0, 1], got {cover_probability}")
        SwitchingModel(prior_sd=prior_sd, replications=replications, interval=interval)  # checks the rest
        self.customer_horizon_periods = customer_horizon_periods
        self.min_stockout_periods = min_stockout_periods
        self.cover_probability = cover_probability
        self.prior_sd = prior_sd
        self.replications = replications
        self.interval = interval
        self.seed = seed

    # --- fit ----------------------------------------------------------------------------
    def fit(self, dataset: Dataset, period_days: float) -> Self:
        """Learn switching, expediting and the BOM stop cost from ``dataset``; returns self."""
        stages = dataset.stages
        n = stages.num_rows
        index = {k: i for i, k in enumerate(_keys(stages))}
        unit_cost = float_column(stages, "unit_cost", 0.0)
        summary: dict[str, Any] = {}
        est: dict[str, np.ndarray] = {}

        # customer-facing stages: demand rows or order lines
        facing = np.zeros(n, bool)
        pairs = dataset.demand.select(["sku", "location"]).group_by(["sku", "location"]).aggregate([])
        facing[_stage_rows(pairs, index)] = True
        self.switching_: SwitchingModel | None = None
        lines = dataset.get("order_lines")
        if lines is not None and lines.num_rows:
            facing[_stage_rows(lines, index)] = True
            model = SwitchingModel(prior_sd=self.prior_sd, replications=self.replications,
                                   interval=self.interval, seed=self.seed)
            try:
                self.switching_ = model.fit(lines, stages, period_days)
            except ValueError as exc:
                summary["switching_note"] = str(exc)
        if self.switching_ is not None:
            est.update(self.switching_.stage_estimates(n, self.customer_horizon_periods))
            summary.update({f"switching_{k}": v for k, v in self.switching_.summary().items()})

        # expediting: cheapest carrier for the stage's lead time
        self.expediting_: ExpediteCostModel | None = None
        expedites = dataset.get("expedites")
        exp_cost = np.full(n, np.nan)
        exp_lo, exp_hi = np.full(n, np.nan), np.full(n, np.nan)
        carrier = np.full(n, "", dtype=object)
        if expedites is not None and expedites.num_rows:
            rows = _stage_rows(expedites, index)
            try:
                self.expediting_ = ExpediteCostModel(self.interval).fit(expedites, unit_cost[rows])
            except ValueError as exc:
                summary["expediting_note"] = str(exc)
        if self.expediting_ is not None and expedites is not None:
            carriers: list[list[str]] = [[] for _ in range(n)]
            for r, c in zip(rows.tolist(), expedites.column("carrier").to_pylist(), strict=True):
                if c not in carriers[r]:
                    carriers[r].append(c)
            qty = np.asarray(expedites.column("quantity").to_numpy(zero_copy_only=False), dtype=float)
            total = np.bincount(rows, weights=qty, minlength=n)
            count = np.bincount(rows, minlength=n)
            stage_qty = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            exp_cost, exp_lo, exp_hi, carrier = self.expediting_.stage_cost(
                carriers, _recovery_days(dataset, index, n), unit_cost, stage_qty)
            summary["expediting_r_squared"] = float(self.expediting_.result_.rsquared)
            summary["expediting_rows"] = float(expedites.num_rows)

        stop, assemblies = assembly_stop_cost(stages, dataset.get("edges"), dataset.get("costs"),
                                              self.cover_probability)
        self.stage_keys_ = [f"{s}@{loc}" for s, loc in _keys(stages)]
        self.as_of_ = {name: _last_date(dataset.get(name), column)
                       for name, column in (("order_lines", "order_date"), ("expedites", "expedite_date"))}
        self.fitted_ = {"facing": facing, "expedite_cost": exp_cost, "expedite_lo": exp_lo, "expedite_hi": exp_hi,
                        "expedite_carrier": carrier, "stop_cost": stop, "assemblies": assemblies, **est}
        self.summary_ = summary
        return self

    def fitted_artefacts(self) -> list[Artefact]:
        """The fitted switching and expediting models and the per-stage estimates (after :meth:`fit`)."""
        fitted = getattr(self, "fitted_", None)
        if fitted is None:
            return []
        params = {"customer_horizon_periods": f"{self.customer_horizon_periods:g}",
                  "cover_probability": f"{self.cover_probability:g}", "seed": str(self.seed)}
        out = []
        if self.switching_ is not None:
            summary = self.switching_.summary()
            out.append(Artefact("switching", self.switching_, {
                **params, "prior_sd": self.prior_sd if isinstance(self.prior_sd, str) else f"{self.prior_sd:g}",
                "prior_sd_switch": f"{self.switching_.prior_sd_[0]:.6g}",
                "prior_sd_volume_loss": f"{self.switching_.prior_sd_[1]:.6g}", "replications": str(self.replications),
                **{k: f"{v:.6g}" for k, v in summary.items()}}, self.as_of_.get("order_lines", "")))
        if self.expediting_ is not None:
            out.append(Artefact("expediting", self.expediting_, {
                "r_squared": f"{float(self.expediting_.result_.rsquared):.6g}",
                "carriers": ",".join(str(c) for c in self.expediting_.carriers_)[:500]},
                self.as_of_.get("expedites", "")))
        n = len(self.stage_keys_)
        columns = {name: np.asarray(v).tolist() for name, v in fitted.items()
                   if isinstance(v, np.ndarray) and v.shape == (n,)}
        stages = {k: {name: col[i] for name, col in columns.items()} for i, k in enumerate(self.stage_keys_)}
        out.append(Artefact("stage_estimates", stages, params, per_stage=True))
        return out

    # --- costs --------------------------------------------------------------------------
    def stage_costs(self, stages: pa.Table, overrides: pa.Table | None, period_days: float) -> StageCosts:
        """Costs per stage row (see the module doc); without :meth:`fit`, margin-only."""
        n = stages.num_rows
        fitted = getattr(self, "fitted_", None)
        if fitted is None or fitted["facing"].size != n:
            fitted = {"facing": float_column(stages, "price", 0.0) > float_column(stages, "unit_cost", 0.0)}
        unit_cost = float_column(stages, "unit_cost", 0.0)
        price = float_column(stages, "price", 0.0)
        rate = float_column(stages, "carrying_rate", 0.25)
        ordering = np.nan_to_num(float_column(stages, "ordering_cost", 0.0), nan=0.0)
        holding_year = unit_cost * rate
        margin = np.maximum(price - unit_cost, 0.0)
        nan = np.full(n, np.nan)
        facing = fitted["facing"]

        f = fitted.get("future_units", nan)
        f_lo, f_hi = fitted.get("future_units_lo", nan), fitted.get("future_units_hi", nan)
        known = np.isfinite(f)
        if known.any():  # customer-facing stages without order lines borrow the portfolio's median
            fill = facing & ~known
            f, f_lo, f_hi = (np.where(fill, np.nanmedian(a[known]), a) for a in (f, f_lo, f_hi))
        f, f_lo, f_hi = (np.where(np.isfinite(a), a, 0.0) for a in (f, f_lo, f_hi))
        p_cust, p_cust_lo, p_cust_hi = margin * (1.0 + f), margin * (1.0 + f_lo), margin * (1.0 + f_hi)

        exp_c = fitted.get("expedite_cost", nan)
        stop = fitted.get("stop_cost", nan)
        use_exp = np.isfinite(exp_c) & ~(np.isfinite(stop) & (stop < exp_c))
        p_int = np.where(use_exp, exp_c, stop)
        p_int_lo = np.where(use_exp, fitted.get("expedite_lo", nan), stop)
        p_int_hi = np.where(use_exp, fitted.get("expedite_hi", nan), stop)

        stockout = np.where(facing, p_cust, np.where(np.isfinite(p_int), p_int, 0.0))
        lo = np.where(facing, p_cust_lo, np.where(np.isfinite(p_int), p_int_lo, 0.0))
        hi = np.where(facing, p_cust_hi, np.where(np.isfinite(p_int), p_int_hi, 0.0))
        driver = np.where(facing, np.where(known.any() & (f > 0), "customer switching", "margin"),
                          np.where(use_exp, "expediting", np.where(np.isfinite(stop), "assembly stop", "")))
        driver = driver.astype(object)

        override_p = np.full(n, np.nan)
        if overrides is not None and overrides.num_rows:
            index = {k: i for i, k in enumerate(_keys(stages))}
            rows = _stage_rows(overrides, index)
            for col, target in (("holding_cost", holding_year), ("stockout_cost", override_p),
                                ("ordering_cost", ordering)):
                if col not in overrides.column_names:
                    continue
                vals = np.asarray(pc.fill_null(overrides.column(col), np.nan).to_numpy(zero_copy_only=False), float)
                ok = (rows >= 0) & np.isfinite(vals)
                target[rows[ok]] = vals[ok]
        holding = holding_year * float(period_days) / 365.0
        floor = self.min_stockout_periods * holding
        floored = stockout < floor
        driver = np.where(floored, "holding floor", driver)
        stockout, lo, hi = np.maximum(stockout, floor), np.maximum(lo, floor), np.maximum(hi, floor)
        overridden = np.isfinite(override_p)
        stockout = np.where(overridden, override_p, stockout)
        driver = np.where(overridden, "override", driver)
        den = stockout + holding
        ratio = np.where(den > 0, stockout / np.where(den > 0, den, 1.0), 0.5)
        columns = {
            "learned_stockout_cost": stockout,
            "learned_stockout_cost_lo": np.where(overridden, override_p, lo),
            "learned_stockout_cost_hi": np.where(overridden, override_p, hi),
            "learned_cost_driver": np.asarray(driver, dtype=str),
            "learned_switch_probability": np.where(facing, fitted.get("switch_probability", nan), np.nan),
            "learned_volume_loss": np.where(facing, fitted.get("volume_loss", nan), np.nan),
            "learned_future_units_per_unit_short": np.where(facing, f, np.nan),
            "learned_expedite_cost": exp_c,
            "learned_expedite_carrier": np.asarray(fitted.get("expedite_carrier", np.full(n, "", object)), dtype=str),
            "learned_assembly_stop_cost": stop,
        }
        return StageCosts(holding, stockout, ordering, ratio, columns)


def _last_date(table: pa.Table | None, column: str) -> str:
    """The last date of ``column`` in ``table`` (ISO), "" when absent or empty."""
    if table is None or column not in table.column_names or table.num_rows == 0:
        return ""
    last = pc.max(table.column(column)).as_py()
    return "" if last is None else str(last)


def _recovery_days(dataset: Dataset, index: dict[tuple[str, str], int], n: int) -> np.ndarray:
    """Days to recover a short per stage: mean receipt lead time, else inbound transit, else lead_time_days."""
    days = float_column(dataset.stages, "lead_time_days", np.nan)
    edges = dataset.get("edges")
    if edges is not None and "transit_days" in edges.column_names:
        rows = _stage_rows(edges, index, "downstream_sku", "downstream_location")
        t = np.asarray(pc.fill_null(edges.column("transit_days"), np.nan).to_numpy(zero_copy_only=False), float)
        ok = (rows >= 0) & np.isfinite(t)
        total = np.bincount(rows[ok], weights=t[ok], minlength=n)
        count = np.bincount(rows[ok], minlength=n)
        days = np.where(count > 0, total / np.maximum(count, 1), days)
    receipts = dataset.get("receipts")
    if receipts is not None and receipts.num_rows:
        rows = _stage_rows(receipts, index)
        lead = (receipts.column("receipt_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
                - receipts.column("order_date").cast(pa.int32()).to_numpy(zero_copy_only=False)).astype(float)
        ok = rows >= 0
        total = np.bincount(rows[ok], weights=lead[ok], minlength=n)
        count = np.bincount(rows[ok], minlength=n)
        days = np.where(count > 0, total / np.maximum(count, 1), days)
    return np.asarray(days, dtype=float)
