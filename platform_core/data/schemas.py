"""The data contract: one Arrow schema per file of an input dataset directory.

A dataset is a directory holding ``stages``, ``demand`` and optionally ``edges``,
``receipts``, ``costs``, ``current_policy``, ``overrides``, ``signals``, ``order_lines``,
``expedites`` and ``constraints``, each as ``NAME.parquet`` or ``NAME.csv``.
``docs/data.md`` documents every column listed here (a test checks it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from platform_core.data.periods import DemandGrid

__all__ = [
    "ColumnSpec",
    "FileSpec",
    "FILE_SPECS",
    "STAGES",
    "EDGES",
    "DEMAND",
    "RECEIPTS",
    "COSTS",
    "CURRENT_POLICY",
    "OVERRIDES",
    "SIGNALS",
    "MAX_SIGNAL",
    "ORDER_LINES",
    "EXPEDITES",
    "CONSTRAINTS",
    "CONSTRAINT_TYPES",
    "Dataset",
    "MIN_DATE",
    "MAX_DATE",
    "MAX_QUANTITY",
    "MAX_MONEY",
    "MAX_DAYS",
    "MAX_REVIEW_PERIOD",
    "MAX_QUANTITY_PER",
    "MAX_RECEIPT_QUANTITY",
]

# Bounds of the values the model can use. A value outside them is a typo, a sentinel
# (9999-12-31) or a unit mix-up, and would overflow an integer or a float downstream.

#: Earliest date of any date column [date].
MIN_DATE = dt.date(1900, 1, 1)
#: Latest date of any date column [date] (ERP sentinels such as 9999-12-31 fall outside).
MAX_DATE = dt.date(2199, 12, 31)
#: Largest demand per row and minimum order quantity [units]. Distributions are held over
#: every whole unit, so quantities beyond this do not fit in memory or in the kernels' integers.
MAX_QUANTITY = 1e8
#: Largest money amount per unit or per order [currency] (keeps products with quantities finite).
MAX_MONEY = 1e12
#: Longest lead or transit time and its standard deviation [days] (ten years).
MAX_DAYS = 3650.0
#: Longest review period [periods].
MAX_REVIEW_PERIOD = 1000
#: Largest bill-of-materials quantity [units/unit].
MAX_QUANTITY_PER = 1e6
#: Largest receipt quantity [units] (a feature of lead-time models, not a distribution).
MAX_RECEIPT_QUANTITY = 1e12

_UNITS_NOTE = "quantities count stocking units; restate larger ones in a larger unit (cases, packs)"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an input file.

    Attributes:
        name: column name as it appears in the file.
        type: the Arrow type the loader converts the column to.
        unit: unit in brackets for docs, e.g. ``[currency/unit]``.
        required: whether the column must be present.
        nullable: whether a present column may hold nulls.
        meaning: one sentence for docs.
        min_value: smallest allowed value (inclusive) for numeric columns.
        max_value: largest allowed value (inclusive) for numeric columns.
        exclusive_min: whether ``min_value`` itself is forbidden (e.g. quantity_per > 0).
        min_date: earliest allowed date (inclusive) for date columns.
        max_date: latest allowed date (inclusive) for date columns.
        limit_note: what to do about a value above ``max_value`` (shown in the message).
    """

    name: str
    type: pa.DataType
    unit: str
    required: bool
    nullable: bool
    meaning: str
    min_value: float | None = None
    max_value: float | None = None
    exclusive_min: bool = False
    min_date: dt.date | None = None
    max_date: dt.date | None = None
    limit_note: str = ""


