"""README.md and docs/ agree with the code, and every example in them runs.

- every fenced ```yaml block is a valid recipe, or is marked as a fragment on the line above it;
- every `segaug ...` line of a fenced shell block runs, in order, against a copy of sample_data/;
- every ```python block runs there too;
- the op table is the one generated from the registry; every op, recipe key and command is documented;
- docs/design.md's module map lists exactly the modules of segaug_cli/;
- links resolve inside the repository, and no file points at notes, trackers or folders outside it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO

from segaug_cli import recipe
from segaug_cli.cli import main

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README = (REPO / "README.md").read_text(encoding="utf-8")
RECIPES_DOC = (REPO / "docs" / "recipes.md").read_text(encoding="utf-8")
DESIGN_DOC = (REPO / "docs" / "design.md").read_text(encoding="utf-8")


def _load_script(name: str):
    """A module of scripts/ (a folder of programs, not a package), imported from its file."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


op_table = _load_script("op_table")
SHELL_LANGUAGES = ("sh", "shell", "bash", "console")
# `<!-- fragment: why -->` on the line above a ```yaml fence: YAML that is not a whole recipe.
FRAGMENT = re.compile(r"<!--\s*fragment:\s*(\S.*?)\s*-->")

# The examples' paths that sample_data/ and recipes/ do not have, and the copies that stand in for them.
WORKSPACE_ALIASES = {"recipes/train.yaml": "recipes/default.yaml", "data/raw": "sample_data"}
# `segaug ...` lines of shell blocks that cannot run against sample_data/, with the reason.
CLUSTER = "needs a running Dask cluster (tests/test_dask.py runs one)"
NOT_RUNNABLE: dict[str, str] = {
    "segaug expand recipes/default.yaml /shared/data/raw /shared/data/aug --scheduler tcp://head-node:8786": CLUSTER,
    "segaug expand recipes/default.yaml /shared/data/raw /shared/data/aug --scheduler-file /shared/scheduler.json": (
        CLUSTER
    ),
    "segaug expand recipes/datasets/potsdam.yaml data/Potsdam out/potsdam": "the miniature is smaller than one tile",
}
# data/<name>: the miniatures of tests/dataset_layouts.py, for the commands of docs/datasets.md
DATASET_MINIATURES = ("voc2012", "cityscapes", "ade20k", "isic2018", "kvasir_seg", "potsdam")


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    doc: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    fragment: str | None  # the reason given by a fragment marker on the line above the fence

    @property
    def where(self) -> str:
        return f"{rel(self.doc)}:{self.line}"


def fenced_blocks(doc: Path) -> list[Block]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks, start = [], None
    for number, line in enumerate(lines, 1):
        if not line.startswith("```"):
            continue
        if start is None:
            start, language = number, line[3:].strip().split(" ")[0]
            continue
        marker = FRAGMENT.fullmatch(lines[start - 2].strip()) if start > 1 else None
        blocks.append(
            Block(
                doc, start, language, "\n".join(lines[start : number - 1]) + "\n", marker.group(1) if marker else None
            )
        )
        start = None
    assert start is None, f"{rel(doc)}:{start}: a fence is never closed"
    return blocks


BLOCKS = [block for doc in DOCS for block in fenced_blocks(doc)]


def blocks_in(language: str | tuple[str, ...]) -> list[Block]:
    languages = (language,) if isinstance(language, str) else language
    return [block for block in BLOCKS if block.language in languages]


def segaug_commands(block: Block) -> list[list[str]]:
    """The `segaug ...` (or `python -m segaug_cli ...`) command lines of a shell block, as argv lists."""
    commands = []
    for line in block.text.splitlines():
        words = shlex.split(line.strip().removeprefix("$ "), comments=True)
        if words and Path(words[0]).name == "segaug":
            commands.append(words[1:])
        elif words[:3] == ["python", "-m", "segaug_cli"]:
            commands.append(words[3:])
    return commands


def test_the_block_walker_sees_the_docs():
    assert {rel(d) for d in DOCS} >= {
        "README.md",
        "docs/recipes.md",
        "docs/guarantees.md",
        "docs/ci.md",
        "docs/design.md",
        "docs/scaling.md",
    }
    fragments = [b for b in blocks_in("yaml") if b.fragment]
    workflows = [("docs/ci.md", "jobs"), ("docs/scaling.md", "jobs")]
    assert [(rel(b.doc), b.text.split(":")[0]) for b in fragments] == workflows
    readme_commands = [c for b in blocks_in(SHELL_LANGUAGES) if b.doc.name == "README.md" for c in segaug_commands(b)]
    assert readme_commands[0] == ["expand", "recipes/default.yaml", "sample_data", "out/"]
    assert blocks_in("python"), "docs/design.md shows the library in a ```python block"


