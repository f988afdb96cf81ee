"""The ``echelon`` command line.

Core commands: ``generate``, ``validate``, ``run``, ``report``, ``plugins``.  Plugins add more
through the ``register_cli_commands`` hook (``gsm``, ``import-chain``, ``simulate``,
``backtest``, ``monitor``, ``recalibrate``, ``ui`` come from built-in plugins) and
options of ``echelon run`` through ``add_run_options`` (``--tracking-uri``,
``--recalibrate`` come from the MLflow plugin).

Exit status: 0 success; 1 the output pipe closed early (``echelon ... | head``); 2 bad
input, configuration, output directory or file (one line on stderr, no traceback); 130
interrupted (Ctrl-C), with the ``--resume`` hint when finished batches were kept.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from platform_core import __version__
from platform_core.config import RunSettings

__all__ = ["main", "build_parser"]

EXIT_BROKEN_PIPE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after every option whose help does not state its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def _cmd_generate(args: argparse.Namespace) -> int:
    from platform_core.data.generate import generate_dataset

    info = generate_dataset(
        args.out, sku_locations=args.sku_locations, seed=args.seed, periods=args.periods,
        period_days=args.period_days, fmt=args.format, signals=args.signals, constraints=args.constraints,
    )
    print(json.dumps(info, indent=2, default=str))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from platform_core.data.loaders import load_dataset

    ds = load_dataset(args.data, period_days=args.period_days)
    for name, table in ds.tables.items():
        print(f"{name:15s} {table.num_rows:>12,d} rows  {ds.sources.get(name, '')}")
    if ds.demand_grid is not None:
        print(ds.demand_grid.describe())
    print("valid")
    return 0


def _number(value: float, fmt: str) -> str:
    """``value`` formatted, or ``n/a`` where it is undefined (NaN: e.g. service without demand)."""
    return "n/a" if math.isnan(value) else format(value, fmt)


def _print_summary(metrics: dict[str, float], out: str) -> None:
    rows = [
        ("SKU-locations", f"{metrics['sku_locations']:,.0f}"),
        ("  ok", f"{metrics['sku_locations_ok']:,.0f}"),
        ("  error", f"{metrics['sku_locations_error']:,.0f}"),
        ("customer-facing fill (demand-weighted)",
         _number(metrics.get("customer_fill_rate_demand_weighted", math.nan), ".4f")),
        ("fill rate, all stages (demand-weighted)", _number(metrics["fill_rate_demand_weighted"], ".4f")),
        ("cycle service, all stages (demand-weighted)", _number(metrics["cycle_service_demand_weighted"], ".4f")),
        ("investment at the levels [currency]", _number(metrics.get("investment_at_level_currency", math.nan), ",.0f")),
        ("expected on-hand value [currency]", f"{metrics['inventory_investment_currency']:,.0f}"),
        ("safety stock [units]", f"{metrics['safety_stock_units']:,.0f}"),
        ("holding cost [currency/period]", f"{metrics['holding_cost_per_period_currency']:,.0f}"),
        ("stockout cost [currency/period]", f"{metrics['stockout_cost_per_period_currency']:,.0f}"),
        ("batches", f"{metrics['batches']:,.0f}"),
        ("wall time [s]", f"{metrics['wall_seconds']:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\nSummary")
    print("-" * (width + 18))
    for k, v in rows:
        print(f"{k:<{width}}  {v:>15}")
    print("-" * (width + 18))
    _print_planner_view(out)
    print(f"recommendations: {os.path.join(out, 'recommendations.parquet')}")


def _print_planner_view(out: str) -> None:
    """Today against recommended and the exception counts, from the run's ``summary.json``."""
    try:
        with open(os.path.join(out, "summary.json"), encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return
    cmp = doc.get("compared_with_today") or {}
    if cmp.get("today") and cmp.get("recommended"):
        def fig(side: dict[str, Any], key: str, fmt: str) -> str:
            value = side.get(key)
            return "n/a" if value is None else format(value, fmt)

        print(f"compared with today ({cmp.get('source', 'current_policy')}):")
        for label, side in (("today", cmp["today"]), ("recommended", cmp["recommended"])):
            print(f"  {label:<12} customer-facing fill {fig(side, 'customer_fill_rate_demand_weighted', '.4f')}, "
                  f"investment at the levels {fig(side, 'investment_at_level_currency', ',.0f')}")
        print(f"  levels up {cmp.get('levels_up', 0):,d}, down {cmp.get('levels_down', 0):,d}, "
              f"unchanged {cmp.get('levels_unchanged', 0):,d}")
    exceptions = doc.get("exceptions") or {}
    if exceptions:
        listed = ", ".join(f"{k} {v:,d}" for k, v in exceptions.items())
        print(f"exceptions ({os.path.join(out, 'exceptions.parquet')}): {listed}")


def _cmd_run(args: argparse.Namespace) -> int:
    from platform_core.config import load_config
    from platform_core.pipeline import run

    overrides: dict[str, dict[str, Any]] = {
        "run": {
            "seed": args.seed,
            "address": args.address,
            "executor": args.executor,
            "num_workers": args.num_workers,
            "batch_stages": args.batch_stages,
        },
    }
    # options that plugins added (add_run_options) carry dest "SECTION.KEY"
    for dest, value in vars(args).items():
        if "." in dest and value is not None:
            section, key = dest.split(".", 1)
            overrides.setdefault(section, {})[key] = value
    config = load_config(args.config, overrides)
    if args.since is not None:
        from platform_core.incremental import run_since

        if args.resume or args.compare_with or args.pooled_from:
            raise ValueError("--since cannot be combined with --resume, --compare-with or --pooled-from")
        result = run_since(args.data, args.out, config, args.since, overwrite=args.overwrite,
                           refit_pooled=args.refit_pooled)
    else:
        if args.refit_pooled:
            raise ValueError("--refit-pooled goes with --since (a full run fits them unless --pooled-from)")
        result = run(args.data, args.out, config, resume=args.resume, overwrite=args.overwrite,
                     compare_with=args.compare_with, pooled_from=args.pooled_from)
    _print_summary(result.metrics, args.out)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from platform_core.report import build_report, export_csv, export_xlsx

    result = build_report(args.out, html_path=args.html, data_dir=args.data)
    print(f"report: {result.path}")
    if args.csv:
        for path in export_csv(args.out):
            print(f"csv:    {path}")
    if args.xlsx:
        print(f"excel:  {export_xlsx(args.out)}")
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    from platform_core.plugin_host import PluginHost

    host = PluginHost()
    rows = [(c.family, c.name, c.plugin, c.version, f"{c.cls.__module__}.{c.cls.__qualname__}") for c in host.components()]
    header = ("family", "name", "plugin", "version", "class")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for r in [header, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def build_parser(with_plugins: bool = True) -> argparse.ArgumentParser:
    """The argument parser, including commands contributed by plugins."""
    parser = argparse.ArgumentParser(prog="echelon", description="Multi-echelon inventory optimisation.",
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"echelon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    defaults = RunSettings()

    p = sub.add_parser("generate", help="write a realistic generated dataset", formatter_class=_HelpFormatter)
    p.add_argument("out", help="output directory")
    p.add_argument("--sku-locations", type=int, default=2000, help="number of SKU-locations")
    p.add_argument("--seed", type=int, default=0, help="generator seed")
    p.add_argument("--periods", type=int, default=104, help="periods of demand history")
    p.add_argument("--period-days", type=int, default=7, help="days per period")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="file format of the tables")
    p.add_argument("--signals", action="store_true",
                   help="also write a signals table: one signal leading demand by 2 periods, two noise (docs/data.md)")
    p.add_argument("--constraints", action="store_true",
                   help="also write item volumes, suppliers and a constraints table (docs/data.md)")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("validate", help="load and validate a dataset directory", formatter_class=_HelpFormatter)
    p.add_argument("data", help="input dataset directory (docs/data.md)")
    p.add_argument("--period-days", type=float, default=7.0,
                   help="length of a planning period [days]: demand rows are summed per stage and period")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("run", help="recommend a policy for every SKU-location", formatter_class=_HelpFormatter,
                       description="Recommend a policy for every SKU-location. Options override the TOML "
                                   "file's [run] keys, which override the built-in defaults (docs/running.md).")
    p.add_argument("data", help="input dataset directory (docs/data.md)")
    p.add_argument("--out", required=True,
                   help="output directory; must be empty (or missing) unless --overwrite or --resume")
    p.add_argument("--config", help="TOML configuration file (default: none, built-in defaults)")
    p.add_argument("--executor",
                   help="where batches run: auto, ray, in_process or a plugin's executor (default: "
                        f"{defaults.executor}: in process below [run] in_process_below = "
                        f"{defaults.in_process_below:,} SKU-locations, else ray)")
    p.add_argument("--address", help="join the Ray cluster at this address, or auto (default: a local Ray instance)")
    p.add_argument("--num-workers", type=int, help="CPUs of the local Ray instance (default: all CPUs)")
    p.add_argument("--batch-stages", type=int,
                   help=f"work per batch, in single-stage SKU-locations (default: {defaults.batch_stages})")
    p.add_argument("--seed", type=int, help=f"run seed (default: {defaults.seed})")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue an interrupted run into the same --out: only unfinished batches run")
    again.add_argument("--overwrite", action="store_true",
                       help="replace the results of an earlier run in --out (recommendations.parquet, "
                            "summary.json, _parts; other files stay)")
    p.add_argument("--compare-with", metavar="PREVIOUS_OUT",
                   help="without a current_policy in the input, compare with the recommendations of the "
                        "earlier run in PREVIOUS_OUT (its levels and expected fill as they were; default: none)")
    p.add_argument("--since", metavar="PREVIOUS_OUT",
                   help="incremental run: sense demand and lead-time shifts since the run in PREVIOUS_OUT and "
                        "re-plan only the networks that changed; every other row is copied (default: a full run)")
    p.add_argument("--refit-pooled", action="store_true",
                   help="with --since: fit a pooling forecaster's run-wide parameters afresh instead of reusing "
                        "PREVIOUS_OUT's (default: reuse them)")
    p.add_argument("--pooled-from", metavar="PREVIOUS_OUT",
                   help="full run: a pooling forecaster (calibrated) uses the run-wide parameters the run in "
                        "PREVIOUS_OUT fitted instead of fitting them (default: fit them)")
    p.set_defaults(func=_cmd_run)
    run_parser = p

    p = sub.add_parser("report", help="write a run's HTML report (and CSV / Excel export)",
                       formatter_class=_HelpFormatter,
                       description="One self-contained HTML page of a finished run (docs/report.md).")
    p.add_argument("out", help="the run's output directory (echelon run --out)")
    p.add_argument("--html", help="where to write the page (default: OUT/report.html)")
    p.add_argument("--data", help="the run's input directory (default: the one recorded in OUT/summary.json)")
    p.add_argument("--csv", action="store_true", help="also write OUT/recommendations.csv and OUT/exceptions.csv")
    p.add_argument("--xlsx", action="store_true", help="also write OUT/report.xlsx")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("plugins", help="list every registered component", formatter_class=_HelpFormatter)
    p.set_defaults(func=_cmd_plugins)

    if with_plugins:
        from platform_core.plugin_host import PluginHost

        host = PluginHost()
        host.add_run_options(run_parser)
        host.register_cli_commands(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    """The message of an expected error, without Python's decoration."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def _interrupted(args: argparse.Namespace | None) -> str:
    out = getattr(args, "out", None) if args is not None and getattr(args, "command", None) == "run" else None
    parts = Path(out) / "_parts" if out else None
    if parts is not None and parts.is_dir():
        return f"echelon: interrupted; finished batches are kept in {parts}: rerun with --resume"
    return "echelon: interrupted"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``echelon`` console script.

    Returns:
        The exit status (see the module docstring).
    """
    from platform_core.data.errors import DataValidationError
    from platform_core.parts import OutputDirectoryError

    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here rather than at interpreter exit
        return code
    except KeyboardInterrupt:
        print(_interrupted(args), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`echelon ... | head`): stop quietly; Python flushes stdout
        # again at exit, so point it at /dev/null first
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except DataValidationError as exc:
        print(f"echelon: invalid input: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OutputDirectoryError, ValueError, KeyError, OSError) as exc:
        print(f"echelon: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