@dataclass(frozen=True)
class FileSpec:
    """One file of the dataset: its columns and its unique key.

    ``key_note`` says what a duplicate key means (shown in the message).

    ``dictionary_columns`` are string columns held dictionary-encoded in memory
    (``dictionary<int32, string>``, see :func:`FileSpec.memory_type`): the demand
    history repeats each SKU and location name in every period, and at a million
    SKU-locations the plain strings alone take 1.8 GB of the 87 M-row table.
    """

    name: str
    required: bool
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    meaning: str
    dictionary_columns: tuple[str, ...] = ()
    key_note: str = ""
    #: the rule for every column not in ``columns`` (its name is a placeholder): such
    #: columns are converted to its type and checked like it; None keeps them unchecked
    extra_columns: ColumnSpec | None = None

    def memory_type(self, col: ColumnSpec) -> pa.DataType:
        """The Arrow type of ``col`` in a loaded table (its spec type, or dictionary-encoded)."""
        return pa.dictionary(pa.int32(), col.type) if col.name in self.dictionary_columns else col.type

    def schema(self, present: list[str] | None = None) -> pa.Schema:
        """The Arrow schema of the file (only the ``present`` columns when given)."""
        cols = [c for c in self.columns if present is None or c.name in present]
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in cols])

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


_SKU = ColumnSpec("sku", pa.string(), "", True, False, "Item identifier.")
_LOC = ColumnSpec("location", pa.string(), "", True, False, "Location identifier (plant, DC or store).")

STAGES = FileSpec(
    name="stages",
    required=True,
    key=("sku", "location"),
    meaning="One row per SKU-location (a stage of the network): what it costs and what service it must give.",
    columns=(
        _SKU,
        _LOC,
        ColumnSpec("location_type", pa.string(), "", False, True,
                   "plant, central_dc, regional_dc or store (informational)."),
        ColumnSpec("unit_cost", pa.float64(), "[currency/unit]", True, False,
                   "Cumulative value of one unit held at this stage.", min_value=0.0, max_value=MAX_MONEY),
        ColumnSpec("price", pa.float64(), "[currency/unit]", True, False,
                   "Selling price (or transfer price) of one unit.", min_value=0.0, max_value=MAX_MONEY),
        ColumnSpec("carrying_rate", pa.float64(), "[1/year]", True, False,
                   "Annual holding cost as a fraction of unit cost.", min_value=0.0, max_value=5.0),
        ColumnSpec("service_target", pa.float64(), "[-]", False, True,
                   "Target fill rate (or cycle service level) in (0, 1]; null means cost-optimal.",
                   min_value=0.0, max_value=1.0, exclusive_min=True),
        ColumnSpec("ordering_cost", pa.float64(), "[currency/order]", False, True,
                   "Fixed cost per replenishment order.", min_value=0.0, max_value=MAX_MONEY),
        ColumnSpec("review_period", pa.int64(), "[periods]", False, True,
                   "Periods between reviews of the inventory position (default 1).", min_value=1,
                   max_value=MAX_REVIEW_PERIOD),
        ColumnSpec("moq", pa.float64(), "[units]", False, True,
                   "Minimum order quantity.", min_value=0.0, max_value=MAX_QUANTITY, limit_note=_UNITS_NOTE),
        ColumnSpec("order_multiple", pa.float64(), "[units]", False, True,
                   "Orders are rounded up to a multiple of this (case or pallet size); null or 0: none.",
                   min_value=0.0, max_value=MAX_QUANTITY, limit_note=_UNITS_NOTE),
        ColumnSpec("abc_class", pa.string(), "", False, True,
                   "A, B or C (used by the blanket-ABC baseline)."),
        ColumnSpec("lead_time_days", pa.float64(), "[days]", False, True,
                   "Supplier lead time of the stage (order to receipt), used when it has no receipts and no "
                   "inbound arc with transit_days.", min_value=0.0, max_value=MAX_DAYS),
        ColumnSpec("lead_time_days_sd", pa.float64(), "[days]", False, True,
                   "Standard deviation of lead_time_days: given, the lead time is a gamma distribution "
                   "with that mean; null, it is fixed.", min_value=0.0, max_value=MAX_DAYS),
        ColumnSpec("shelf_life_periods", pa.int64(), "[periods]", False, True,
                   "Periods a unit can be sold from its receipt before it outdates (perishable stock, read "
                   "by the perishable solver); null: it does not perish.", min_value=1,
                   max_value=MAX_REVIEW_PERIOD),
    ),
)

