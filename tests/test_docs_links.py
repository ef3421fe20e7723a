"""The README and the pages in docs/: every relative link and image points to a file that exists
(and a `#fragment` to a heading of the Markdown file it names), the README stays short, and it
links every page in docs/.

Reference:
    GitHub's heading anchors (lower case, punctuation dropped, spaces to hyphens), as GitHub renders
    the README and docs/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 220
"""Issue 18: a README a newcomer reads in five minutes; the rest lives in docs/."""

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def markdown_pages() -> list[Path]:
    """README.md and every docs/*.md."""
    return [README, *sorted(DOCS.glob("*.md"))]


def link_targets(text: str) -> list[str]:
    """The targets of the Markdown and HTML links and images in `text`, outside code."""
    prose = FENCE.sub("", text)
    prose = INLINE_CODE.sub(lambda m: "code", prose)
    return MARKDOWN_LINK.findall(prose) + HTML_LINK.findall(prose)


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors of the headings in a Markdown text (outside code blocks)."""
    anchors: dict[str, int] = {}
    result = set()
    for line in FENCE.sub("", text).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        count = anchors.get(slug, 0)
        anchors[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def broken_links(page: Path) -> list[str]:
    """`target: why` for each relative link or image of `page` that points nowhere."""
    problems = []
    for target in link_targets(page.read_text(encoding="utf-8")):
        if EXTERNAL.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            problems.append(f"{target}: no such file {resolved}")
        elif fragment and resolved.suffix == ".md" and fragment not in heading_anchors(resolved.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading #{fragment} in {resolved.name}")
    return problems


def test_link_finder_sees_links_and_images_but_not_code():
    text = (
        "See [a](docs/a.md#x) and ![fig](b.png), <img src=\"c.png\">, [web](https://x.org).\n"
        "`[not](in_code.md)`\n```\n[nor](in_fence.md)\n```\n"
    )
    assert link_targets(text) == ["docs/a.md#x", "b.png", "https://x.org", "c.png"]


def test_heading_anchors_follow_github():
    text = "# Title\n## Real photographs from Debian packages — `debian-photos`\n## Title\n```\n# not a heading\n```\n"
    assert heading_anchors(text) == {"title", "real-photographs-from-debian-packages--debian-photos", "title-1"}


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_image_exists(page):
    assert broken_links(page) == [], f"{page.relative_to(ROOT)}: broken links"


def test_broken_link_is_reported(tmp_path):
    (tmp_path / "there.md").write_text("# Here\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#here) [gone](missing.png) [bad anchor](there.md#nowhere)\n", encoding="utf-8")
    problems = broken_links(page)
    assert len(problems) == 2
    assert problems[0].startswith("missing.png: no such file")
    assert problems[1] == "there.md#nowhere: no heading #nowhere in there.md"


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/ (under {README_MAX_LINES})"


def test_readme_links_every_docs_page():
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in link_targets(README.read_text(encoding="utf-8"))}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert missing == [], f"README.md does not link docs pages {missing}"
