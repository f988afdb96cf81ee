import numpy as np

from platform_core.seeds import stage_seed, stage_seeds


def test_seed_depends_on_key_and_run_seed_not_on_order():
    keys = [f"SKU{i}@S{i % 7}" for i in range(50)]
    a = stage_seeds(42, keys)
    b = stage_seeds(42, keys[::-1])[::-1]
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 50
    assert stage_seed(42, "X@Y") != stage_seed(43, "X@Y")
    assert stage_seed(42, "X@Y") == stage_seed(42, "X@Y")
