"""Command-line interface: ``echelon gsm solve`` and ``echelon import-chain``.

The lead engineer wires :func:`add_gsm_commands` into the ``echelon`` parser.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from .chain_io import load_network, write_chain_dataset, write_chain_tables
from .mc_check import CheckReport, check_solution, retune_safety_stock, stage_time_distributions
from .network import GSMNetwork
from .solution import GSMSolution
from .solve import METHODS, solve_gsm

__all__ = ["add_gsm_commands"]


def _fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def _solve_handler(args: argparse.Namespace) -> int:
    try:
        network = load_network(args.chain)
        if not (args.holding_rate >= 0 and math.isfinite(args.holding_rate)):
            raise ValueError("--holding-rate must be a finite number >= 0")
        sol = solve_gsm(network, args.holding_rate, method=args.method, time_limit=args.time_limit)
        check, retuned = _mc_reports(args, network, sol)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        doc = sol.to_dict()
        doc["chain"] = str(args.chain)
        doc["holding_rate_per_year"] = args.holding_rate
        if check is not None:
            doc["mc_check"] = check.to_dict()
        if retuned is not None:
            doc["mc_retune"] = retuned.to_dict()
        print(json.dumps(doc, indent=1, default=str))
        return 0
    print(f"chain        {args.chain}  ({network.n_stages} stages, {network.n_edges} arcs)")
    print(f"method       {sol.method}   time {sol.seconds:.3f} s")
    print(f"total cost   {sol.total_cost:,.2f} per year   (lower bound {sol.lower_bound:,.2f}, "
          f"gap {100 * sol.gap:.3f} %)")
    width = max(10, max(len(i) for i in sol.ids))
    print(f"{'stage':<{width}} {'S [d]':>8} {'NRT [d]':>8} {'base stock':>12} {'safety stock':>12}")
    for i, sid in enumerate(sol.ids):
        print(f"{sid:<{width}} {sol.service_times[i]:>8.4g} {sol.net_replenishment_times[i]:>8.4g} "
              f"{_fmt(sol.base_stock[i]):>12} {_fmt(sol.safety_stock[i]):>12}")
    if check is not None:
        st = check.settings
        print(f"\nMonte Carlo check ({st['replications']} x {st['periods']} periods of "
              f"{st['period_days']:g} d, seed {st['seed']}, {st['stochastic_stage_times']} "
              f"stochastic stage times): realised service at demand stages")
        print(check.format())
        for note in check.notes:
            print(f"note: {note}")
    if retuned is not None:
        t = retuned.totals
        print(f"\nRe-tuned demand-stage safety stocks (same random numbers): "
              f"+{t['extra_safety_stock_units']:,.0f} units, +{t['extra_inventory_value']:,.2f} "
              f"inventory value, +{t.get('extra_cost_per_year', float('nan')):,.2f} per year")
        print(retuned.format())
    return 0


def _mc_reports(args: argparse.Namespace, network: GSMNetwork, sol: GSMSolution
                ) -> tuple[CheckReport | None, CheckReport | None]:
    """The Monte Carlo check (``--check``) and re-tuned report (``--retune``), if asked for."""
    if not (args.check or args.retune):
        return None, None
    dists = stage_time_distributions(args.chain)
    check = check_solution(network, sol, stage_time_distributions=dists,
                           replications=args.mc_replications, periods=args.mc_periods,
                           seed=args.mc_seed, period_days=args.period_days,
                           demand_model=args.mc_demand)
    retuned = None
    if args.retune:
        _, retuned = retune_safety_stock(network, sol, holding_rate=args.holding_rate,
                                         stage_time_distributions=dists,
                                         replications=args.mc_replications,
                                         periods=args.mc_periods, seed=args.mc_seed,
                                         period_days=args.period_days,
                                         demand_model=args.mc_demand)
    return check, retuned


def _import_handler(args: argparse.Namespace) -> int:
    try:
        if args.dataset:
            if args.history_days < 2:
                raise ValueError(f"--history-days must be at least 2, got {args.history_days}")
            paths = write_chain_dataset(args.chain, args.out_dir, carrying_rate=args.carrying_rate,
                                        history_days=args.history_days)
        else:
            sp, ep = write_chain_tables(args.chain, args.out_dir, carrying_rate=args.carrying_rate)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.dataset:
        print(f"wrote the dataset {args.out_dir} ({', '.join(p.name for p in paths.values())}); run it with\n"
              f"  echelon run {args.out_dir} --out OUT --config {paths['config']}")
    else:
        print(f"wrote {sp} and {ep}")
    return 0


def _gsm_help_handler(parser: argparse.ArgumentParser) -> object:
    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2
    return handler


def add_gsm_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``gsm solve`` and ``import-chain`` to an argparse subparsers object.

    Args:
        subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    gsm = subparsers.add_parser("gsm", help="guaranteed-service model (safety-stock placement)")
    gsm.set_defaults(func=_gsm_help_handler(gsm))
    gsm_sub = gsm.add_subparsers(dest="gsm_command")
    solve = gsm_sub.add_parser("solve", help="optimise committed service times of a chain JSON")
    solve.add_argument("chain", help="chain JSON file (Willems 2008 / gsm_reference format)")
    solve.add_argument("--holding-rate", type=float, required=True,
                       help="annual holding cost rate as a fraction of item value [1/year]")
    solve.add_argument("--json", action="store_true", help="print a JSON document")
    solve.add_argument("--time-limit", type=float, default=60.0,
                       help="time limit for milp / bnb / auto [s] (default 60)")
    solve.add_argument("--method", choices=list(METHODS), default="auto",
                       help="auto (tree DP on trees, else branch and bound), tree, milp, heuristic, bnb")
    solve.add_argument("--check", action="store_true",
                       help="simulate the policy under the chain's real demand and stage-time "
                            "distributions and report realised vs target service")
    solve.add_argument("--retune", action="store_true",
                       help="with the check, raise demand-stage safety stocks until the realised "
                            "cycle service level meets the target (implies --check)")
    solve.add_argument("--mc-replications", type=int, default=10,
                       help="Monte Carlo replications for --check (default 10)")
    solve.add_argument("--mc-periods", type=int, default=2000,
                       help="measured periods per replication for --check (default 2000)")
    solve.add_argument("--mc-seed", type=int, default=0, help="seed for --check (default 0)")
    solve.add_argument("--period-days", type=float, default=1.0,
                       help="length of a simulated period for --check [days] (default 1)")
    solve.add_argument("--mc-demand", choices=["normal", "gamma"], default="normal",
                       help="demand per period for --check: normal truncated at 0 (default) or "
                            "gamma with the same mean and standard deviation")
    solve.set_defaults(func=_solve_handler)
    imp = subparsers.add_parser("import-chain",
                                help="convert a chain JSON into stages.parquet and edges.parquet")
    imp.add_argument("chain", help="chain JSON file")
    imp.add_argument("out_dir", help="output directory")
    imp.add_argument("--carrying-rate", type=float, default=None,
                     help="annual holding rate for the carrying_rate column [1/year] "
                          "(default: the file's reference rate, else 0.25)")
    imp.add_argument("--dataset", action="store_true",
                     help="write a whole dataset (stages, edges, a daily demand history with the chain's "
                          "mean and standard deviation) plus echelon.toml, for echelon run with the "
                          "guaranteed_service solver")
    imp.add_argument("--history-days", type=int, default=730,
                     help="with --dataset: days of demand history per demand stage (default 730)")
    imp.set_defaults(func=_import_handler)