EDGES = FileSpec(
    name="edges",
    required=False,
    key=("upstream_sku", "upstream_location", "downstream_sku", "downstream_location"),
    meaning="Network arcs: the upstream stage supplies the downstream stage. Without this file every stage stands alone.",
    columns=(
        ColumnSpec("upstream_sku", pa.string(), "", True, False, "SKU of the supplying stage."),
        ColumnSpec("upstream_location", pa.string(), "", True, False, "Location of the supplying stage."),
        ColumnSpec("downstream_sku", pa.string(), "", True, False,
                   "SKU of the supplied stage (differs from upstream_sku for a bill of materials)."),
        ColumnSpec("downstream_location", pa.string(), "", True, False, "Location of the supplied stage."),
        ColumnSpec("quantity_per", pa.float64(), "[units/unit]", True, False,
                   "Upstream units consumed per downstream unit.", min_value=0.0, exclusive_min=True,
                   max_value=MAX_QUANTITY_PER),
        ColumnSpec("transit_days", pa.float64(), "[days]", False, True,
                   "Nominal transit time of the lane (used when no receipts exist).", min_value=0.0,
                   max_value=MAX_DAYS),
        ColumnSpec("transit_days_sd", pa.float64(), "[days]", False, True,
                   "Standard deviation of transit_days: given, the transit time is a gamma distribution "
                   "with that mean; null, it is fixed.", min_value=0.0, max_value=MAX_DAYS),
    ),
)

DEMAND = FileSpec(
    name="demand",
    required=True,
    key=("sku", "location", "period"),
    meaning="Demand history per SKU-location: one row per period, per day or per dated total; the loader "
            "sums the rows of one period (periods of `period_days`, see Demand periods).",
    dictionary_columns=("sku", "location"),
    key_note="one row per stage and date: sum the transactions of one day before loading",
    columns=(
        _SKU,
        _LOC,
        ColumnSpec("period", pa.date32(), "[date]", True, False,
                   "Date of the row: the first day of its period, or any day in it.",
                   min_date=MIN_DATE, max_date=MAX_DATE),
        ColumnSpec("quantity", pa.float64(), "[units/period]", True, True,
                   "Demand observed (sales when stocked out); null means missing.", min_value=0.0,
                   max_value=MAX_QUANTITY, limit_note=_UNITS_NOTE),
        ColumnSpec("stocked_out", pa.bool_(), "", False, True,
                   "True when the stage was out of stock during the period (demand censored)."),
    ),
)

RECEIPTS = FileSpec(
    name="receipts",
    required=False,
    key=("order_id",),
    meaning="Purchase-order / transfer receipts; lead times are learned from them per lane (sku, location, supplier).",
    columns=(
        ColumnSpec("order_id", pa.string(), "", True, False, "Order line identifier."),
        _SKU,
        _LOC,
        ColumnSpec("supplier", pa.string(), "", True, False,
                   "External supplier, or the upstream location for internal transfers."),
        ColumnSpec("order_date", pa.date32(), "[date]", True, False, "Date the order was placed.",
                   min_date=MIN_DATE, max_date=MAX_DATE),
        ColumnSpec("receipt_date", pa.date32(), "[date]", True, False,
                   "Date the goods were received (not before order_date).",
                   min_date=MIN_DATE, max_date=MAX_DATE),
        ColumnSpec("quantity", pa.float64(), "[units]", True, False, "Quantity received.",
                   min_value=0.0, exclusive_min=True, max_value=MAX_RECEIPT_QUANTITY),
        ColumnSpec("shipment_mode", pa.string(), "", False, True, "Air, Ocean, Truck, ..."),
        ColumnSpec("country", pa.string(), "", False, True, "Origin country of the supplier."),
        ColumnSpec("product_group", pa.string(), "", False, True, "Product group of the SKU."),
    ),
)

