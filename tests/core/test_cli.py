import json

import pyarrow.parquet as pq

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


def test_invalid_input_exits_non_zero_with_the_file_named(tmp_path, capsys):
    (tmp_path / "stages.csv").write_text("sku,location,unit_cost,price,carrying_rate\nA,L1,abc,2,0.2\n")
    (tmp_path / "demand.csv").write_text("sku,location,period,quantity\nA,L1,2024-01-01,3\n")
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
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
