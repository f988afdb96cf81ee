"""What a component short costs through the bill of materials.

An arc of ``edges`` whose upstream SKU differs from its downstream SKU is a bill-of-materials
arc: ``quantity_per`` units of the component make one unit of the assembly.  A unit of the
component short stops ``1 / quantity_per`` units of the assembly unless other stock covers
it (with probability ``cover_probability``: finished assemblies on hand, another source).
Stopped assembly units lose their margin at risk plus the line-stop cost where the
``costs`` table gives one (``line_stop_cost`` [currency/assembly unit])::

    stop cost [currency/component unit] = (1 - cover) x mean over its assemblies a of
                                          (margin_at_risk[a] + line_stop_cost[a]) / quantity_per[a]

The margin at risk of a stage is its own margin ``price - unit_cost`` where positive; an
internal stage (transfer price not above cost) takes the largest margin at risk of the
stages of the same SKU it supplies (the finished goods it becomes).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["margin_at_risk", "assembly_stop_cost"]


def _rows(table: pa.Table, index: dict[tuple[str, str], int], sku: str, loc: str) -> np.ndarray:
    return np.array([index.get(k, -1) for k in zip(table.column(sku).to_pylist(), table.column(loc).to_pylist(),
                                                   strict=True)], dtype=np.int64)


def margin_at_risk(margin: np.ndarray, up: np.ndarray, down: np.ndarray, same_sku: np.ndarray) -> np.ndarray:
    """Margin at risk per stage [currency/unit] (see module doc); arcs as stage rows."""
    value = np.asarray(margin, dtype=float).copy()
    internal = value <= 0
    u, d = up[same_sku], down[same_sku]
    for _ in range(u.size + 1):  # at most one pass per arc on a chain
        before = value.copy()
        prop = np.full(value.size, -np.inf)
        np.maximum.at(prop, u, value[d])
        value = np.where(internal, np.maximum(value, prop), value)
        if np.array_equal(before, value):
            break
    return np.maximum(value, 0.0)


def assembly_stop_cost(stages: pa.Table, edges: pa.Table | None, costs: pa.Table | None,
                       cover_probability: float) -> tuple[np.ndarray, np.ndarray]:
    """Stop cost per unit short of each stage [currency/unit] (NaN: not a component) and its assemblies.

    Returns:
        ``(stop_cost, assemblies)``: per stage row, the cost and ``"sku@location"`` of the
        assemblies it feeds (``;``-separated, "" for non-components).
    """
    n = stages.num_rows
    stop = np.full(n, np.nan)
    names = np.full(n, "", dtype=object)
    if edges is None or edges.num_rows == 0:
        return stop, names
    keys = list(zip(stages.column("sku").to_pylist(), stages.column("location").to_pylist(), strict=True))
    index = {k: i for i, k in enumerate(keys)}
    price = np.asarray(stages.column("price").to_numpy(zero_copy_only=False), dtype=float)
    unit_cost = np.asarray(stages.column("unit_cost").to_numpy(zero_copy_only=False), dtype=float)
    up = _rows(edges, index, "upstream_sku", "upstream_location")
    down = _rows(edges, index, "downstream_sku", "downstream_location")
    same = np.asarray(edges.column("upstream_sku").to_pylist(), dtype=object) == np.asarray(
        edges.column("downstream_sku").to_pylist(), dtype=object)
    value = margin_at_risk(price - unit_cost, up, down, same)
    line_stop = np.zeros(n)
    if costs is not None and "line_stop_cost" in costs.column_names:
        rows = _rows(costs, index, "sku", "location")
        vals = np.asarray(costs.column("line_stop_cost").to_numpy(zero_copy_only=False), dtype=float)
        ok = (rows >= 0) & np.isfinite(vals)
        line_stop[rows[ok]] = vals[ok]
    qty = np.asarray(edges.column("quantity_per").to_numpy(zero_copy_only=False), dtype=float)
    bom = np.flatnonzero(~same)
    if bom.size == 0:
        return stop, names
    per_arc = (1.0 - cover_probability) * (value[down[bom]] + line_stop[down[bom]]) / qty[bom]
    total = np.bincount(up[bom], weights=per_arc, minlength=n)
    count = np.bincount(up[bom], minlength=n)
    has = count > 0
    stop[has] = total[has] / count[has]
    for a, c in zip(down[bom].tolist(), up[bom].tolist(), strict=True):
        names[c] = f"{names[c]};{keys[a][0]}@{keys[a][1]}" if names[c] else f"{keys[a][0]}@{keys[a][1]}"
    return stop, names