COSTS = FileSpec(
    name="costs",
    required=False,
    key=("sku", "location"),
    meaning="Optional per-stage cost overrides; a null keeps the cost model's value.",
    columns=(
        _SKU,
        _LOC,
        ColumnSpec("holding_cost", pa.float64(), "[currency/unit/year]", False, True,
                   "Holding cost per unit-year (overrides unit_cost x carrying_rate).", min_value=0.0,
                   max_value=MAX_MONEY),
        ColumnSpec("stockout_cost", pa.float64(), "[currency/unit]", False, True,
                   "Cost per unit backordered or lost (overrides the margin-based estimate).", min_value=0.0,
                   max_value=MAX_MONEY),
        ColumnSpec("ordering_cost", pa.float64(), "[currency/order]", False, True,
                   "Fixed cost per order.", min_value=0.0, max_value=MAX_MONEY),
        ColumnSpec("line_stop_cost", pa.float64(), "[currency/unit]", False, True,
                   "Cost of a production stop per assembly unit not made (idle line, overtime), on top of its "
                   "lost margin; read by the learned cost model on assembly stages.", min_value=0.0,
                   max_value=MAX_MONEY),
    ),
)

CURRENT_POLICY = FileSpec(
    name="current_policy",
    required=False,
    key=("sku", "location"),
    meaning="The policy in use today, for comparison with the recommendation.",
    columns=(
        _SKU,
        _LOC,
        ColumnSpec("policy_type", pa.string(), "", True, False, "base_stock, rQ, sS or min_max."),
        ColumnSpec("reorder_point", pa.float64(), "[units]", False, True, "Reorder point s or r."),
        ColumnSpec("order_up_to", pa.float64(), "[units]", False, True, "Order-up-to level S (base stock)."),
        ColumnSpec("safety_stock", pa.float64(), "[units]", False, True, "Safety stock held today."),
    ),
)

_LEVEL_NOTE = "base-stock levels are whole units; " + _UNITS_NOTE

OVERRIDES = FileSpec(
    name="overrides",
    required=False,
    key=("sku", "location"),
    meaning="A planner's overrides: a pinned base-stock level, or a min/max corridor, per SKU-location; the run "
            "keeps them and re-optimises the rest of the network around them (docs/overrides.md).",
    columns=(
        _SKU,
        _LOC,
        ColumnSpec("pinned_level", pa.float64(), "[units]", False, True,
                   "Base-stock level the stage must hold (a whole number); null: see min_level / max_level.",
                   min_value=0.0, max_value=MAX_QUANTITY, limit_note=_LEVEL_NOTE),
        ColumnSpec("min_level", pa.float64(), "[units]", False, True,
                   "Least base-stock level allowed (a whole number); null: no lower bound.",
                   min_value=0.0, max_value=MAX_QUANTITY, limit_note=_LEVEL_NOTE),
        ColumnSpec("max_level", pa.float64(), "[units]", False, True,
                   "Largest base-stock level allowed (a whole number, not below min_level); null: no upper bound.",
                   min_value=0.0, max_value=MAX_QUANTITY, limit_note=_LEVEL_NOTE),
        ColumnSpec("reason", pa.string(), "", False, True, "Why the planner set it (for the planner's record; the run does not read it)."),
    ),
)

# --- signals (issue #18: signals beyond the history) ----------------------------------

#: Largest absolute value of a signal [signal units] (keeps sums of squares finite).
MAX_SIGNAL = 1e12

