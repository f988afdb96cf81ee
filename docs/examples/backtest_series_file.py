"""Backtest forecasters on a plain CSV of demand series (runs in a few seconds).

1. write 60 generated intermittent series as a long CSV (``series, period, demand``);
2. run ``echelon backtest series.csv`` on the default forecaster of ``echelon run``
   (``bootstrap``), ``auto`` (per-series choice by its own rolling backtest) and
   statsforecast's CrostonSBA (``sf_croston_sba``): accuracy (CRPS, scaled pinball loss)
   next to calibration (80 / 90 / 95 % coverage, PIT histogram in tenths);
3. show the clear error (and exit code 2) of a CSV with a bad cell.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "plugins"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from platform_core.cli import main as echelon  # noqa: E402


def write_series(path: Path, n: int = 60, T: int = 36, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.15, 0.9, n)[:, None]           # occurrence probability per period
    Y = (rng.random((n, T)) < p) * (1 + rng.poisson(2.0, (n, T)))
    lines = ["series,period,demand"]
    lines += [f"P{i:03d},{t + 1},{int(Y[i, t])}" for i in range(n) for t in range(T)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    csv = Path("series.csv")
    write_series(csv)
    code = echelon(["backtest", str(csv), "--models", "bootstrap,auto,sf_croston_sba",
                    "--horizon", "3", "--origins", "2"])
    print(f"exit code {code}")

    bad = Path("bad.csv")
    bad.write_text("series,period,demand\nP1,1,3\nP1,2,three\n")
    code = echelon(["backtest", str(bad)])      # error: ... column 'demand', row 2: ...
    print(f"exit code {code}")
    assert code == 2


if __name__ == "__main__":
    main()
