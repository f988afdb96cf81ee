"""The on-hand moments multi_echelon hands to the p95 space limit, against their definition."""

from __future__ import annotations

import numpy as np
from echelon_solvers.multi_echelon import _on_hand_moments
from scipy.stats import nbinom, poisson


def test_moments_from_the_mean_curve_match_the_distribution():
    """On hand (S - X)+: sd and third central moment at every S from the mean curve alone."""
    for pmf in (poisson.pmf(np.arange(300), 23.0), nbinom.pmf(np.arange(300), 3, 0.12)):
        x = np.arange(pmf.size)
        levels = np.arange(0, 120)
        on_hand = np.maximum(levels[:, None] - x[None, :], 0.0)
        m, e2, e3 = ((on_hand ** p) @ pmf for p in (1, 2, 3))
        sd, k3 = _on_hand_moments(m)
        assert np.allclose(sd, np.sqrt(np.maximum(e2 - m * m, 0.0)), atol=1e-9)
        assert np.allclose(k3, e3 - 3 * m * e2 + 2 * m ** 3, rtol=1e-9, atol=1e-6)
