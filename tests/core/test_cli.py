import json
import os
import re
import signal
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from platform_core.cli import build_parser, main


def test_generate_validate_run_from_the_command_line(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "out"
    assert main(["generate", str(data), "--sku-locations", "60", "--seed", "3"]) == 0
    assert main(["validate", str(data)]) == 0
    assert "valid" in capsys.readouterr().out
    cfg = tmp_path / "echelon.toml"
    cfg.write_text('[run]\nexecutor = "in_process"\n[solver]\nreplications = 20\nperiods = 150\n')
    code = main(["run", str(data), "--out", str(out), "--config", str(cfg), "--tracking-uri", "none"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Summary" in printed and "recommendations.parquet" in printed
    rec = pq.read_table(out / "recommendations.parquet")
    assert rec.num_rows == pq.read_table(data / "stages.parquet").num_rows
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["sku_locations"] == rec.num_rows
    # the generator writes a current_policy: today against recommended is printed, as stored
    today = summary["compared_with_today"]["today"]
    assert f"customer-facing fill {today['customer_fill_rate_demand_weighted']:.4f}" in printed
    assert f"levels up {summary['compared_with_today']['levels_up']:,d}" in printed
    assert all(f"{k} {v:,d}" in printed for k, v in summary["exceptions"].items())


def test_invalid_input_exits_non_zero_with_the_file_named(tmp_path, capsys):
    (tmp_path / "stages.csv").write_text("sku,location,unit_cost,price,carrying_rate\nA,L1,abc,2,0.2\n")
    (tmp_path / "demand.csv").write_text("sku,location,period,quantity\nA,L1,2024-01-01,3\n")
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "out"), "--tracking-uri", "none"]) == 2
    err = capsys.readouterr().err
    assert "stages.csv" in err and "unit_cost" in err and "row 1" in err
    assert not (tmp_path / "out").exists()


def test_bad_config_key_is_named(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[run]\nseeed = 1\n")
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "seeed" in capsys.readouterr().err


def test_plugin_commands_are_in_the_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"generate", "validate", "run", "plugins", "ui"} <= set(sub.choices)  # ui: from echelon_mlflow


def test_plugins_command_lists_components(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "single_echelon" in out and "bootstrap" in out and "ray" in out


# ---- hardening (issue #22): interrupts, pipes, one-line errors, help, a quiet console ---------------


def test_ctrl_c_exits_130_with_the_resume_hint_and_resume_finishes(generated_dataset, tmp_path, child_cli):
    out = tmp_path / "out"
    argv = ["run", str(generated_dataset), "--out", str(out), "--config", str(child_cli.slow_toml),
            "--tracking-uri", "none"]
    proc = subprocess.Popen(child_cli.command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child_cli.wait_for_parts(out, 2, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert f"interrupted; finished batches are kept in {out / '_parts'}: rerun with --resume" in err
    finished = len(list((out / "_parts").glob("part-*.parquet")))
    n_batches = json.loads((out / "_parts" / "manifest.json").read_text())["batches"]
    assert finished < n_batches, "the run finished before the interrupt: the test tested nothing"
    resumed = subprocess.run(child_cli.command(*argv, "--resume"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {finished} of {n_batches} batches already finished" in resumed.stderr
    assert pq.read_table(out / "recommendations.parquet").num_rows == 240


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    # like `echelon plugins | head -1`: the reader is gone before anything is written
    proc = subprocess.Popen([sys.executable, "-m", "platform_core.cli", "plugins"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert "BrokenPipeError" not in err and "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode == 1


@pytest.mark.parametrize(
    ("make_config", "expected"),
    [
        (lambda root: root, "is a directory"),  # IsADirectoryError (an OSError)
        (lambda root: root / "missing.toml", "missing.toml"),
        (lambda root: (root / "bad.toml").write_text("[run\n") and root / "bad.toml", "not valid toml"),
    ],
    ids=["directory", "missing", "invalid"],
)
def test_a_bad_config_path_is_one_line_exit_2(tmp_path, capsys, make_config, expected):
    config = make_config(tmp_path)
    code = main(["run", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("echelon: error: ") and err.count("\n") == 1, err
    assert expected in err.lower() and str(config) in err


def test_an_os_error_during_a_run_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    import platform_core.pipeline

    def fails(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "o"))

    monkeypatch.setattr(platform_core.pipeline, "run", fails)
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "o"), "--tracking-uri", "none"]) == 2
    err = capsys.readouterr().err
    assert err == f"echelon: error: Permission denied: {tmp_path / 'o'}\n"


def test_a_key_error_is_one_line_without_quotes(tmp_path, capsys, monkeypatch):
    import platform_core.pipeline

    def fails(*args, **kwargs):
        raise KeyError("no configuration section [tracking]")

    monkeypatch.setattr(platform_core.pipeline, "run", fails)
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == "echelon: error: no configuration section [tracking]\n"


def _core_subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {name: sub.choices[name] for name in ("generate", "validate", "run", "report", "plugins")}


def test_every_core_option_has_help_and_says_its_default():
    for name, parser in _core_subparsers().items():
        for action in parser._actions:
            if action.dest == "help" or "." in action.dest:  # "SECTION.KEY": options added by plugins
                continue
            where = f"echelon {name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where}: no help"
            if action.option_strings and not action.required:
                shown = parser._get_formatter()._expand_help(action)  # as --help prints it
                assert "default" in shown, f"{where}: the help does not say the default: {shown!r}"


def test_run_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--executor" in text and "(default: auto" in text
    assert "--overwrite" in text and "--resume" in text
    assert "--seed" in text and "42" in text


def test_console_is_quiet_and_readable_when_piped(generated_dataset, tmp_path, child_cli):
    """One start line with the run id (once), a progress bar although stderr is a pipe, no
    raw dicts, no library INFO lines (MLflow's database set-up included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    proc = subprocess.run(
        [sys.executable, "-m", "platform_core.cli", "run", str(generated_dataset), "--out", str(tmp_path / "out"),
         "--config", str(child_cli.fast_toml), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    start = re.search(r"^echelon: run ([0-9a-f]{8}): 240 SKU-locations in 1 batch, in process\b", err, re.M)
    assert start, err
    assert (proc.stdout + err).count(start.group(1)) == 1, err
    assert "{" not in err and "INFO" not in err and "alembic" not in err.lower(), err
    assert re.search(r"240/240", err), f"no progress bar on a pipe:\n{err}"
    assert "\r" not in err  # on a pipe the bar writes whole lines
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["run_id"].startswith(start.group(1))
