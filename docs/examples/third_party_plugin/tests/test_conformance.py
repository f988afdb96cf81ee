"""The example plugin's own CI: Echelon's conformance kit on its forecaster.

Run from the plugin's directory, with the plugin and Echelon installed::

    pip install -e .
    pytest tests

``parametrize_with_checks`` makes one test per check (ids such as
``forecaster[recent_poisson]-pmf_sums_to_one``); a check that does not apply to the
component (e.g. the censoring check, since it does not declare ``handles_censoring``)
is skipped with the reason.  The ``echelon_plugin_host`` fixture comes from the kit's
pytest plugin, which Echelon registers with pytest.
"""

from echelon_example_plugin.plugin import RecentPoissonForecaster

from platform_core.testing import ComponentUnderTest, parametrize_with_checks


@parametrize_with_checks([ComponentUnderTest(RecentPoissonForecaster, {"k": 8}, name="recent_poisson")])
def test_conforms(component, check):
    check(component)


def test_registered_under_its_documented_name(echelon_plugin_host):
    info = echelon_plugin_host.info("forecaster", "recent_poisson")
    assert info.cls is RecentPoissonForecaster
    assert info.version.startswith("echelon-example-plugin")
