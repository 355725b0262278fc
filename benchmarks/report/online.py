"""The report's online section: AugmentedPairs per DataLoader worker, beside Albumentations."""

from __future__ import annotations

from ..studies.online import OnlineResult, Rate
from ..summary import spread


def online_lines(online: OnlineResult) -> list[str]:
    runs = len(online.segaug)
    out = [
        "## Online: one DataLoader worker",
        "",
        f"What one process serves (decode the pair, augment, hand back image and mask; one OpenCV thread), "
        f"{online.items} items per run, median (min–max) of {runs} alternating runs:",
        "",
        "| what | items/s | items per CPU second |",
        "|---|---|---|",
        _row("`segaug_cli.AugmentedPairs` (epoch 1)", online.segaug),
    ]
    if online.albumentations is None:
        return out + ["", "Albumentations is not installed: no comparison.", ""]
    what = (
        f"Albumentations {online.albumentations_version} `A.Compose` (Affine, HorizontalFlip, RandomBrightnessContrast)"
    )
    return out + [
        _row(what, online.albumentations),
        "",
        f"segaug / Albumentations, items per CPU second paired per repetition: {spread(online.ratios, '{:.2f}')}x.",
        "",
    ]


def _row(what: str, rates: tuple[Rate, ...]) -> str:
    return f"| {what} | {spread([r.wall for r in rates])} | {spread([r.cpu for r in rates])} |"
