"""``echelon monitor`` and ``echelon recalibrate`` (added through ``register_cli_commands``).

::

    echelon monitor [--tracking-uri URI] [--experiment NAME] [--monitoring-experiment NAME]
                    [--reference-runs N] [--json PATH] [--no-log] [--fail-on-drift]
    echelon recalibrate DATA [--tracking-uri URI] [--experiment NAME] [--config TOML]
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_monitor_commands", "add_ui_command", "cmd_monitor", "cmd_recalibrate", "cmd_ui"]

DEFAULT_URI = "sqlite:///mlflow.db"


def _unreachable(exc: Exception) -> int:
    """Report an unreachable tracking server as the core CLI reports errors (exit 2)."""
    print(f"echelon: error: {exc}", file=sys.stderr)
    return 2


def cmd_monitor(args: argparse.Namespace) -> int:
    """Handler of ``echelon monitor``: 0, or 1 with ``--fail-on-drift`` when flagged (2: no store)."""
    from echelon_mlflow.monitor import monitor, write_report
    from echelon_mlflow.settings import TrackingSettings
    from echelon_mlflow.stores import TrackingStoreUnreachable

    section = {"uri": args.tracking_uri, "experiment": args.experiment,
               "monitoring_experiment": args.monitoring_experiment, "reference_runs": args.reference_runs}
    settings = TrackingSettings.from_mapping({k: v for k, v in section.items() if v is not None})
    try:
        report = monitor(args.tracking_uri, args.experiment, settings=settings, log=not args.no_log)
    except TrackingStoreUnreachable as exc:
        return _unreachable(exc)
    if not report.latest:
        print(f"no calibrated runs with a reference window in experiment {args.experiment!r}")
        return 0
    print(f"{'model':28s} {'version':>7s} {'as of':10s} {'runs':>4s} {'PSI':>6s} {'KS':>6s} "
          f"{'cov80 drop':>10s} {'PIT shift':>9s}  flagged")
    for key, d in report.latest.items():
        o = d.overall
        if o is None:
            continue
        print(f"{key:28s} {d.version:>7s} {d.as_of[:10]:10s} {len(report.history[key]):>4d} {o.psi:6.3f} "
              f"{o.ks_stat:6.3f} {o.coverage_80_drop:10.3f} {o.pit_shift:9.3f}  "
              f"{', '.join(d.flagged_groups) or '-'}")
    for key, d in report.latest.items():
        if d.kind != "promise":
            continue
        print(f"{key}: promised vs realised fill per demand class (outcomes as of {d.as_of[:10]}, version {d.version})")
        for g in d.groups:
            print(f"  {g.group:13s} realised - promised {g.pit_shift:+.3f}  p {g.ks_pvalue:.2g}  "
                  f"{g.n} SKU-locations  {'FLAGGED' if g.flagged else '-'}")
    if report.monitoring_runs:
        print(f"drift metrics logged to experiment {settings.monitor_experiment!r}")
    if args.json:
        write_report(report, args.json)
    return 1 if (args.fail_on_drift and report.flagged) else 0


def cmd_recalibrate(args: argparse.Namespace) -> int:
    """Handler of ``echelon recalibrate``: refit flagged models; 0 on success (2: server unreachable)."""
    from echelon_mlflow.recalibrate import recalibrate
    from echelon_mlflow.stores import TrackingStoreUnreachable

    try:
        outcomes = recalibrate(args.data, args.tracking_uri, experiment=args.experiment, config_path=args.config)
    except TrackingStoreUnreachable as exc:
        return _unreachable(exc)
    for o in outcomes:
        line = f"{o.kind}:{o.component} version {o.version}"
        if o.registered_name:
            line += f" ({o.registered_name}, champion now v{o.champion})"
        if o.drift_flagged:
            line += f"; drift: {', '.join(o.drift_flagged)}"
        if o.challenger:
            line += f"; refit v{o.challenger} " + ("promoted" if o.promoted else "kept as challenger")
        print(line)
    return 0


def add_monitor_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``monitor`` and ``recalibrate`` sub-commands to ``subparsers``."""
    p = subparsers.add_parser("monitor", help="calibration drift of the tracked models over runs")
    p.add_argument("--tracking-uri", default=DEFAULT_URI, help=f"MLflow tracking URI (default {DEFAULT_URI})")
    p.add_argument("--experiment", default="echelon", help="experiment of the runs")
    p.add_argument("--monitoring-experiment", default=None, help="default: <experiment>-monitoring")
    p.add_argument("--reference-runs", type=int, default=None, help="runs in a version's reference window")
    p.add_argument("--json", default=None, help="also write the latest drift as JSON here")
    p.add_argument("--no-log", action="store_true", help="do not log to the monitoring experiment")
    p.add_argument("--fail-on-drift", action="store_true", help="exit 1 when a model is flagged")
    p.set_defaults(func=cmd_monitor)

    p = subparsers.add_parser("recalibrate", help="refit drifted registered models and promote winners")
    p.add_argument("data", help="input dataset directory")
    p.add_argument("--tracking-uri", default=DEFAULT_URI)
    p.add_argument("--experiment", default="echelon")
    p.add_argument("--config", default=None, help="TOML configuration (components)")
    p.set_defaults(func=cmd_recalibrate)


def cmd_ui(args: argparse.Namespace) -> int:
    """Handler of ``echelon ui``: the MLflow UI on 127.0.0.1 (returns its exit code)."""
    import subprocess
    import sys

    cmd = [
        sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", args.tracking_uri,
        "--host", "127.0.0.1", "--port", str(args.port),
    ]
    print("starting:", " ".join(cmd))
    return subprocess.call(cmd)


def add_ui_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``echelon ui``."""
    p = subparsers.add_parser("ui", help="start the MLflow UI on 127.0.0.1")
    p.add_argument("--tracking-uri", default=DEFAULT_URI)
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(func=cmd_ui)