# ---------------------------------------------------------------------------------------------
# Examples run
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", blocks_in("yaml"), ids=lambda b: b.where)
def test_every_yaml_block_is_a_recipe_or_a_marked_fragment(block):
    if block.fragment:
        assert yaml.safe_load(block.text) is not None  # still well-formed YAML
    else:
        recipe.parse(block.text, block.where)  # raises RecipeError with the line and key


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """A folder with copies of sample_data/ and recipes/ (and their aliases), as the working directory."""
    for folder in ("sample_data", "recipes"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    for alias, source in WORKSPACE_ALIASES.items():
        (tmp_path / alias).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (tmp_path / source).is_dir() else shutil.copyfile
        copy(tmp_path / source, tmp_path / alias)
    import dataset_layouts

    for name in DATASET_MINIATURES:
        getattr(dataset_layouts, name)(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("doc", DOCS, ids=rel)
def test_every_segaug_command_in_a_shell_block_runs(doc, workspace):
    commands = [c for b in blocks_in(SHELL_LANGUAGES) if b.doc == doc for c in segaug_commands(b)]
    runner = CliRunner()
    for argv in commands:  # in document order: `check` follows the `expand` it checks
        line = shlex.join(["segaug", *argv])
        if line in NOT_RUNNABLE:
            continue
        result = runner.invoke(main, argv, catch_exceptions=False)
        assert result.exit_code == 0, f"{rel(doc)}: `{line}` exited {result.exit_code}: {result.stderr}"


EXCERPT = re.compile(r"excerpt of (\S+\.py)$")
# `<!-- fragment: runs with torch installed -->`: a whole example that needs an optional package
NEEDS = re.compile(r"runs with (\S+) installed$")


@pytest.mark.parametrize("block", blocks_in("python"), ids=lambda b: b.where)
def test_every_python_block_runs_or_is_a_true_excerpt(block, workspace):
    needs = NEEDS.fullmatch(block.fragment or "")
    if needs:
        pytest.importorskip(needs.group(1), reason=f"{needs.group(1)} is not installed (make install-optional)")
    elif block.fragment:  # `<!-- fragment: excerpt of segaug_cli/x.py -->`: its lines stand in that file
        source = (REPO / EXCERPT.fullmatch(block.fragment).group(1)).read_text(encoding="utf-8")
        lines = [line.strip() for line in block.text.splitlines() if line.strip() not in ("", "...")]
        assert [line for line in lines if line not in source] == []
        return
    exec(compile(block.text, block.where, "exec"), {"__name__": "__main__"})


def test_commands_listed_as_not_runnable_are_still_in_the_docs():
    listed = {shlex.join(["segaug", *c]) for b in blocks_in(SHELL_LANGUAGES) for c in segaug_commands(b)}
    assert set(NOT_RUNNABLE) <= listed, "remove the commands that are gone from NOT_RUNNABLE"


# ---------------------------------------------------------------------------------------------
# Everything is documented
# ---------------------------------------------------------------------------------------------


def test_recipes_doc_op_table_is_the_one_generated_from_the_registry():
    table = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "op_table.py")], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.strip()
    assert table in RECIPES_DOC, "the op table is stale: run `make op-table`, which rewrites it in docs/recipes.md"


@pytest.mark.parametrize("name", sorted(op_table.TABLES))
def test_every_generated_table_in_the_docs_is_current(name):
    path, make = op_table.TABLES[name]
    held = op_table.generated_part(path.read_text(encoding="utf-8"), name)
    assert held == make(), f"the {name} of {path.relative_to(REPO)} is stale: run `make op-table`"


def test_the_op_table_generator_rewrites_only_what_lies_between_its_markers():
    start, end = op_table.begin("op table"), op_table.END
    text = f"# Ops\n\n{start}\n| an old | table |\n{end}\n\nMore.\n"
    written = op_table.with_table(text, "op table")
    assert written == f"# Ops\n\n{start}\n{op_table.table()}\n{end}\n\nMore.\n"
    assert op_table.with_table(written, "op table") == written
    with pytest.raises(ValueError) as exc:
        op_table.with_table(f"# Ops\n| an old | table |\n{end}\n", "op table")
    assert str(exc.value) == f"the op table must stand between one {start!r} and the next {end!r}"


@pytest.mark.parametrize("name", sorted(recipe.OPS))
def test_every_op_is_in_the_recipes_doc_and_used_by_some_test_or_recipe(name):
    assert f"| `{name}` |" in RECIPES_DOC
    texts = [p.read_text(encoding="utf-8") for p in [*REPO.glob("recipes/*.yaml"), *REPO.glob("tests/test_*.py")]]
    assert any(re.search(rf"\b{name}\b", text) for text in texts)


