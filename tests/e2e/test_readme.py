"""The README stays short and every link in it and in the docs stays inside the repository.

A clone has only the repository: a link to ``../shared/...`` or to an absolute path is broken there, and a README
link to a page that exists only in the built site (the generated reference) is broken on GitHub.
"""

import re

import pytest

from tests.support.paths import REPO

README = REPO / "README.md"
MAX_README_LINES = 200
DOCS_PAGES = sorted((REPO / "docs").rglob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]+`")


def link_targets(markdown: str) -> list[str]:
    """The targets of the Markdown links and images of ``markdown``, outside code blocks and code spans."""
    prose = INLINE_CODE.sub("", FENCE.sub("", markdown))
    return LINK.findall(prose)


def local_path(page, target: str):
    """The file a relative link of ``page`` points at, or None for a web address or an anchor on the page."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
        return None
    return (page.parent / target.split("#")[0]).resolve()


def test_link_targets_are_read_from_prose_only():
    markdown = 'See [a](docs/a.md#x) and ![img](b.png "t").\n```\n[c](../c.md)\n```\n`[d](../d.md)`'
    assert link_targets(markdown) == ["docs/a.md#x", "b.png"]


def test_the_readme_is_at_most_200_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_every_readme_link_is_a_file_of_the_repository():
    targets = link_targets(README.read_text(encoding="utf-8"))
    assert targets, "the README links into the docs"
    for target in targets:
        path = local_path(README, target)
        if path is None:
            continue
        assert path.is_relative_to(REPO), f"README.md links outside the repository: {target}"
        assert path.exists(), f"README.md links to a file that is not in the repository: {target}"


@pytest.mark.parametrize("page", [README, *DOCS_PAGES], ids=lambda page: str(page.relative_to(REPO)))
def test_no_page_points_outside_the_repository(page):
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text, f"{page.name} refers to ../shared, which a clone does not have"
    for target in link_targets(text):
        path = local_path(page, target)
        assert path is None or path.is_relative_to(REPO), f"{page.name} links outside the repository: {target}"
        assert not target.startswith("/"), f"{page.name} has an absolute link: {target}"