SIGNALS = FileSpec(
    name="signals",
    required=False,
    key=("sku", "location", "period"),
    meaning="Signals beyond the demand history, per SKU-location and period: any numeric columns (point-of-sale, "
            "distributor orders, inquiries, market indicators); the `signals` forecaster learns which lead demand "
            "(docs/forecasting.md). Periods are on the demand table's grid.",
    dictionary_columns=("sku", "location"),
    columns=(
        _SKU,
        _LOC,
        ColumnSpec("period", pa.date32(), "[date]", True, False,
                   "First day of a period of the demand grid (see Demand periods), not after the last one.",
                   min_date=MIN_DATE, max_date=MAX_DATE),
    ),
    extra_columns=ColumnSpec("*", pa.float64(), "[signal units]", False, True,
                             "Every other column is one signal: a number (null means not observed).",
                             min_value=-MAX_SIGNAL, max_value=MAX_SIGNAL),
)

# --- cost-to-serve history (issue #21): what the learned cost model learns from ---------

ORDER_LINES = FileSpec(
    name="order_lines",
    required=False,
    key=("line_id",),
    meaning="Customer order lines at customer-facing stages, filled or short; the learned cost model estimates "
            "from them how often a stockout makes a customer switch and how much volume it loses for good "
            "(docs/costs.md).",
    columns=(
        ColumnSpec("line_id", pa.string(), "", True, False, "Order line identifier."),
        ColumnSpec("customer", pa.string(), "", True, False, "Customer identifier."),
        _SKU,
        _LOC,
        ColumnSpec("order_date", pa.date32(), "[date]", True, False, "Date the line was ordered.",
                   min_date=MIN_DATE, max_date=MAX_DATE),
        ColumnSpec("quantity_ordered", pa.float64(), "[units]", True, False, "Quantity the customer ordered.",
                   min_value=0.0, exclusive_min=True, max_value=MAX_QUANTITY, limit_note=_UNITS_NOTE),
        ColumnSpec("quantity_filled", pa.float64(), "[units]", False, True,
                   "Quantity delivered on time (not above quantity_ordered); null: see short.",
                   min_value=0.0, max_value=MAX_QUANTITY, limit_note=_UNITS_NOTE),
        ColumnSpec("short", pa.bool_(), "", False, True,
                   "True when the line was not filled in full (used where quantity_filled is null)."),
        ColumnSpec("customer_segment", pa.string(), "", False, True,
                   "Customer segment (key account, regular, ...): customers of one segment share strength."),
    ),
)

EXPEDITES = FileSpec(
    name="expedites",
    required=False,
    key=("expedite_id",),
    meaning="Expedited shipments: what it cost to recover days of lead time on a lane, by carrier and mode; the "
            "learned cost model fits the expediting cost from them (docs/costs.md).",
    columns=(
        ColumnSpec("expedite_id", pa.string(), "", True, False, "Expedite identifier."),
        _SKU,
        ColumnSpec("location", pa.string(), "", True, False, "Location the expedited goods were shipped to."),
        ColumnSpec("supplier", pa.string(), "", True, False,
                   "External supplier, or the upstream location for internal transfers."),
        ColumnSpec("carrier", pa.string(), "", True, False, "Carrier that moved the shipment."),
        ColumnSpec("shipment_mode", pa.string(), "", True, False, "Air, Ocean, Truck, Courier, ..."),
        ColumnSpec("quantity", pa.float64(), "[units]", True, False, "Units expedited.",
                   min_value=0.0, exclusive_min=True, max_value=MAX_QUANTITY, limit_note=_UNITS_NOTE),
        ColumnSpec("days_saved", pa.float64(), "[days]", True, False,
                   "Days of lead time the expedite recovered against the normal lane.", min_value=0.0,
                   exclusive_min=True, max_value=MAX_DAYS),
        ColumnSpec("cost", pa.float64(), "[currency]", True, False,
                   "Extra cost of the expedite over the normal shipment.", min_value=0.0, max_value=MAX_MONEY),
        ColumnSpec("expedite_date", pa.date32(), "[date]", False, True, "Date of the expedite.",
                   min_date=MIN_DATE, max_date=MAX_DATE),
    ),
)

# --- coupling constraints across SKUs (issue 17 B): stage columns and the constraints table ---

