"""`make defects` plants each known defect in a copy of the tree: every line it changes must exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.planted_defects import DEFECTS, ROOT, Defect, nearby_tests, plant


@pytest.mark.parametrize("defect", DEFECTS, ids=lambda d: d.name)
def test_each_planted_line_is_in_the_source_once(defect: Defect, tmp_path: Path) -> None:
    copy = tmp_path / defect.path
    copy.parent.mkdir(parents=True)
    original = (ROOT / defect.path).read_text()
    copy.write_text(original)

    plant(defect, tmp_path)

    changed = copy.read_text()
    assert changed != original
    assert defect.planted in changed


def test_a_line_that_moved_is_reported_not_planted(tmp_path: Path) -> None:
    moved = Defect(name="moved", path="module.py", line="x = 1", planted="x = 2")
    (tmp_path / "module.py").write_text("x = 1\nx = 1\n")

    with pytest.raises(LookupError, match="not once"):
        plant(moved, tmp_path)
    assert (tmp_path / "module.py").read_text() == "x = 1\nx = 1\n"


def test_the_nearby_tests_are_the_closest_package_mirrored_under_tests_unit(tmp_path: Path) -> None:
    (tmp_path / "tests" / "unit" / "integrations" / "providers").mkdir(parents=True)
    deep = Defect(name="deep", path="integrations/providers/paddle/personal.py", line="a", planted="b")
    elsewhere = Defect(name="elsewhere", path="benchmarks/load.py", line="a", planted="b")

    assert nearby_tests(deep, tmp_path) == tmp_path / "tests" / "unit" / "integrations" / "providers"
    assert nearby_tests(elsewhere, tmp_path) is None
