"""The solver kit's check of fitted artefacts: per stage, the problem's keys, the same digest."""

import time

import pytest
from echelon_solvers.baseline import BlanketABCSolver

from platform_core.artefacts import Artefact
from platform_core.testing import ComponentUnderTest, checks_for


def _deterministic(cls: type) -> None:
    spec = ComponentUnderTest(cls, {})
    (check,) = [c for c in checks_for(spec.family) if c.name == "deterministic"]
    check(spec)


class PerStage(BlanketABCSolver):
    def solve(self, problem):
        self.seen_ = {k: {"level": i} for i, k in enumerate(problem.keys)}
        return super().solve(problem)

    def fitted_artefacts(self):
        return [Artefact("levels", self.seen_, {"seconds": f"{time.perf_counter():.9f}"}, per_stage=True)]


class Whole(PerStage):
    def fitted_artefacts(self):
        return [Artefact("levels", list(self.seen_))]


class Noisy(PerStage):
    def fitted_artefacts(self):
        return [Artefact("levels", {k: time.perf_counter_ns() for k in self.seen_}, per_stage=True)]


class Strangers(PerStage):
    def fitted_artefacts(self):
        return [Artefact("levels", {"nobody@nowhere": 1}, per_stage=True)]


def test_per_stage_artefacts_pass_with_noise_in_metadata() -> None:
    _deterministic(PerStage)
    _deterministic(BlanketABCSolver)  # no artefacts: nothing to check


@pytest.mark.parametrize(("cls", "message"), [
    (Whole, "artefact 'levels' is not per stage"),
    (Noisy, "exposed artefacts with different digests"),
    (Strangers, r"keys \['nobody@nowhere'\] that are not the problem's stages"),
])
def test_unversionable_artefacts_fail(cls: type, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        _deterministic(cls)
