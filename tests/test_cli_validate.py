"""`segaug validate`, --version and --help: exit codes, exact stdout/stderr, never a traceback."""

from __future__ import annotations

import importlib.metadata
import re

import pytest
from conftest import REPO, run_segaug, write_recipe

from segaug_cli import __version__
from segaug_cli.cli import main

BAD_ROTATE = "seed: 0\ncopies: 2\ntransforms:\n  - rotate: {degrees: [30, -30]}\n"


def test_valid_recipe_one_line_summary(cli, tmp_path):
    text = (
        "seed: 7\ncopies: 2\ntransforms:\n  - rotate: {degrees: [-5, 5]}\n  - hflip: {p: 0.5}\n  - gamma: {p: 0.25}\n"
    )
    path = write_recipe(tmp_path / "r.yaml", text)
    result = cli("validate", path)
    assert result.exit_code == 0
    assert result.stdout == (f"{path}: valid; 2 copies per pair, seed 7; rotate, hflip (p=0.5), gamma (p=0.25)\n")
    assert result.stderr == ""


def test_empty_recipe_is_valid(cli, tmp_path):
    path = write_recipe(tmp_path / "empty.yaml", "{}\n")
    result = cli("validate", path)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == f"{path}: valid; 4 copies per pair, seed 0; no ops\n"


def test_recipe_error_exact_line_on_stderr(cli, tmp_path):
    path = write_recipe(tmp_path / "r.yaml", BAD_ROTATE)
    result = cli("validate", path)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path} line 4: transforms[0].rotate.degrees: lo (30) > hi (-30)\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("transforms:\n  - sharpen\n", "line 2: transforms[0]: unknown op 'sharpen'; expected one of: "),
        (
            "output: {mask_format: jpg}\n",
            "line 1: output.mask_format: 'jpg' is lossy and would invent label values; use png or tif",
        ),
        ("transforms:\n  - hflip: {p: 2}\n", "line 2: transforms[0].hflip.p: must be in [0, 1], got 2"),
        ("seed: 0\n  copies: 3\n", "line 2: invalid YAML: mapping values are not allowed here"),
        (
            'seed: !!python/object/apply:os.system ["echo hi"]\n',
            "line 1: invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object/apply:os.system'",
        ),
        ("seed: 1\nseed: 2\n", "line 2: seed: duplicate key (first on line 1)"),
        ("transforms: &t [*t]\n", "line 1: transforms[0]: each transform must be one op name with its settings"),
        ("- hflip\n", "line 1: must be a mapping of keys to values, got a list"),
    ],
)
def test_bad_recipes_exit_2_without_traceback(cli, tmp_path, text, message):
    path = write_recipe(tmp_path / "r.yaml", text)
    result = cli("validate", path)  # catch_exceptions=False: an escaping exception fails the test
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path} {message}")
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_missing_recipe_names_the_file(cli, tmp_path):
    path = tmp_path / "nope.yaml"
    result = cli("validate", path)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: No such file or directory\n"


def test_folder_as_recipe_is_a_usage_error(cli, tmp_path):
    result = cli("validate", tmp_path)
    assert result.exit_code == 2
    assert f"'{tmp_path}' is a directory" in result.stderr
    assert "Traceback" not in result.output


def test_unreadable_bytes_name_the_file(cli, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"seed: 0  # caf\xe9\n")
    result = cli("validate", path)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: cannot be read as UTF-8 text\n"


def test_missing_argument_is_a_usage_error(cli):
    result = cli("validate")
    assert result.exit_code == 2
    assert "Missing argument 'RECIPE'" in result.stderr


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_validate(cli, path):
    result = cli("validate", path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{path}: valid; ")


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"segaug {__version__}\n"
    assert __version__ == importlib.metadata.version("segaug")  # what pip reports is what we print


def test_python_dash_m_runs_the_same_cli(tmp_path):
    version = run_segaug("--version", cwd=tmp_path)
    assert (version.returncode, version.stdout, version.stderr) == (0, f"segaug {__version__}\n", "")
    path = write_recipe(tmp_path / "r.yaml", BAD_ROTATE)
    bad = run_segaug("validate", path, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == f"Error: {path} line 4: transforms[0].rotate.degrees: lo (30) > hi (-30)\n"
    assert bad.stdout == ""


def test_help_lists_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for name in main.commands:
        assert f"\n  {name} " in result.stdout


def test_every_contract_command_exists():
    assert {"expand", "check", "validate", "preview"} <= set(main.commands)


@pytest.mark.parametrize("name", sorted(main.commands))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_each_command_help(cli, name, flag):
    result = cli(name, flag)
    assert result.exit_code == 0
    assert re.match(rf"Usage: \S+ {name} \[OPTIONS\]", result.stdout)  # CliRunner's program name varies
    first_line = main.commands[name].help.split("\n")[0]
    assert first_line in " ".join(result.stdout.split())
    assert f"segaug {name} " in result.stdout  # the Example block
    assert result.stderr == ""
