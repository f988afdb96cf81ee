"""``echelon rollout plan``, ``echelon rollout scenario`` and ``echelon outcomes``.

::

    echelon rollout plan RUN_OUT [--waves N] [--rule KEYS] [--control-fraction F] [--seed S]
                         [--start DATE] [--wave-periods P] [--overwrite] [--tracking-uri URI]
    echelon rollout scenario RUN_OUT --out DATA [--seed S] [--override-rate R] [--override-pull P]
                         [--promise-drift CLASS=AMOUNT ...]
    echelon outcomes DATA --run RUN_OUT [--tracking-uri URI] [--experiment NAME]

The computations live in :mod:`platform_core.rollout`; this module adds the command
line and the MLflow logging (:mod:`echelon_mlflow.outcomes_log`).  ``--tracking-uri
none`` skips MLflow.  See ``docs/rollout.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

__all__ = ["add_rollout_commands", "cmd_plan", "cmd_scenario", "cmd_outcomes"]

DEFAULT_URI = "sqlite:///mlflow.db"


def _tracking(uri: str) -> bool:
    return uri.lower() != "none"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from exc


def _drift(text: str) -> tuple[str, float]:
    name, sep, amount = text.partition("=")
    try:
        value = float(amount)
    except ValueError:
        value = float("nan")
    if not sep or not name or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected CLASS=AMOUNT with AMOUNT in [0, 1], got {text!r}")
    return name, value


def cmd_plan(args: argparse.Namespace) -> int:
    """Handler of ``echelon rollout plan``."""
    from platform_core.rollout.plan import plan_rollout, write_plan
    from platform_core.rollout.units import load_units

    units = load_units(args.run_out, args.data, args.period_days)
    plan = plan_rollout(units, waves=args.waves, rule=args.rule, control_fraction=args.control_fraction,
                        seed=args.seed, start=args.start, wave_periods=args.wave_periods,
                        max_std_diff=args.max_std_diff)
    path = write_plan(args.run_out, plan, overwrite=args.overwrite)
    t = plan.table
    print(f"rollout plan: {path}")
    print(f"{'wave':>4s} {'starts':10s} {'treatment':>9s} {'control':>7s} {'networks':>8s}  "
          f"std diff (demand, service)")
    for w in sorted(t["wave"].unique()):
        part = t[t["wave"] == w]
        b = plan.balance[plan.balance["wave"] == str(w)].set_index("covariate")["std_diff"]
        print(f"{w:>4d} {str(part['wave_start'].iloc[0]):10s} {int((part['group'] == 'treatment').sum()):>9,d} "
              f"{int((part['group'] == 'control').sum()):>7,d} {part['network'].nunique():>8,d}  "
              f"{b['demand_per_period']:+.3f}, {b['service']:+.3f}")
    if _tracking(args.tracking_uri):
        from echelon_mlflow.outcomes_log import log_plan

        rid = log_plan(args.tracking_uri, args.experiment, args.run_out, units.run_id, plan.max_abs_std_diff,
                       args.waves)
        print(f"logged to MLflow run {rid}" if rid else
              f"note: run {units.run_id or '?'} is not in experiment {args.experiment!r}: plan not logged",
              file=sys.stderr if rid is None else sys.stdout)
    return 0


def cmd_scenario(args: argparse.Namespace) -> int:
    """Handler of ``echelon rollout scenario``."""
    from platform_core.rollout.plan import read_plan
    from platform_core.rollout.scenario import generate_outcomes, write_outcomes
    from platform_core.rollout.units import load_units

    units = load_units(args.run_out, args.data, args.period_days)
    plan = read_plan(args.run_out)
    table, truth = generate_outcomes(units, plan, seed=args.seed, pre_periods=args.pre_periods,
                                     post_periods=args.post_periods, override_rate=args.override_rate,
                                     override_pull=args.override_pull, promise_drift=dict(args.promise_drift or []))
    path = write_outcomes(args.out, table, truth)
    print(f"outcome periods: {path} ({table.num_rows:,d} rows)")
    print(f"truth: {Path(args.out) / 'truth' / 'outcomes_truth.json'}")
    return 0


def cmd_outcomes(args: argparse.Namespace) -> int:
    """Handler of ``echelon outcomes``."""
    from platform_core.rollout.record import record_outcomes

    rec = record_outcomes(args.data, args.run, data_dir=args.run_data, period_days=args.period_days)
    print(f"outcome ledger: {rec.ledger_path} ({len(rec.ledger):,d} rows, as of {rec.as_of})")
    print(f"{'wave':>4s} {'outcome':16s} {'effect':>12s} {'95 % interval':>27s} {'adopted':>8s} {'overridden':>10s}")
    for e in rec.effects.itertuples():
        print(f"{e.wave:>4d} {e.outcome:16s} {e.estimate:>12.4g} [{e.ci_low:>12.4g}, {e.ci_high:>12.4g}] "
              f"{e.adoption_rate:>8.1%} {e.override_rate:>10.1%}")
    if not rec.promise.empty:
        print("promised vs realised fill (adopted SKU-locations):")
        for p in rec.promise.itertuples():
            print(f"  {p.demand_class:13s} promised {p.promised_fill:.3f} realised {p.realised_fill:.3f} "
                  f"shortfall {p.shortfall:+.3f} (se {p.se:.3f}, {p.units} SKU-locations)")
    if _tracking(args.tracking_uri):
        from echelon_mlflow.outcomes_log import log_outcomes

        rid = log_outcomes(args.tracking_uri, args.experiment, args.run, rec.run_id, rec.forecaster, rec.as_of,
                           rec.effects, rec.promise, rec.files)
        print(f"logged to MLflow run {rid}")
    return 0


def add_rollout_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rollout`` (``plan``, ``scenario``) and ``outcomes`` to ``subparsers``."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = subparsers.add_parser("rollout", help="plan a gradual rollout in waves with control groups",
                              description="Gradual rollout of a run's recommendations (docs/rollout.md).")
    sub = p.add_subparsers(dest="rollout_command", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("run_out", metavar="RUN_OUT", help="the run's output directory (echelon run --out)")
        q.add_argument("--data", default=None, help="the run's input directory (default: from summary.json)")
        q.add_argument("--period-days", type=float, default=7.0, help="length of the run's period [days]")

    q = sub.add_parser("plan", help="assign SKU-locations to waves and control groups", formatter_class=fmt)
    common(q)
    q.add_argument("--waves", type=int, default=3, help="number of waves")
    q.add_argument("--rule", default="abc",
                   help="order of the networks: comma-separated keys, 'abc' (C first) or [-]COLUMN")
    q.add_argument("--control-fraction", type=float, default=0.3, help="share of each wave's networks held back")
    q.add_argument("--seed", type=int, default=0, help="seed of the control draws")
    q.add_argument("--start", type=_date, default=None,
                   help="first day of wave 1 (default: the first period after the run's history)")
    q.add_argument("--wave-periods", type=int, default=13, help="periods between wave starts")
    q.add_argument("--max-std-diff", type=float, default=0.1, help="balance bound of the control groups [-]")
    q.add_argument("--overwrite", action="store_true", help="replace an existing plan")
    q.add_argument("--tracking-uri", default=DEFAULT_URI, help="MLflow tracking URI ('none': do not log)")
    q.add_argument("--experiment", default="echelon", help="experiment of the run")
    q.set_defaults(func=cmd_plan)

    q = sub.add_parser("scenario", help="generate outcome periods with a known effect (for a demo or a test)",
                       formatter_class=fmt)
    common(q)
    q.add_argument("--out", required=True, help="directory to write outcome_periods.parquet and truth/ to")
    q.add_argument("--seed", type=int, default=0, help="seed of the draws")
    q.add_argument("--pre-periods", type=int, default=13, help="periods before wave 1")
    q.add_argument("--post-periods", type=int, default=13, help="periods from the last wave's start")
    q.add_argument("--override-rate", type=float, default=0.2, help="share of treated SKU-locations overridden")
    q.add_argument("--override-pull", type=float, default=0.5, help="how far an override goes back to today's level")
    q.add_argument("--promise-drift", type=_drift, action="append", metavar="CLASS=AMOUNT",
                   help="lower the fill of a demand class after adoption by AMOUNT (e.g. lumpy=0.05)")
    q.set_defaults(func=cmd_scenario)

    p = subparsers.add_parser("outcomes", help="the outcome ledger of a rollout and its effect per wave",
                              formatter_class=fmt,
                              description="Read new periods, write RUN/outcomes/ (docs/rollout.md).")
    p.add_argument("data", help="directory with outcome_periods.parquet or .csv")
    p.add_argument("--run", required=True, help="the run's output directory (with rollout/plan.parquet)")
    p.add_argument("--run-data", default=None, help="the run's input directory (default: from summary.json)")
    p.add_argument("--period-days", type=float, default=7.0, help="length of the run's period [days]")
    p.add_argument("--tracking-uri", default=DEFAULT_URI, help="MLflow tracking URI ('none': do not log)")
    p.add_argument("--experiment", default="echelon", help="experiment to log to")
    p.set_defaults(func=cmd_outcomes)


