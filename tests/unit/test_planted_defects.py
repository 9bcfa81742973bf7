"""`make defects` plants each known defect in a copy of the tree: every line it changes must exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.planted_defects import (
    DEFECTS,
    PYTEST_OPTIONS,
    ROOT,
    Defect,
    nearby_tests,
    plant,
    steps,
)


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


@pytest.mark.parametrize("defect", [d for d in DEFECTS if d.caught_in], ids=lambda d: d.name)
def test_the_tests_named_to_catch_a_defect_exist(defect: Defect) -> None:
    for named in defect.caught_in:
        path, _, test = named.partition("::")
        assert path.startswith("tests/"), named
        assert (ROOT / path).is_file(), named
        assert f"--ignore={path}" not in PYTEST_OPTIONS, named  # it would catch everything
        # A node id names a test of that file (its parameters aside).
        assert not test or f"def {test.split('::')[-1].split('[')[0]}(" in (ROOT / path).read_text(), named


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


def test_the_named_tests_run_first_and_every_tier_still_runs_after_them(tmp_path: Path) -> None:
    (tmp_path / "tests" / "unit" / "gateway").mkdir(parents=True)
    named = ("tests/unit/test_secret_comparisons.py", "tests/e2e/test_first_start.py::test_x")
    hinted = Defect(name="hinted", path="gateway/app.py", line="a", planted="b", caught_in=named)
    plain = Defect(name="plain", path="benchmarks/load.py", line="a", planted="b")

    assert steps(hinted, tmp_path) == [
        ("named", list(named)),
        ("nearby", ["tests/unit/gateway"]),
        ("tiers", ["tests/unit", "tests/contracts", "tests/integration", "tests/e2e"]),
    ]
    assert steps(plain, tmp_path) == [
        ("tiers", ["tests/unit", "tests/contracts", "tests/integration", "tests/e2e"])
    ]
