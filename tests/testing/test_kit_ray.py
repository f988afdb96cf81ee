"""The Ray executor passes the executor checks (one local Ray instance, one worker)."""

import pytest
from echelon_ray.executor import RayExecutor

from platform_core.testing import ComponentUnderTest, parametrize_with_checks

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module", autouse=True)
def one_ray_instance():
    """Start Ray once for the module (each executor attaches to it and leaves it running);
    a start per check would cost ~9 s each on a shared 2-core machine."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, configure_logging=False)
    yield
    if started:
        ray.shutdown()


@parametrize_with_checks([ComponentUnderTest(RayExecutor, {"num_workers": 1}, name="ray")])
def test_ray_executor_conforms(component, check):
    check(component)
