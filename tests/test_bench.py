"""The benchmark package: the floor's outputs, the /proc sampler, the report's Markdown, and a tiny real study."""

from __future__ import annotations

import dataclasses
import re
import sys

import cv2
import numpy as np
import pytest
from conftest import REPO

if str(REPO) not in sys.path:  # `pytest` run from elsewhere: benchmarks/ is a package at the repository root
    sys.path.insert(0, str(REPO))

from benchmarks import cli, floor, segaug_api  # noqa: E402
from benchmarks.dataset import list_pairs, synthesize  # noqa: E402
from benchmarks.machine import MachineInfo  # noqa: E402
from benchmarks.measure import Measurement, OutputSizes, measure  # noqa: E402
from benchmarks.report import Results, render  # noqa: E402
from benchmarks.report.online import online_lines  # noqa: E402
from benchmarks.report.startup import startup_lines  # noqa: E402
from benchmarks.report.throughput import ratio_lines, table_lines  # noqa: E402
from benchmarks.studies.online import OnlineResult, Rate, albumentations_installed, run_online  # noqa: E402
from benchmarks.studies.startup import StartupResult  # noqa: E402
from benchmarks.studies.throughput import FloorSettings, Run, ThroughputResult, run_throughput  # noqa: E402
from benchmarks.summary import spread  # noqa: E402
from benchmarks.workloads import Workload  # noqa: E402
from segaug_cli import png  # noqa: E402

MIB = 2**20


def read(path: str) -> np.ndarray:
    return cv2.imread(path, cv2.IMREAD_UNCHANGED)