#: Largest item volume [m3/unit] and largest constraint limit (space, capacity, budget).
MAX_VOLUME_M3 = 1e6
#: constraint_type -> (allowed units, allowed statistics, the first being the default).
CONSTRAINT_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "location_space": (("m3",), ("p95", "mean")),
    "supplier_capacity": (("units/period", "m3/period"), ("mean",)),
    "budget": (("currency",), ("on_hand_value", "level_value")),
}

STAGES = replace(STAGES, columns=STAGES.columns + (
    ColumnSpec("unit_volume_m3", pa.float64(), "[m3/unit]", False, True,
               "Space one unit takes at its location (needed by location_space and m3/period "
               "supplier_capacity constraints).", min_value=0.0, exclusive_min=True, max_value=MAX_VOLUME_M3),
    ColumnSpec("supplier", pa.string(), "", False, True,
               "External supplier that replenishes the stage (names it in supplier_capacity constraints)."),
))

CONSTRAINTS = FileSpec(
    name="constraints",
    required=False,
    key=("constraint_id",),
    meaning="Constraints that couple SKUs: space at a location, a supplier's capacity per period, one capital "
            "budget; the run allocates service on the efficient frontier to honour them (docs/optimisation.md).",
    columns=(
        ColumnSpec("constraint_id", pa.string(), "", True, False, "Name of the constraint (shown in summary.json)."),
        ColumnSpec("constraint_type", pa.string(), "", True, False, "location_space, supplier_capacity or budget."),
        ColumnSpec("location", pa.string(), "", False, True,
                   "The location whose on-hand volume is limited (location_space only)."),
        ColumnSpec("supplier", pa.string(), "", False, True,
                   "The supplier (stages.supplier) whose capacity is limited (supplier_capacity only)."),
        ColumnSpec("limit", pa.float64(), "", True, False,
                   "The limit, in `unit`.", min_value=0.0, exclusive_min=True, max_value=MAX_MONEY),
        ColumnSpec("unit", pa.string(), "", True, False,
                   "m3 (location_space), units/period or m3/period (supplier_capacity), currency (budget)."),
        ColumnSpec("statistic", pa.string(), "", False, True,
                   "What the limit binds: p95 (default) or mean on-hand volume (location_space); on_hand_value "
                   "(default: mean on hand x unit cost) or level_value (level x unit cost) (budget); mean "
                   "(supplier_capacity)."),
        ColumnSpec("confidence", pa.float64(), "[-]", False, True,
                   "One-sided confidence that a space or on_hand_value budget limit holds for the true mean, "
                   "not only for the run's simulated estimate: the limit is held by the estimate plus "
                   "z(confidence) x its standard error (default 0.95; 0.5: no margin; null for "
                   "supplier_capacity).", min_value=0.5, max_value=0.9999),
    ),
)
# --- end of coupling constraints ---

FILE_SPECS: dict[str, FileSpec] = {
    s.name: s for s in (STAGES, EDGES, DEMAND, RECEIPTS, COSTS, CURRENT_POLICY, OVERRIDES, SIGNALS, ORDER_LINES,
                        EXPEDITES, CONSTRAINTS)
}


@dataclass
class Dataset:
    """A loaded, validated input dataset.

    Attributes:
        root: the directory it was loaded from.
        tables: file name -> Arrow table conforming to ``FILE_SPECS[name]`` (optional
            files that are absent are missing from the dict).
        sources: file name -> path of the file it was read from.
        demand_grid: how ``load_dataset`` put the demand rows on the period grid (None
            for a Dataset built in memory).
    """

    root: str
    tables: dict[str, pa.Table]
    sources: dict[str, str] = field(default_factory=dict)
    demand_grid: DemandGrid | None = None

    def get(self, name: str) -> pa.Table | None:
        """The table ``name``, or None if the optional file is absent."""
        return self.tables.get(name)

    @property
    def stages(self) -> pa.Table:
        """The stages table (required)."""
        return self.tables["stages"]

    @property
    def demand(self) -> pa.Table:
        """The demand table (required)."""
        return self.tables["demand"]
