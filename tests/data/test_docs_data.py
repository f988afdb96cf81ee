"""docs/data.md documents every file and column of the data contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from platform_core.data.schemas import FILE_SPECS

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"


def _sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### `(\w+)`.*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_file_has_a_section():
    assert set(FILE_SPECS) <= set(_sections())


@pytest.mark.parametrize("name", list(FILE_SPECS))
def test_every_column_is_documented(name):
    section = _sections()[name]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", section, re.MULTILINE)}
    spec = FILE_SPECS[name]
    missing = [c.name for c in spec.columns if c.name not in rows]
    assert not missing, f"docs/data.md section {name!r} lacks columns {missing}"
    for c in spec.columns:
        cells = [x.strip() for x in rows[c.name].strip("|").split("|")]
        assert cells[1] == str(c.type), (name, c.name, cells[1])
        assert cells[3] == ("yes" if c.required else "no"), (name, c.name)
        if c.unit:
            assert cells[2] == c.unit, (name, c.name)


def _range_text(c) -> str:
    """The range column of ``c`` as docs/data.md writes it (independent of validate.py)."""
    if c.min_date is not None or c.max_date is not None:
        return f"in [{c.min_date.isoformat()}, {c.max_date.isoformat()}]"

    def num(x: float) -> str:
        return {1e6: "1e6", 1e8: "1e8", 1e12: "1e12"}.get(float(x), f"{x:g}")

    lo, hi = c.min_value, c.max_value
    if lo is not None and hi is not None:
        return f"in {'(' if c.exclusive_min else '['}{num(lo)}, {num(hi)}]"
    if lo is not None:
        return f"{'>' if c.exclusive_min else '>='} {num(lo)}"
    if hi is not None:
        return f"<= {num(hi)}"
    return ""


@pytest.mark.parametrize("name", list(FILE_SPECS))
def test_range_column_matches_the_contract(name):
    section = _sections()[name]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", section, re.MULTILINE)}
    for c in FILE_SPECS[name].columns:
        cells = [x.strip() for x in rows[c.name].strip("|").split("|")]
        assert cells[5] == _range_text(c), (name, c.name, cells[5])