def test_generated_dataset_is_camvid_like_and_the_same_bytes_every_time(tmp_path):
    synthesize(tmp_path / "a", 2)
    synthesize(tmp_path / "b", 2)
    pairs = list_pairs(tmp_path / "a")
    assert [stem for _, _, stem in pairs] == ["synth_0000", "synth_0001"]
    for image, mask, _ in pairs:
        assert read(image).shape == (360, 480, 3) and read(image).dtype == np.uint8
        assert read(mask).shape == (360, 480) and set(np.unique(read(mask))) <= set(range(12))
    for name in ("images/synth_0001.png", "masks/synth_0001.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.fixture
def tiny(tmp_path):
    synthesize(tmp_path / "in", 2, size=(64, 48))
    return tmp_path


def test_floor_writes_every_copy_at_the_source_shape_with_only_source_labels(tiny):
    done = floor.run(str(tiny / "in"), str(tiny / "out"), 3, 1, "pair", [], floor.parse_params("19,32"))
    assert done == 6
    for image, mask, stem in list_pairs(tiny / "in"):
        labels = set(np.unique(read(mask))) | {0}  # 0: the constant border
        for k in range(3):
            out_image = read(f"{tiny}/out/images/{stem}_aug{k}.png")
            out_mask = read(f"{tiny}/out/masks/{stem}_aug{k}.png")
            assert out_image.shape == read(image).shape and out_mask.shape == read(mask).shape
            assert set(np.unique(out_mask)) <= labels


def test_floor_decoding_per_output_or_per_pair_writes_the_same_bytes(tiny):
    for mode in ("output", "pair"):
        floor.run(str(tiny / "in"), str(tiny / mode), 2, 1, mode, [], [])
    written = sorted(p.relative_to(tiny / "pair") for p in (tiny / "pair").rglob("*.png"))
    assert len(written) == 8
    assert all((tiny / "pair" / p).read_bytes() == (tiny / "output" / p).read_bytes() for p in written)


def test_floor_with_segaugs_png_writer_writes_its_bytes_and_opencvs_pixels(tiny):
    lib = floor.parse_params("libdeflate")
    floor.run(str(tiny / "in"), str(tiny / "lib"), 2, 1, "pair", lib, lib)
    floor.run(str(tiny / "in"), str(tiny / "cv"), 2, 1, "pair", [], [])
    written = sorted(p.relative_to(tiny / "cv") for p in (tiny / "cv").rglob("*.png"))
    assert len(written) == 8
    for rel in written:
        ours, theirs = (tiny / "lib" / rel).read_bytes(), (tiny / "cv" / rel).read_bytes()
        kind = "image" if rel.parts[0] == "images" else "mask"
        assert ours == png.encode_png(read(tiny / "cv" / rel), kind=kind) != theirs
        assert np.array_equal(read(tiny / "lib" / rel), read(tiny / "cv" / rel))


def test_sampler_sees_the_memory_and_cpu_of_the_child(tmp_path):
    code = "import time; b = b'x' * (64 << 20); t = time.process_time(); time.sleep(0.3)"
    m = measure([sys.executable, "-c", code], cwd=tmp_path, pss_every=2)
    assert m.peak_rss >= 64 * MIB and m.peak_single >= 64 * MIB and m.peak_pss >= 60 * MIB
    assert m.processes == 1 and m.wall >= 0.3 and m.cpu > 0


def test_a_failing_command_raises_with_its_stderr(tmp_path):
    with pytest.raises(RuntimeError, match=r"exited 3:\nbroken"):
        measure([sys.executable, "-c", "import sys; print('broken', file=sys.stderr); sys.exit(3)"], cwd=tmp_path)


def test_spread_is_median_then_min_max():
    assert spread([3.0, 1.0, 2.0]) == "2.0 (1.0–3.0)"
    assert spread([0.0612], "{:.2f}") == "0.06"
    assert spread([]) == "n/a"


def test_startup_section_is_a_table_in_milliseconds():
    lines = startup_lines(StartupResult({"segaug --help": (0.061, 0.055, 0.083)}))
    assert lines == [
        "## Start-up",
        "",
        "Wall time of the whole command, median (min–max) of 3 interleaved runs:",
        "",
        "| command | ms |",
        "|---|---|",
        "| `segaug --help` | 61 (55–83) |",
        "",
        "Target: `segaug --help` and `segaug validate` under 300 ms.",
        "",
    ]


def run(wall: float, cpu: float, images: int, masks: int, other: int = 0, outputs: int = 100) -> Run:
    return Run(
        Measurement(wall, cpu, 60 * MIB, 40 * MIB, 60 * MIB, 1),
        OutputSizes(images, masks, other, 100, 100),
        load=1.0,
        outputs=outputs,
    )


THROUGHPUT = ThroughputResult(
    pairs=25,
    copies=4,
    reps=2,
    workers=(1,),
    variants=("floor", "floor-once", "segaug"),
    runs={
        ("floor", 1): (run(2.0, 2.0, 102400, 10240), run(2.5, 2.2, 102400, 10240)),
        ("floor-once", 1): (run(1.0, 1.0, 102400, 10240), run(1.25, 1.1, 102400, 10240)),
        ("segaug", 1): (run(1.0, 0.9, 102400, 10240, other=4096), run(1.0, 1.0, 102400, 10240, other=4096)),
    },
)


def test_throughput_table_gives_medians_and_ranges_per_variant():
    lines = table_lines(THROUGHPUT)
    assert (
        lines[2] == "| floor (decode per output pair) | 1 | 45.0 (40.0–50.0) | 21.00 (20.00–22.00) | 60 (60–60) | "
        "40 (40–40) | 60 (60–60) | 1.1 KiB (1.0 + 0.1) |"
    )
    assert (
        lines[4] == "| segaug expand | 1 | 100.0 (100.0–100.0) | 9.50 (9.00–10.00) | 60 (60–60) | 40 (40–40) | "
        "60 (60–60) | 1.1 KiB (1.0 + 0.1); + 4 KiB manifest etc. per run |"
    )


def test_ratios_are_paired_per_repetition():
    lines = ratio_lines(THROUGHPUT)
    assert "| segaug / floor (decode once per pair) | 1 | 1.12 (1.00–1.25)x | 1.00, 1.25 |" in lines
    by_cpu = "| by CPU time: floor (decode per output pair) CPU / segaug CPU | 1 | 2.21 (2.20–2.22)x | 2.22, 2.20 |"
    assert by_cpu in lines


def test_the_whole_report_names_no_issue():
    info = MachineInfo("commit abc", 2, "cpu", "3.11", "5.0.0", "2.0", "13", "segaug 0.1.0", "z", "p", "Linux")
    text = render(
        Results(
            "python -m benchmarks",
            "2026-01-01 00:00",
            10.0,
            info,
            "live",
            1.0,
            1.0,
            "synthetic",
            "tmpfs",
            FloorSettings("17,2", "19,32", "given"),
            (THROUGHPUT, dataclasses.replace(THROUGHPUT, copies=4)),
            startup=StartupResult({"segaug --help": (0.05,)}),
        )
    )
    assert text.startswith("# segaug benchmark results\n")
    assert "## Throughput: segaug against the floor\n" in text and "## Start-up" in text
    assert "## Throughput: segaug against the floor, 4 copies per pair\n" in text  # the full run's second study
    assert not re.search(r"issue", text, re.IGNORECASE)


def test_a_dataset_that_is_not_there_is_one_line_and_exit_2(tmp_path, capsys):
    assert cli.main(["--quick", "--dataset", str(tmp_path / "camvid")], prog="bench") == 2
    assert capsys.readouterr().err == f"bench: error: --dataset {tmp_path / 'camvid'}: no such folder\n"
    assert cli.main(["--dataset", str(tmp_path)], prog="bench") == 2
    no_pairs = "no pairs (images/NAME.png with masks/NAME.png)"
    assert capsys.readouterr().err == f"bench: error: --dataset {tmp_path}: {no_pairs}\n"


def test_smallest_throughput_study_runs_every_variant_and_counts_what_each_wrote(tiny, capsys):
    segaug = segaug_api.snapshot(tiny, "live")
    image_params, mask_params = segaug.png_defaults()
    settings = FloorSettings(image_params, mask_params, "segaug's own")
    (tiny / "out").mkdir()
    tp = run_throughput(
        tiny,
        tiny / "out",
        tiny / "in",
        Workload(pairs=2, copies=1, reps=1),
        (1,),
        segaug,
        floor.install(tiny),
        settings,
    )
    assert tp.variants == ("floor", "floor-once", "floor-pinned", "floor-cvdefault", "segaug")  # PNG params: its own
    for variant in tp.variants:
        (r,) = tp.runs[(variant, 1)]
        assert (r.sizes.n_images, r.sizes.n_masks) == (2, 2) and r.rate > 0 and r.usage.cpu > 0
        assert (r.sizes.other > 0) == (variant == "segaug")  # the manifest and sidecar
    assert list((tiny / "out").iterdir()) == []  # every run's OUT is removed once counted


def test_scale_study_measures_the_main_process_and_reports_bytes_per_pair(tmp_path, capsys):
    from benchmarks.report.scale import scale_lines
    from benchmarks.studies.scale import make_tiny_pairs, run_scale

    make_tiny_pairs(tmp_path / "tiny", 3)
    assert [p.relative_to(tmp_path / "tiny").as_posix() for p in sorted((tmp_path / "tiny").rglob("*.png"))] == [
        f"{kind}/d0000/p000000{i}.png" for kind in ("images", "masks") for i in range(3)
    ]
    segaug = segaug_api.snapshot(tmp_path, "live")
    result = run_scale(tmp_path, tmp_path, segaug, (4, 8), workers=1)

    assert all(run.peak_rss > 20 * 2**20 and run.wall > 0 and run.cpu > 0 for run in result.runs.values())
    assert result.sharded_cpu > 0 and result.unsharded_cpu > 0
    text = "\n".join(scale_lines(result))
    assert "| fresh expand | " in text and "| merge | " in text and "bytes per added pair" in text
    assert not any(p.is_dir() and p.name.startswith("scale_") for p in tmp_path.iterdir()), "folders left behind"


def test_online_study_times_both_sides_and_reports_the_ratio(tiny, capsys):
    result = run_online(tiny, tiny / "in", 2, 3, 1, segaug_api.snapshot(tiny, "live"))
    assert result.items == 3 and len(result.segaug) == 1 and result.segaug[0].wall > 0 and result.segaug[0].cpu > 0
    assert (result.albumentations is not None) == albumentations_installed()
    ours = (Rate(50.0, 60.0), Rate(40.0, 50.0), Rate(60.0, 70.0))
    theirs = (Rate(100.0, 120.0), Rate(80.0, 100.0), Rate(120.0, 140.0))
    text = "\n".join(online_lines(OnlineResult(96, ours, theirs, "2.0.8")))
    assert "| `segaug_cli.AugmentedPairs` (epoch 1) | 50.0 (40.0–60.0) | 60.0 (50.0–70.0) |" in text
    assert "items per CPU second paired per repetition: 0.50 (0.50–0.50)x." in text
    assert "no comparison" in "\n".join(online_lines(OnlineResult(96, ours, None)))


def test_flat_study_puts_every_pair_in_one_folder_and_reports_bytes_per_pair(tmp_path):
    from benchmarks.report.flat import flat_lines
    from benchmarks.studies.flat import PHASES, run_flat
    from benchmarks.studies.scale import make_tiny_pairs

    make_tiny_pairs(tmp_path / "tiny", 2, flat=True)
    assert [p.relative_to(tmp_path / "tiny").as_posix() for p in sorted((tmp_path / "tiny").rglob("*.png"))] == [
        f"{kind}/p000000{i}.png" for kind in ("images", "masks") for i in range(2)
    ]
    result = run_flat(tmp_path, tmp_path, segaug_api.snapshot(tmp_path, "live"), (4, 8), workers=1)

    assert sorted(result.runs) == sorted((phase, size) for phase in PHASES for size in (4, 8))
    assert all(run.peak_rss > 20 * 2**20 and run.wall > 0 for run in result.runs.values())
    text = "\n".join(flat_lines(result))
    assert "| no-op rerun | " in text and "| check | " in text and "bytes per added pair" in text
    assert not any(p.is_dir() and p.name.startswith("flat_") for p in tmp_path.iterdir()), "folders left behind"


def test_the_pinned_floor_warps_with_the_kernels_segaug_warps_with(tmp_path):
    """Its bytes are those of a floor run with segaug's OPENCV_CPU_DISABLE list, and on a CPU with
    AVX2 not those of the floor that leaves OpenCV as it loads (linear warps round differently there)."""
    import os
    import subprocess

    synthesize(tmp_path / "in", 3, size=(160, 120))
    segaugs_list = os.environ["OPENCV_CPU_DISABLE"]  # set when this process imported segaug_cli
    bare = {k: v for k, v in os.environ.items() if k != "OPENCV_CPU_DISABLE"}
    folder = floor.install(tmp_path)

    def files(name: str, pinned: bool, env: dict[str, str]) -> dict[str, bytes]:
        out = tmp_path / name
        cmd = floor.command(folder, tmp_path / "in", out, 3, 1, "pair", "", "", pinned=pinned)
        subprocess.run(cmd, env=env, check=True, timeout=60)
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}

    pinned = files("pinned", True, bare)
    assert len(pinned) == 18
    assert pinned == files("listed", False, dict(bare, OPENCV_CPU_DISABLE=segaugs_list))
    if _has_avx2():
        assert pinned != files("as_loaded", False, bare)


def _has_avx2() -> bool:
    """Whether this CPU has AVX2 (this process's OpenCV is pinned, so it cannot say)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return " avx2" in info.read()
    except OSError:
        return False