# Every key a recipe can hold, read from the dataclasses it parses into (`class_copies` is written
# `copies: {default: N, classes: {...}}`).
RECIPE_SECTIONS = (recipe.Recipe, recipe.Inputs, recipe.Output, recipe.Border, recipe.Target)
RECIPE_KEYS = sorted({f.name for cls in RECIPE_SECTIONS for f in dataclasses.fields(cls)} - {"class_copies"})


@pytest.mark.parametrize("key", RECIPE_KEYS)
def test_every_recipe_key_is_in_the_recipes_doc(key):
    assert f"`{key}`" in RECIPES_DOC


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_is_in_the_readme_table(command):
    assert f"| `segaug {command} " in README


def test_readme_set_up_is_the_two_make_commands():
    assert "make demo" in README and "make test" in README
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "segaug expand recipes/default.yaml sample_data" in makefile


def test_readme_stays_a_five_minute_read():
    assert len(README.splitlines()) <= 200, "move the detail to docs/"


def test_design_doc_module_map_lists_exactly_the_modules():
    mapped = re.findall(r"^\| `(segaug_cli/[\w/]+\.py)` \|", DESIGN_DOC, re.M)
    existing = sorted(rel(p) for p in (REPO / "segaug_cli").rglob("*.py"))
    assert len(mapped) == len(set(mapped)), "a module is listed twice"
    assert sorted(mapped) == existing


# ---------------------------------------------------------------------------------------------
# The repository stands alone
# ---------------------------------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchors(doc: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file: lower case, punctuation dropped, - for spaces."""
    headings = re.findall(r"^#+ (.+)$", doc.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS, ids=rel)
def test_relative_links_resolve_inside_the_repository(doc):
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        assert resolved.is_relative_to(REPO) and resolved.exists(), f"{rel(doc)}: broken link {target}"
        if anchor and resolved.suffix == ".md":
            assert anchor in heading_anchors(resolved), f"{rel(doc)}: no heading for {target}"


def repository_files() -> list[str]:
    """Tracked files and new ones not ignored: what a clone (or the next commit) holds."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return sorted(name for name in set(listed) if (REPO / name).is_file())


NOTES = ("contract", "style")  # project notes kept outside the repository, as NAME.md
# What a reader of a clone could not follow: tracker issues, notes files (or their sections by name),
# folders beside the clone (only the optional ../shared/data/ of real datasets is allowed), and
# absolute paths on someone's machine.
OUTSIDE_REFERENCES = {
    "tracker issue": re.compile(r"\bissues? #?\d+", re.I),
    "notes file": re.compile(rf"\b(?:{'|'.join(NOTES)})\.md\b", re.I),
    "notes section": re.compile(rf"\b(?:{'|'.join(n.upper() for n in NOTES)})\b"),
    "folder beside the clone": re.compile(r"\.\./shared(?!/data\b)|shared[ ]folder", re.I),
    "absolute path": re.compile(r"(?<![\w.])/(?:work|home|Users)/"),
}
# The MIT licence's capitals are legal text, not a reference to notes.
ALL_CAPS_ALLOWED = {"LICENSE"}
# Files whose rewrite is owned by the benchmarks work; they still cite tracker issues here.


def outside_references(name: str) -> list[str]:
    try:
        text = (REPO / name).read_text(encoding="utf-8")
    except UnicodeDecodeError:  # images and other binary files
        return []
    found = []
    for what, pattern in OUTSIDE_REFERENCES.items():
        if what == "notes section" and name in ALL_CAPS_ALLOWED:
            continue
        found += [f"line {text.count(chr(10), 0, m.start()) + 1}: {what} {m.group()!r}" for m in pattern.finditer(text)]
    return found


def test_no_file_refers_outside_the_repository():
    offenders = {name: refs for name in repository_files() for refs in [outside_references(name)] if refs}
    assert not offenders


def test_the_outside_reference_check_catches_each_kind():
    # Written in pieces, so that this file does not refer outside the repository itself.
    samples = {
        "tracker issue": ["fixed in issue" + " 6", "Issue" + " #12"],
        "notes file": [f"see {NOTES[0].upper()}.md", f"{NOTES[1]}.md section 1"],
        "notes section": [f"per {NOTES[1].upper()} section 1"],
        "folder beside the clone": ["the project's shared" + " folder", "../" + "shared/notes"],
        "absolute path": ["/" + "work/main/README.md", "/" + "home/me/data"],
    }
    assert samples.keys() == OUTSIDE_REFERENCES.keys()
    for what, texts in samples.items():
        assert all(OUTSIDE_REFERENCES[what].search(text) for text in texts), what
    allowed = ["../shared/data/camvid", "tissue" + " 3", "CONTRACT_OPS", "the contract says", "/tmp/out"]
    assert not [s for s in allowed if any(p.search(s) for p in OUTSIDE_REFERENCES.values())]
