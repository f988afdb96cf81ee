import re
from pathlib import Path

import pytest

from platform_core import hookspecs
from platform_core.components import Forecaster
from platform_core.plugin_host import PluginHost, UnknownComponentError

REPO = Path(__file__).resolve().parents[2]


def test_builtins_are_registered_through_the_entry_point_group():
    host = PluginHost()
    by_family = {(c.family, c.name): c for c in host.components()}
    for family, name, plugin in [
        ("forecaster", "bootstrap", "demand"),
        ("lead_time", "empirical", "leadtime"),
        ("cost", "standard", "cost"),
        ("solver", "single_echelon", "solvers"),
        ("executor", "ray", "ray_executor"),
        ("executor", "in_process", "core"),
    ]:
        info = by_family[(family, name)]
        assert info.plugin == plugin
        assert info.version.startswith("echelon ")


def test_unknown_component_names_the_known_ones():
    host = PluginHost()
    with pytest.raises(UnknownComponentError, match="no solver named 'nope'.*single_echelon"):
        host.solver("nope")


def test_typed_methods_return_the_family_class():
    from platform_core.components import CostModel, LeadTimeModel, Solver
    from platform_core.executor import Executor

    host = PluginHost()
    assert issubclass(host.forecaster("bootstrap"), Forecaster)
    assert issubclass(host.lead_time_model("empirical"), LeadTimeModel)
    assert issubclass(host.cost_model("standard"), CostModel)
    assert issubclass(host.solver("single_echelon"), Solver)
    assert issubclass(host.executor("in_process"), Executor)
    with pytest.raises(UnknownComponentError, match="no forecaster named 'single_echelon'"):
        host.forecaster("single_echelon")  # a solver's name is not a forecaster


def test_plugins_own_their_configuration_sections_and_run_options():
    import argparse

    from echelon_mlflow.settings import TrackingSettings

    host = PluginHost()
    assert host.config_sections()["tracking"] is TrackingSettings
    parser = argparse.ArgumentParser()
    host.add_run_options(parser)
    args = parser.parse_args(["--tracking-uri", "none", "--recalibrate", "auto"])
    assert vars(args) == {"tracking.uri": "none", "tracking.recalibrate": "auto"}


def test_a_plugin_cannot_take_a_core_section_or_register_a_non_dataclass():
    class TakesRun:
        @hookspecs.hookimpl
        def register_config_sections(self, register):
            register("run", type("S", (), {}))

    with pytest.raises(TypeError, match="not a dataclass"):
        PluginHost(plugins=[TakesRun()])


def test_registering_a_wrong_class_is_rejected():
    class Bad:
        @hookspecs.hookimpl
        def register_solvers(self, register):
            register("bad", dict)

    with pytest.raises(TypeError, match="not a subclass of Solver"):
        PluginHost(plugins=[Bad()])


def test_misspelt_hook_is_caught():
    class Typo:
        @hookspecs.hookimpl
        def register_forecaster(self, register):  # missing "s"
            pass

    with pytest.raises(Exception, match="unknown hook"):
        PluginHost(plugins=[Typo()])


def test_autoload_switch_skips_third_party_entry_points(example_plugin_on_path, monkeypatch):
    host = PluginHost()
    info = host.info("forecaster", "recent_poisson")
    assert info.plugin == "example" and info.version == "echelon-example-plugin 0.2.0"
    assert issubclass(info.cls, Forecaster)
    monkeypatch.setenv("ECHELON_DISABLE_PLUGIN_AUTOLOAD", "1")
    host = PluginHost()
    with pytest.raises(UnknownComponentError):
        host.info("forecaster", "recent_poisson")
    assert host.info("solver", "single_echelon")  # built-ins still load


def test_every_hook_has_a_docstring_and_a_section_in_docs():
    doc = (REPO / "docs" / "plugins.md").read_text()
    names = []
    for spec in hookspecs.ALL_SPECS:
        for name, fn in vars(spec).items():
            if name.startswith("_") or not callable(fn):
                continue
            names.append(name)
            assert fn.__doc__ and len(fn.__doc__.strip()) > 40, f"hook {name} lacks a docstring"
            assert "Called" in fn.__doc__, f"hook {name}: docstring must say when it is called"
            assert re.search(rf"^#+ .*`{name}`", doc, re.M), f"docs/plugins.md has no section for {name}"
    assert set(names) == set(PluginHost().hook_names())
