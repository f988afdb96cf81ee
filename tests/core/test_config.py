"""Typed configuration: defaults, TOML, overrides; plugin sections checked like the core's."""

import dataclasses

import pytest

from platform_core.config import RunConfig, RunSettings, load_config


def test_defaults_are_typed_and_frozen():
    cfg = load_config()
    assert isinstance(cfg, RunConfig) and cfg.run == RunSettings()
    assert cfg.components.solver == "multi_echelon" and cfg.component_params("solver") == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.run.seed = 1  # type: ignore[misc]
    assert cfg.section("tracking").uri == "sqlite:///mlflow.db"  # owned by echelon_mlflow


def test_file_then_overrides(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('[run]\nseed = 7\nperiod_days = 1\n[solver]\nreplications = 9\n[tracking]\nuri = "none"\n')
    cfg = load_config(path, {"run": {"seed": 8, "address": None}})
    assert cfg.run.seed == 8 and cfg.run.period_days == 1.0 and isinstance(cfg.run.period_days, float)
    assert cfg.component_params("solver") == {"replications": 9}
    assert not cfg.section("tracking").enabled
    assert cfg.flat()["tracking.uri"] == "none" and cfg.flat()["run.seed"] == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[run]\nseeed = 1\n", r"e.toml: \[run\]: unknown key\(s\) \['seeed'\]"),
        ('[run]\nseed = "x"\n', r"\[run\] seed: expected int, got 'x'"),
        ("[run]\nperiod_days = 0\n", r"period_days must be > 0"),
        ("[tracking]\nurl = 'x'\n", r"\[tracking\]: unknown key\(s\) \['url'\]"),
        ("[tracking]\nrecalibrate = 'sometimes'\n", r"recalibrate must be 'off' or 'auto'"),
        ("[bogus]\nx = 1\n", r"unknown section \[bogus\]"),
        ("[run\n", r"not valid TOML"),
    ],
)
def test_bad_configuration_is_named(tmp_path, text, message):
    path = tmp_path / "e.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_component_parameters_are_checked_against_the_chosen_class(generated_dataset, tmp_path):
    from platform_core.pipeline import run

    cfg = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                 "solver": {"replicatons": 5}})
    with pytest.raises(ValueError, match=r"\[solver\] unknown key\(s\) \['replicatons'\] for solver 'multi_echelon'"):
        run(generated_dataset, tmp_path / "out", cfg)
    assert not (tmp_path / "out").exists()
    cfg = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                 "solver": {"objective": "speed"}})
    with pytest.raises(ValueError, match=r"invalid parameters for solver 'multi_echelon'.*objective"):
        run(generated_dataset, tmp_path / "out", cfg)
