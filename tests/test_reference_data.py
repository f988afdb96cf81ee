"""The reference data shipped in tests/reference_data: documented, identical to the source,
and found by the ``shared_data`` fixture when ../shared/data is absent."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "tests" / "reference_data"
SHARED = ROOT.parent / "shared" / "data"


def _shipped_files() -> list[Path]:
    return sorted(p for p in SHIPPED.rglob("*") if p.is_file() and p.name not in ("README.md", "LICENSE"))


def test_every_shipped_file_is_documented_with_its_source_and_licence():
    readme = (SHIPPED / "README.md").read_text()
    files = _shipped_files()
    assert {p.relative_to(SHIPPED).parts[0] for p in files} == {"gsm_reference", "willems2008", "leadtimes"}
    for p in files:
        assert p.stem in readme, f"{p.relative_to(ROOT)} is not listed in tests/reference_data/README.md"
    assert "doi:10.1287/msom.1070.0176" in readme  # Willems (2008): open on condition of citing it
    assert "Apache License" in (SHIPPED / "gsm_reference" / "LICENSE").read_text()
    assert not (SHIPPED / "demand").exists()  # carparts is GPL-3: never shipped
    assert "GPL-3" in readme
    assert sum(p.stat().st_size for p in files) < 1_200_000  # small: only what the tests use


def test_shipped_files_equal_the_team_copies():
    pairs = [(p, SHARED / p.relative_to(SHIPPED)) for p in _shipped_files()]
    pairs = [(a, b) for a, b in pairs if b.exists()]
    if not pairs:
        pytest.skip(f"nothing to compare against: {SHARED} is absent")
    for shipped, shared in pairs:
        assert shipped.read_bytes() == shared.read_bytes(), shipped.relative_to(ROOT)


def test_fixture_falls_back_to_the_shipped_copy_and_skips_carparts_with_its_reason(shared_data, tmp_path):
    clone = type(shared_data)((tmp_path / "no-shared-data", SHIPPED))  # as in a clone
    assert clone.path("gsm_reference/bulldozer.json") == SHIPPED / "gsm_reference" / "bulldozer.json"
    assert clone.path("leadtimes/scms_vendor_leadtimes.csv").parent == SHIPPED / "leadtimes"
    with pytest.raises(pytest.skip.Exception, match="GPL-3"):
        clone.path("demand/carparts_2674_monthly.csv")
    with pytest.raises(pytest.skip.Exception, match="not available"):
        clone.path("willems2008/chain_38.json")
