"""Investment vs service: the portfolio frontier, a budget, and the blanket-ABC baseline.

Run it with ``python docs/examples/frontier_budget.py``; it writes
./frontier_budget/frontier.parquet, frontier.csv and (with matplotlib) frontier.png.
"""

from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from echelon_solvers.baseline import blanket_abc_levels
from echelon_solvers.frontier import (
    allocate_budget,
    frontier_table,
    plot_frontier,
    portfolio_frontier,
    stage_curve,
)

from platform_core.distributions import DiscreteDistribution

rng = np.random.default_rng(7)
n = 300  # SKU-locations
mean = rng.lognormal(np.log(4.0), 0.8, n)  # demand [units/week]
unit_cost = np.round(rng.lognormal(np.log(20.0), 0.8, n), 2)  # [currency/unit]
lead = rng.integers(1, 6, n)  # [weeks]
abc = np.where(mean * unit_cost > np.quantile(mean * unit_cost, 0.8), "A",
               np.where(mean * unit_cost > np.quantile(mean * unit_cost, 0.5), "B", "C"))
demand = [DiscreteDistribution.poisson(float(m)) for m in mean]

# exact investment and fill rate of every base-stock level, per SKU-location
curves = [stage_curve(d, int(lt), float(c)) for d, lt, c in zip(demand, lead, unit_cost, strict=True)]
frontier = portfolio_frontier(curves)

# the blanket-ABC rule on the same SKUs, priced on the same curves
levels, _ = blanket_abc_levels(mean, np.sqrt(mean), lead.astype(float), list(abc))
idx = np.minimum(levels.astype(int), [c.levels.size - 1 for c in curves])
abc_inv = sum(c.investment[k] for c, k in zip(curves, idx, strict=True))
abc_fill = 1 - sum(c.short[k] for c, k in zip(curves, idx, strict=True)) / sum(c.mean_demand for c in curves)

# budget mode: the best portfolio fill rate for 80 % of the blanket-ABC investment
budget = 0.8 * abc_inv
alloc = allocate_budget(curves, budget, frontier)
print(f"blanket ABC : investment {abc_inv:12,.0f}  portfolio fill {abc_fill:.4f}")
print(f"budget      : investment {alloc.investment:12,.0f}  portfolio fill {alloc.fill_rate:.4f}"
      f"  (budget {budget:,.0f}, spent {100 * alloc.investment / budget:.2f} %)")
k = int(np.searchsorted(frontier.fill_rate, abc_fill))
print(f"same fill as ABC on the frontier: investment {frontier.investment[k]:,.0f} "
      f"({100 * (1 - frontier.investment[k] / abc_inv):.1f} % less)")

out = Path("frontier_budget")
out.mkdir(exist_ok=True)
table = frontier_table(frontier, points=200)
pq.write_table(table, out / "frontier.parquet")
pcsv.write_csv(table, out / "frontier.csv")
if plot_frontier(table, str(out / "frontier.png"),
                 marks={"blanket ABC": (abc_inv, abc_fill), "budget": (alloc.investment, alloc.fill_rate)}):
    print(f"plot: {out / 'frontier.png'}")
print(f"frontier table: {table.num_rows} rows -> {out / 'frontier.parquet'}")
