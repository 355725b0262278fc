"""The README agrees with the code: every command documented, the op table generated from the registry."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO

from segaug_cli import recipe
from segaug_cli.cli import main

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_op_table_is_the_one_generated_from_the_registry():
    table = subprocess.run([sys.executable, str(REPO / "scripts" / "op_table.py")], capture_output=True,
                           text=True, check=True, cwd=REPO).stdout.strip()
    assert table in README, "README op table is stale: run `python scripts/op_table.py` and paste it"


@pytest.mark.parametrize("name", sorted(recipe.OPS))
def test_every_op_is_in_the_readme_and_used_by_some_test_or_recipe(name):
    assert f"| `{name}` |" in README
    texts = [p.read_text(encoding="utf-8") for p in [*REPO.glob("recipes/*.yaml"), *REPO.glob("tests/test_*.py")]]
    assert any(re.search(rf"\b{name}\b", text) for text in texts)


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_is_in_the_readme_usage(command):
    assert f"segaug {command} " in README


def test_readme_set_up_is_the_two_make_commands():
    assert "make demo" in README and "make test" in README
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "segaug expand recipes/default.yaml sample_data" in makefile
