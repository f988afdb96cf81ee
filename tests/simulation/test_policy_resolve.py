"""``Policy.resolve``'s quick path for plain installation base stock gives the general path's arrays.

The general path (per-kind checks) is reached by spelling the kind once per stage; the
quick path must return the very same arrays (values to the bit, dtypes), and leave every
other policy, and every invalid one, to the general path and its errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.simulation import Network, Policy


def _general(pol: Policy, net: Network) -> dict[str, np.ndarray]:
    kinds = [pol.kind] * net.n_stages if isinstance(pol.kind, str) else list(pol.kind)
    return Policy(kind=kinds, reorder_point=pol.reorder_point, order_up_to=pol.order_up_to,
                  order_quantity=pol.order_quantity, review_period=pol.review_period, moq=pol.moq,
                  order_multiple=pol.order_multiple, capacity=pol.capacity).resolve(net)


@pytest.mark.parametrize("seed", range(20))
def test_quick_path_equals_the_general_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = Network.distribution(int(rng.integers(1, 8)))
    n = net.n_stages
    levels = rng.integers(-3, 60, n).astype(np.float64)
    levels[rng.random(n) < 0.2] = -0.0
    review = rng.integers(1, 4, n) if seed % 2 else 1
    pol = Policy.base_stock(levels if seed % 3 else float(levels[0]), review_period=review)
    assert pol._resolve_base_stock(n) is not None  # the quick path is taken
    quick, general = pol.resolve(net), _general(pol, net)
    assert quick.keys() == general.keys()
    for key in general:
        assert quick[key].dtype == general[key].dtype, key
        np.testing.assert_array_equal(quick[key].view(np.uint64 if quick[key].dtype == np.float64 else np.int64),
                                      general[key].view(np.uint64 if general[key].dtype == np.float64 else np.int64),
                                      err_msg=key)


@pytest.mark.parametrize("pol", [
    Policy.base_stock([1.0, np.nan, 2.0]),  # not finite: the general path's error
    Policy.base_stock([1.0, 2.0, 3.0], review_period=[1, 0, 1]),
    Policy.base_stock([1.0, 2.0, 3.0], moq=2.0),
    Policy.base_stock([1.0, 2.0, 3.0], capacity=[np.inf, 5.0, np.inf]),
    Policy.echelon_base_stock([9.0, 2.0, 3.0]),
    Policy.s_S([1.0, 1.0, 1.0], [4.0, 4.0, 4.0]),
])
def test_other_policies_take_the_general_path(pol: Policy) -> None:
    net = Network.distribution(2)
    assert pol._resolve_base_stock(net.n_stages) is None
    try:
        got = pol.resolve(net)
    except ValueError as err:
        with pytest.raises(ValueError, match=str(err).split(":")[0]):
            _general(pol, net)
        return
    want = _general(pol, net)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
