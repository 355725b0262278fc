"""The one place that knows how to run and query segaug: which copy of ``segaug_cli`` runs, and its internals.

Every ``segaug_cli`` name the benchmark uses is spelled here (in code run by the benchmarked segaug's own
interpreter), so a module moved inside segaug needs a fix in this file only.
"""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .workloads import ROOT

# segaug's PNG settings when the recipe sets no png_compression, one line per kind: "fpng" for images
# of a segaug whose default output.png is fast, "libdeflate" for a segaug that writes PNG with its own
# writer, else its cv2.imencode params as "16,1,...".
PNG_DEFAULTS_CODE = (
    "from segaug_cli import codecs\n"
    "from segaug_cli.recipe import model\n"
    "if hasattr(codecs, 'fast_png_writer') and getattr(model.Output(), 'png', None) == 'fast':\n"
    "    print('fpng\\nlibdeflate')\n"
    "elif hasattr(codecs, 'png_writer'):\n"
    "    print('libdeflate\\nlibdeflate')\n"
    "else:\n"
    "    print(','.join(map(str, codecs.png_params('image', None))))\n"
    "    print(','.join(map(str, codecs.png_params('mask', None))))\n"
)

# `segaug expand ...` under cProfile timed by CPU time; argv: [-c, stats file, expand arguments...].
PROFILE_CODE = (
    "import cProfile, sys, time\n"
    "from segaug_cli.cli import main\n"
    "profile = cProfile.Profile(time.process_time)\n"
    "profile.enable()\n"
    "try:\n"
    "    main(sys.argv[2:], prog_name='segaug')\n"
    "except SystemExit as stop:\n"
    "    assert not stop.code, stop.code\n"
    "profile.disable()\n"
    "profile.dump_stats(sys.argv[1])\n"
)


@dataclass(frozen=True)
class Segaug:
    """How to start the benchmarked segaug: its environment, working folder, and a line saying which it is."""

    env: dict[str, str] | None
    cwd: Path
    source: str

    def command(self, *args: str) -> list[str]:
        """The command line of ``segaug ARGS``: the venv's console script, else ``python -m segaug_cli``."""
        exe = Path(sys.executable).with_name("segaug")
        return [*([str(exe)] if exe.exists() else [sys.executable, "-m", "segaug_cli"]), *args]

    def python(self, code: str, *args: str) -> list[str]:
        """The command line of a Python snippet run against this segaug."""
        return [sys.executable, "-c", code, *args]

    def run(self, cmd: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, cwd=self.cwd, capture_output=True, text=True)

    def png_defaults(self) -> tuple[str, str] | None:
        """segaug's default PNG settings for images and masks, or None if unknown: ``floor.FPNG`` for
        the images of a segaug that writes photos with fpng by default, ``floor.LIBDEFLATE``
        when the benchmarked segaug writes PNG with its own writer, else its "16,1,..." imencode params
        (``png_params(kind, None)``); a segaug with neither encoded with no params, OpenCV's default.
        """
        found = self.run(self.python(PNG_DEFAULTS_CODE))
        lines = found.stdout.splitlines()
        if found.returncode or len(lines) != 2:
            return None
        return lines[0].strip(), lines[1].strip()

    def version(self) -> str:
        try:
            return self.run(self.command("--version")).stdout.strip()
        except OSError:
            return "not found"


def snapshot(scratch: Path, source: str) -> Segaug:
    """Benchmark one fixed version of segaug_cli/, whatever others edit in the tree during the run.

    Args:
        scratch: the benchmark's scratch folder; the copy goes to ``scratch/src``.
        source: ``worktree`` (a copy of segaug_cli/ as it is now), ``HEAD`` (as committed, via git archive)
            or ``live`` (no copy: the installed package as it is at each moment).

    Returns:
        How to run that segaug. The copy goes first on PYTHONPATH and segaug runs from the scratch folder
        (not the repo root), so it, not the editable install, is what every segaug process imports.

    Raises:
        RuntimeError: the copy is not what a segaug process would import.
    """
    if source == "live":
        compile_bytecode(ROOT / "segaug_cli")
        return Segaug(env=None, cwd=ROOT, source="the installed package, live")
    dest = scratch / "src"
    dest.mkdir(parents=True)
    if source == "HEAD":
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        archive = subprocess.run(["git", "archive", "HEAD", "segaug_cli"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        what = f"segaug_cli/ as committed at {head.stdout.strip()} (git HEAD), copied at start"
    else:
        shutil.copytree(ROOT / "segaug_cli", dest / "segaug_cli", ignore=shutil.ignore_patterns("__pycache__"))
        what = "a copy of the working tree's segaug_cli/ taken at start"
    compile_bytecode(dest)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(dest), os.environ.get("PYTHONPATH")])))
    segaug = Segaug(env=env, cwd=scratch, source=what)
    found = segaug.run(segaug.python("import segaug_cli; print(segaug_cli.__file__)")).stdout.strip()
    if not found.startswith(str(dest)):
        raise RuntimeError(f"the snapshot of segaug_cli is not what gets imported ({found})")
    return segaug


def compile_bytecode(folder: Path) -> None:
    """Write the byte code of every module under ``folder``, as ``pip install`` does for a package.

    Without it, where PYTHONDONTWRITEBYTECODE is set (as on the machine of RESULTS.md) every process would
    compile segaug's sources afresh: about 35 ms of start-up that no installed copy pays.
    """
    if not compileall.compile_dir(str(folder), quiet=1):
        raise RuntimeError(f"could not compile the modules under {folder}")
