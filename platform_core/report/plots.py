"""The report's plots: matplotlib figures rendered to inline SVG text (no file, no network)."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

__all__ = ["svg", "frontier_plot", "safety_stock_plot", "group_bar_plot"]

_COLOURS = ["#1f5f8b", "#e07b39", "#3a9d5d", "#b03a48", "#7a5195", "#8c8c8c"]


_THOUSANDS = FuncFormatter(lambda v, _pos: f"{v:,.0f}")


def svg(fig: Figure) -> str:
    """``fig`` as an SVG element (text), closed afterwards."""
    buf = io.StringIO()
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, small
    plt.rcParams["svg.hashsalt"] = "echelon"  # same ids every time: the same run gives the same page
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def frontier_plot(points: dict[str, tuple[float, float]], frontier: pd.DataFrame | None) -> str:
    """Expected on-hand value [currency] vs fill [-]: the labelled points and a frontier curve.

    Args:
        points: label -> (expected on-hand value [currency], customer-facing fill [-]).
        frontier: a ``frontier.parquet`` table (``expected_on_hand_value_currency``,
            ``customer_fill_rate_demand_weighted`` per target shift) or None.
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    if frontier is not None and len(frontier):
        f = frontier.sort_values("target_shift", kind="stable")
        ax.plot(f["expected_on_hand_value_currency"], f["customer_fill_rate_demand_weighted"], color=_COLOURS[0],
                marker="o", markersize=3, label="efficient frontier (frontier.parquet)")
    for (label, (x, y)), colour in zip(points.items(), _COLOURS[1:], strict=False):
        if math.isfinite(x) and math.isfinite(y):
            ax.scatter([x], [y], s=60, color=colour, label=label, zorder=3)
    ax.xaxis.set_major_formatter(_THOUSANDS)
    ax.set_xlabel("expected average on-hand value [currency]")
    ax.set_ylabel("customer-facing fill rate [-]")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return svg(fig)


def safety_stock_plot(table: pd.DataFrame) -> str:
    """Horizontal bars per network, stacked by echelon (safety stock value [currency])."""
    height = 0.9 + 0.32 * max(1, table.shape[0])
    fig, ax = plt.subplots(figsize=(6.4, height))
    y = np.arange(table.shape[0])
    pos = np.zeros(table.shape[0])
    neg = np.zeros(table.shape[0])
    for i, echelon in enumerate(table.columns):
        v = table[echelon].to_numpy(dtype=float)
        left = np.where(v >= 0, pos, neg)
        name = "customer-facing" if echelon == 1 else f"echelon {echelon}"
        ax.barh(y, v, left=left, color=_COLOURS[i % len(_COLOURS)], label=name)
        pos += np.maximum(v, 0.0)
        neg += np.minimum(v, 0.0)
    ax.set_yticks(y, [str(n) for n in table.index], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", linewidth=0.6)
    ax.xaxis.set_major_formatter(_THOUSANDS)
    ax.set_xlabel("safety stock value [currency]")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    return svg(fig)


def group_bar_plot(labels: list[str], recommended: list[float], today: list[float] | None, ylabel: str) -> str:
    """Grouped bars: recommended (and today's) value per group."""
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    x = np.arange(len(labels))
    width = 0.38 if today is not None else 0.6
    ax.bar(x - (width / 2 if today is not None else 0.0), recommended, width, color=_COLOURS[0], label="recommended")
    if today is not None:
        ax.bar(x + width / 2, today, width, color=_COLOURS[1], label="today")
    ax.set_xticks(x, labels)
    ax.yaxis.set_major_formatter(_THOUSANDS)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return svg(fig)
