"""The commands the docs show do what they say: README's preview command makes the picture shown
under it (its size), and every recipe a doc's command names ships in recipes/."""

from __future__ import annotations

import re
import shlex

import pytest
from conftest import REPO
from PIL import Image

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def readme_preview_command() -> tuple[list[str], str]:
    """README's `segaug preview ...` line (before its comment) and the picture shown after it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("segaug preview "))
    picture = re.search(r"!\[[^\]]*\]\(([^)]+\.png)\)", text[text.index(line) :])
    assert picture, "no picture after the preview command"
    return shlex.split(line.split("#", 1)[0]), picture.group(1)


def test_readme_preview_command_makes_the_picture_shown(cli, tmp_path, monkeypatch):
    args, picture = readme_preview_command()
    monkeypatch.chdir(REPO)
    output = args.index("-o") + 1
    args[output] = str(tmp_path / "preview.png")

    result = cli(*args[1:])

    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "preview.png") as made, Image.open(REPO / picture) as shown:
        assert made.size == shown.size


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_recipe_a_command_names_ships(doc):
    text = doc.read_text(encoding="utf-8")
    named = set(re.findall(r"segaug (?:expand|check|merge|preview|validate)\s+(recipes/[\w./-]+\.yaml)", text))
    named |= set(re.findall(r'"(recipes/[\w./-]+\.yaml)"', text))
    assert sorted(path for path in named if not (REPO / path).is_file()) == []
