"""A recipe that cannot be meant is refused by name: an empty file (or one of only comments) is a
usage error, exit 2, one line naming the file, nothing written; `{}` still means every default."""

from __future__ import annotations

import pytest
from conftest import make_dataset, write_recipe

from segaug_cli import recipe
from segaug_cli.errors import RecipeError

EMPTY = ["", "\n", "# nothing but a comment\n", "---\n", "~\n"]


@pytest.mark.parametrize("text", EMPTY)
def test_an_empty_recipe_is_refused(text):
    with pytest.raises(RecipeError) as caught:
        recipe.parse(text, "r.yaml")
    assert str(caught.value) == "r.yaml: empty recipe (nothing but blanks or comments); write {} to mean every default"


@pytest.mark.parametrize("command", ["expand", "validate", "check"])
def test_expand_validate_and_check_refuse_an_empty_recipe_file_in_one_line(cli, tmp_path, command):
    path = write_recipe(tmp_path / "empty.yaml", "")
    in_dir = make_dataset(tmp_path / "in", {"a": (16, 16)})
    args = [path] if command == "validate" else [path, in_dir, tmp_path / "out"]

    result = cli(command, *args)

    assert (result.exit_code, result.stdout) == (2, "")
    assert (
        result.stderr
        == f"Error: {path}: empty recipe (nothing but blanks or comments); write {{}} to mean every default\n"
    )
    assert not (tmp_path / "out").exists()


def test_an_empty_mapping_is_every_default(cli, tmp_path):
    assert recipe.parse("{}\n", "r.yaml") == recipe.Recipe()
