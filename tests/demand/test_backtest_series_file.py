"""``echelon backtest FILE``: plain CSV / Parquet series files, calibration next to accuracy."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from echelon_demand.backtest import pit_histogram
from echelon_demand.backtest_cli import add_backtest_command
from echelon_demand.series_file import SeriesFileError, read_series_file
from scipy import stats

from platform_core.distributions import DiscreteDistribution

H = 2
ORIGINS = 2


def _matrix(seed: int = 4, n: int = 30, T: int = 30) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(rng.uniform(0.5, 6.0, n)[:, None], (n, T)).astype(float)


def _long_csv(path, Y: np.ndarray) -> None:
    n, T = Y.shape
    pd.DataFrame({"series": np.repeat([f"P{i:02d}" for i in range(n)], T),
                  "period": np.tile(np.arange(1, T + 1), n),
                  "demand": Y.ravel()}).sample(frac=1.0, random_state=1).to_csv(path, index=False)


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_backtest_command(parser.add_subparsers())
    args = parser.parse_args(["backtest", *argv])
    return int(args.func(args))


def _independent_poisson_counts(Y: np.ndarray) -> dict[str, float]:
    """Coverage and PIT of the default ``poisson`` forecaster counted with scipy alone.

    The ``poisson`` forecaster's mean is the exponentially weighted mean (weight 0.9^age)
    of the training part; the sum of H i.i.d. periods is Poisson(H x mean).
    """
    hits = {80: 0, 90: 0, 95: 0}
    pit = np.zeros(10)
    pairs = 0
    for row in Y:
        for j in range(ORIGINS):
            cut = H + j
            train, y = row[:-cut], row[-cut:][:H].sum()
            w = 0.9 ** np.arange(train.size - 1, -1, -1)
            lam = H * np.sum(w * train) / np.sum(w)
            for c in hits:
                a = (1 - c / 100) / 2
                lo, hi = stats.poisson.ppf(a, lam), stats.poisson.ppf(1 - a, lam)
                hits[c] += int(lo <= y <= hi)
            f0, f1 = stats.poisson.cdf(y - 1, lam), stats.poisson.cdf(y, lam)
            edges = np.linspace(0, 1, 11)
            pit += (np.clip(edges[1:], f0, f1) - np.clip(edges[:-1], f0, f1)) / (f1 - f0)
            pairs += 1
    out = {f"coverage_{c}": hits[c] / pairs for c in hits}
    out.update({f"pit_{j}": pit[j] / pairs for j in range(10)})
    return out


def test_plain_csv_coverage_and_pit_match_an_independent_count(tmp_path, capsys):
    Y = _matrix()
    _long_csv(tmp_path / "series.csv", Y)
    out = tmp_path / "m.parquet"
    code = _run([str(tmp_path / "series.csv"), "--models", "poisson", "--horizon", str(H),
                 "--origins", str(ORIGINS), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "coverage_95" in text and "PIT histogram" in text
    row = next(r for r in pq.read_table(out).to_pylist() if r["demand_class"] == "all")
    assert row["n"] == Y.shape[0] * ORIGINS
    ref = _independent_poisson_counts(Y)
    for k, v in ref.items():
        assert row[k] == pytest.approx(v, abs=1e-6), k
    assert sum(row[f"pit_{j}"] for j in range(10)) == pytest.approx(1.0)


def test_wide_layout_reads_like_the_long_one(tmp_path):
    Y = _matrix(n=5, T=12)
    Y[2, 4] = np.nan  # an inner gap stays missing
    _long_csv(tmp_path / "long.csv", Y)
    wide = pd.DataFrame(Y, columns=[f"2020-{m:02d}" for m in range(1, 13)])
    wide.insert(0, "part_id", [f"P{i:02d}" for i in range(5)])
    wide.iloc[3, 10:] = np.nan  # trailing empty cells: the series ended
    wide.to_csv(tmp_path / "wide.csv", index=False)
    long_ = read_series_file(tmp_path / "long.csv")
    wide_ = read_series_file(tmp_path / "wide.csv")
    assert wide_.keys == long_.keys == [f"P{i:02d}" for i in range(5)]
    assert np.diff(wide_.indptr).tolist() == [12, 12, 12, 9, 12]
    np.testing.assert_array_equal(wide_.values[:24], long_.values[:24])
    assert np.isnan(wide_.values[24 + 4]) and np.isnan(long_.values[24 + 4])
    wide.to_parquet(tmp_path / "wide.parquet")
    np.testing.assert_array_equal(read_series_file(tmp_path / "wide.parquet").values, wide_.values)


def test_every_registered_default_runs_on_a_plain_file(tmp_path, capsys):
    _long_csv(tmp_path / "s.csv", _matrix(n=6, T=24))
    assert _run([str(tmp_path / "s.csv"), "--models", "bootstrap,auto,sf_croston_sba", "--origins", "1"]) == 0
    text = capsys.readouterr().out
    for name in ("bootstrap", "auto", "sf_croston_sba"):
        assert any(line.split()[:2] == [name, "all"] for line in text.splitlines()), name


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("series,period,demand\nA,1,3\nA,2,abc\n", "column 'demand', row 2: expected a non-negative number"),
        ("series,period,demand\nA,1,3\nA,2,-1\n", "column 'demand', row 2"),
        ("series,period,demand\nA,1,3\nA,1,4\n", "column 'period', row 2: expected one row per series and period"),
        ("series,period,demand\nA,1,3\n,2,4\n", "column 'series', row 2: expected a series id"),
        ("series,period,demand\nA,1,3\nA,x2,4\n", "column 'period', row 2: expected an integer period or an ISO"),
        ("series,demand\nA,3\n", "long layout needs a column for period"),
        ("part,m1,m2\nA,1,2\nB,3,?\n", "column 'm2', row 2: expected a non-negative number"),
    ],
)
def test_bad_csv_gives_a_clear_error_and_exit_code_2(tmp_path, capsys, content, needle):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(SeriesFileError, match=needle):
        read_series_file(path)
    assert _run([str(path), "--models", "poisson"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and needle.split(":")[0] in err and "Traceback" not in err


def test_missing_or_unknown_file_exit_code_2(tmp_path, capsys):
    assert _run([str(tmp_path / "nope.csv")]) == 2
    (tmp_path / "x.txt").write_text("a")
    assert _run([str(tmp_path / "x.txt")]) == 2
    assert "expected a .csv or .parquet file" in capsys.readouterr().err


def test_pit_of_a_point_forecast_and_of_a_uniform_one():
    # a point mass at 3 and outcome 3: F(2) = 0, F(3) = 1 -> uniform PIT, 0.1 per bin
    w = pit_histogram([DiscreteDistribution.point(3)], np.array([3]))
    np.testing.assert_allclose(w[0], np.full(10, 0.1))
    # outcome below the support: all weight in the first bin; above: in the last
    w = pit_histogram([DiscreteDistribution.point(3)] * 2, np.array([1, 7]))
    assert w[0, 0] == 1.0 and w[1, 9] == 1.0
