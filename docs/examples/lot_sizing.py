"""Lot sizing: the optimal (s, S) and (r, nQ) of one stage, with an MOQ, a case size and a fill target.

Run: ``python docs/examples/lot_sizing.py`` (a second or two; no simulation).
See docs/optimisation.md, "Lot sizing".
"""

from echelon_solvers.kit.lot_sizing import lot_sizing_problem, optimal_lot_policy, zheng_federgruen

from platform_core.distributions import DiscreteDistribution

# Zheng & Federgruen (1991) Table I, first row: Poisson(10) per period, no lead time,
# h = 1 per unit-period on stock, p = 9 per unit-period on backorders, K = 64 per order
prob = lot_sizing_problem(DiscreteDistribution.poisson(10), lead_time=0, review_period=1)
s, big_s, cost = zheng_federgruen(prob, prob.g(holding_cost=1.0, backorder_cost=9.0), fixed_cost=64.0)
print(f"ZF Table I: (s, S) = ({s}, {big_s}), cost {cost:.3f} per period (published: (6, 40), 35.022)")

# a store: Poisson(4) a week, 2 weeks lead time, holding 0.3 per unit-week, 25 per order
store = lot_sizing_problem(DiscreteDistribution.poisson(4), lead_time=2, review_period=1)
free = optimal_lot_policy(store, "sS", holding_cost=0.3, fixed_cost=25.0, fill_target=0.97)
moq = optimal_lot_policy(store, "sS", holding_cost=0.3, fixed_cost=25.0, fill_target=0.97, min_quantity=40)
case = optimal_lot_policy(store, "rQ", holding_cost=0.3, fixed_cost=25.0, fill_target=0.97, multiple=12)
for name, res in (("no constraint", free), ("MOQ 40", moq), ("cases of 12", case)):
    m = res.metrics
    print(f"{name:>14}: {res.kind} s/r = {res.reorder_point}, S = {res.order_up_to} (S - s or Q = {res.order_quantity}); "
          f"fill {m.fill_rate:.4f}, on hand {m.on_hand:.1f}, {m.order_frequency:.3f} orders/week, "
          f"holding + ordering {res.cost:.2f} per week")
assert moq.order_up_to - moq.reorder_point >= 40 and case.order_quantity % 12 == 0
assert free.cost <= moq.cost and free.metrics.fill_rate >= 0.97
