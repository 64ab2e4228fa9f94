"""The README stays a short path in for users, and its links to docs/ (and the docs' links to each other) resolve."""

import re
from pathlib import Path

import pytest

import blueprint
from tests.conftest import REPO

README_MAX_BYTES = 12 * 1024  # the user's path in; internals live in docs/
TEMPLATE_NAME_LENGTH = 9  # the template's package name; a renamed fork's README is measured as if it still had it
PACKAGE = Path(blueprint.__file__).resolve().parent.name
LINK = re.compile(r"\]\(([^)\s]+\.md)(?:#([^)\s]+))?\)")  # [text](path.md) or [text](path.md#anchor)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lowercase, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def broken_links(page: Path) -> list[str]:
    """Links to .md files (relative to the page) whose file or heading anchor does not exist."""
    broken = []
    for target, anchor in LINK.findall(page.read_text()):
        if "://" in target:
            continue
        linked = (page.parent / target).resolve()
        if not linked.is_file():
            broken.append(target)
        elif anchor and anchor not in anchors(linked):
            broken.append(f"{target}#{anchor}")
    return broken


def readme_size(text: str, package: str) -> int:
    """Bytes, with the package's name counted at the template's 9 letters: a longer name from scripts/rename.py
    (which rewrites this file too, hence no literal name here) must not push a README that fitted over the cap."""
    return len(text.encode()) - len(re.findall(rf"\b{package}\b", text)) * (len(package) - TEMPLATE_NAME_LENGTH)


def test_readme_is_at_most_12_kib() -> None:
    size = readme_size((REPO / "README.md").read_text(), PACKAGE)
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail to a page under docs/ and link it"


def test_readme_size_counts_the_package_name_at_the_template_length() -> None:
    assert readme_size(f"{PACKAGE} x", PACKAGE) == TEMPLATE_NAME_LENGTH + 2
    assert readme_size("sunspot_forecasting fit, sunspot_forecasting_x", "sunspot_forecasting") == 46 - 10


def test_readme_links_to_docs_pages_that_exist() -> None:
    readme = REPO / "README.md"
    linked = [target for target, _ in LINK.findall(readme.read_text()) if target.startswith("docs/")]
    assert linked, "README.md links no page under docs/"
    assert broken_links(readme) == []


@pytest.mark.parametrize("page", sorted(p.name for p in (REPO / "docs").glob("*.md")))
def test_docs_links_resolve(page: str) -> None:
    assert broken_links(REPO / "docs" / page) == []
