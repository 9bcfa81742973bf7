"""Every relative link in the README and the docs/ pages reaches a file, and its #anchor a heading there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _prose(path: Path) -> str:
    """The page without its fenced blocks, whose `#` lines are shell comments, not headings."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def anchor(heading: str) -> str:
    """The id a Markdown renderer gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", _prose(path), re.MULTILINE)}


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(_prose(page)):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, fragment = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        heading_missing = bool(fragment) and (not linked.is_file() or fragment not in _anchors(linked))
        if not linked.exists() or heading_missing:
            broken.append(target)
    return broken


def test_the_anchor_rule_matches_headings_of_these_pages() -> None:
    assert anchor("Endpoints, retries and replay") == "endpoints-retries-and-replay"
    assert anchor("Idempotency and rate limits") == "idempotency-and-rate-limits"


def test_every_relative_link_reaches_its_file_and_heading() -> None:
    broken = {page.relative_to(ROOT).as_posix(): broken_links(page) for page in PAGES}

    assert {page: links for page, links in broken.items() if links} == {}


def test_a_link_to_a_missing_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Kept section\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```sh\n# not a heading\n```\n\n"
        "[ok](other.md#kept-section) [gone](other.md#gone) [self](#page) [code](#not-a-heading) "
        "[missing](nowhere.md) [web](https://example.com/x#y)\n",
        encoding="utf-8",
    )

    assert broken_links(page) == ["other.md#gone", "#not-a-heading", "nowhere.md"]
