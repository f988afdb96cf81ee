"""``echelon backtest DATA``: rolling-origin backtest of the demand forecasters.

``DATA`` is a dataset directory (its demand table) or a plain CSV / Parquet file of series
(:mod:`echelon_demand.series_file`: long or wide layout).  Prints accuracy (CRPS, scaled
pinball loss at 0.5 / 0.9 / 0.95) next to calibration (80 / 90 / 95 % interval coverage and
the PIT histogram in tenths) per forecaster and demand class.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["add_backtest_command", "run_backtest_command"]

#: the default forecaster of ``echelon run`` first, then the main learned models
DEFAULT_MODELS = "calibrated,bootstrap,auto,negbin,poisson,tsb,sba"


def add_backtest_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``backtest`` sub-command to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "backtest",
        help="rolling-origin backtest of demand forecasters on a dataset directory or a series file",
        description="Fit each forecaster on all but the last periods of every series and "
        "score its distribution of demand over the next H periods (CRPS, scaled pinball "
        "loss; calibration: 80/90/95 %% interval coverage and the PIT histogram in tenths) "
        "by ADI/CV² demand class and overall.",
    )
    p.add_argument("data_dir", metavar="DATA",
                   help="dataset directory (demand.parquet or demand.csv), or a CSV / Parquet file of "
                   "series: long (series, period, demand columns) or wide (id, then one column per period)")
    p.add_argument("--out", metavar="FILE", default=None, help="write the metrics table as Parquet")
    p.add_argument("--horizon", type=int, default=3, help="periods summed per forecast [periods] (default 3)")
    p.add_argument("--origins", type=int, default=3, help="rolling forecast origins (default 3)")
    p.add_argument("--models", default=DEFAULT_MODELS,
                   help="comma-separated registered forecaster names, as `echelon plugins` "
                   f"lists them (default {DEFAULT_MODELS})")
    p.set_defaults(func=run_backtest_command)
    return p


def _read_demand(data_dir: str):  # noqa: ANN202 - pyarrow table
    try:
        from platform_core.data.loaders import load_dataset

        return load_dataset(data_dir).demand
    except ImportError:  # pragma: no cover - loaders not yet available
        pass
    except Exception as err:  # fall back to the bare demand file, say why
        print(f"note: full dataset not loadable ({str(err).splitlines()[0]}); reading demand only",
              file=sys.stderr)
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    pqf = os.path.join(data_dir, "demand.parquet")
    if os.path.exists(pqf):
        return pq.read_table(pqf)
    return pcsv.read_csv(os.path.join(data_dir, "demand.csv"))


def run_backtest_command(args: argparse.Namespace) -> int:
    """Handler of ``echelon backtest``; returns the process exit code."""
    from echelon_demand.backtest import backtest, forecaster_classes
    from platform_core.forecasting.series import demand_series_from_table
    from platform_core.plugin_host import UnknownComponentError

    names = [m.strip() for m in str(args.models).split(",") if m.strip()]
    try:
        classes = forecaster_classes(names)
    except UnknownComponentError as err:
        print(f"error: --models: {err}", file=sys.stderr)
        return 2
    from echelon_demand.series_file import SeriesFileError, read_series_file

    if args.horizon < 1 or args.origins < 1:
        print("error: --horizon and --origins must be at least 1", file=sys.stderr)
        return 2
    try:
        if os.path.isdir(args.data_dir):
            demand = demand_series_from_table(_read_demand(args.data_dir))
        else:
            demand = read_series_file(args.data_dir)
    except SeriesFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:
        print(f"error: cannot read demand from {args.data_dir}: {err}", file=sys.stderr)
        return 2
    forecasters = {name: cls() for name, cls in classes.items()}
    result = backtest(demand, forecasters, horizon=args.horizon, origins=args.origins, out=args.out)
    assert not isinstance(result, tuple)
    print(f"backtest: {len(demand)} series, horizon {args.horizon} periods, {args.origins} origins")
    if "n" not in result.column_names:
        print("no (series, origin) pair to score: every series is shorter than horizon + 6 periods")
        return 0
    cols = ["forecaster", "demand_class", "n", "crps", "spl_50", "spl_90", "spl_95",
            "coverage_80", "coverage_90", "coverage_95"]
    print("".join(f"{c:>14s}" for c in cols))
    rows = result.to_pylist()
    for r in rows:
        print("".join(f"{r[c]:>14.4f}" if isinstance(r[c], float) else f"{r[c]!s:>14s}" for c in cols))
    print("PIT histogram (share of outcomes per tenth of the forecast CDF; calibrated: 0.10 each), all series:")
    for r in rows:
        if r["demand_class"] == "all":
            pit = " ".join(f"{r[f'pit_{j}']:.3f}" for j in range(10))
            print(f"{r['forecaster']:>14s}  {pit}")
    if args.out:
        print(f"wrote {args.out}")
    return 0
