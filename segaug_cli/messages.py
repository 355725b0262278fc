"""What the commands say: the lines of a report, built from the engine's records; ``cli`` prints them.

Plain strings, no click: a test or a library user reads the same sentences the command line prints.
"""

from __future__ import annotations

from .reports import Summary
from .shards import Shard

EXAMPLES_SHOWN = 5  # how many names a warning lists before "and N more"

Line = tuple[bool, str]  # (to stdout rather than stderr, the text)


def public(url: str) -> str:
    """A folder or URL as reports name it: without credentials typed into it (``s3://key:secret@...``).
    Imported when needed: the storage layer brings OpenCV, which ``segaug --help`` need not load."""
    from .storage import public as without_credentials

    return without_credentials(url)


def names(found: list[str], limit: int = EXAMPLES_SHOWN) -> str:
    """The first few names, and how many more there are."""
    shown = ", ".join(found[:limit])
    return shown + (f" and {len(found) - limit} more" if len(found) > limit else "")


def expand_report(summary: Summary, out_dir: str, quiet: bool, dry_run: bool, shard: Shard | None = None) -> list[Line]:
    """What ``segaug expand`` prints once the run is over, in order."""
    lines = [(False, text) for text in _notes(summary) if not quiet or text.startswith("error: ")]  # -q: errors only
    if dry_run:
        lines += [(True, f"would {action} {what}") for action, what in summary.planned]
        lines.append(
            (
                False,
                f"segaug expand --dry-run: would write {summary.would_write}, "
                f"leave {summary.unchanged} unchanged, remove {summary.removed}; {summary.failed} failed",
            )
        )
        return lines
    return lines + [(False, text) for text in _ending(summary, public(out_dir), quiet, shard)]


def _notes(summary: Summary) -> list[str]:
    """Failures, then what the run found besides pairs (orphans, skipped, ignored, foreign files)."""
    err = [f"error: {reason}" for _source, reason in summary.failures]
    if summary.orphan_masks:
        err.append(f"warning: {len(summary.orphan_masks)} mask(s) have no image: {names(list(summary.orphan_masks))}")
    if summary.unlisted_pixels:
        err.append(
            f"warning: {summary.unlisted_pixels} mask pixel(s) had a colour not in labels.colors and took "
            "labels.default; check the table with `segaug validate RECIPE IN`"
        )
    if summary.skipped:
        err.append(
            f"note: {len(summary.skipped)} image(s) without a mask skipped (inputs.unpaired: skip): "
            f"{names(list(summary.skipped))}"
        )
    if summary.left_out:
        err.append(f"note: {summary.left_out} image(s) left out: not listed in the split file (inputs.split)")
    if summary.beside:
        err.append(
            f"note: {len(summary.beside)} other annotation file(s) beside the masks not read: "
            f"{names(list(summary.beside))}"
        )
    if summary.ignored:
        err.append(f"note: {len(summary.ignored)} non-image file(s) ignored: {names(list(summary.ignored))}")
    if summary.foreign:
        err.append(
            f"warning: {len(summary.foreign)} file(s) in OUT were not written by segaug and were left alone: "
            f"{names(summary.foreign)}"
        )
    return err


def _ending(summary: Summary, out_dir: str, quiet: bool, shard: Shard | None) -> list[str]:
    """The class shares, a fatal error or interruption, and the one-line summary of a real run."""
    err = []
    if summary.class_before and not quiet:
        from .stats import share_table

        err.append("pixel share per class, source masks (before) and the augmented dataset (after):")
        err += share_table(summary.class_before, summary.class_after)
    if summary.fatal:
        err.append(f"error: {summary.fatal}")
    if summary.interrupted:
        err.append(f"segaug: interrupted after writing {summary.written} pairs; run the same command again to finish")
        return err
    # written, unchanged, removed: output samples (an image and its mask); failed: source pairs. A run
    # that wrote nothing has no rate to give.
    rate = f" ({summary.written / summary.seconds:.1f} output samples/s)" if summary.written and summary.seconds else ""
    line = (
        f"segaug: output samples {summary.written} written, {summary.unchanged} unchanged, {summary.removed} removed, "
        f"source pairs {summary.failed} failed in {summary.seconds:.1f} s{rate}"
    )
    from .storage.books import books_for

    books = books_for(shard)
    if not summary.fatal:
        line += f"; manifest: {out_dir.rstrip('/')}/{books.manifest}"
    if summary.failed:
        line += f"; failures listed in {out_dir.rstrip('/')}/{books.errors}"
    if not quiet or summary.failed or summary.fatal:
        err.append(line)
    return err


def merge_report(summary, out_dir: str) -> str:
    """What ``segaug merge`` says once the shards are merged (or were, by an earlier merge)."""
    manifest = f"{public(out_dir).rstrip('/')}/manifest.csv"
    if summary.finished_earlier:
        return (
            f"segaug merge: OUT was merged already; removed the files {summary.shards} shard(s) left behind; "
            f"manifest: {manifest}"
        )
    return f"segaug merge: {summary.shards} shards, {summary.rows} output pairs; manifest: {manifest}"


def survey_lines(found, in_dir: str, labels) -> list[str]:
    """The pairing report, one fact per line: what a run would augment, fail, skip or not read."""
    lines = [f"{public(in_dir)}: {found.pairs} pair(s) found"]
    if found.without_mask:
        fate = "skipped (inputs.unpaired: skip)" if found.skipped else "would fail (set inputs.unpaired: skip)"
        lines.append(f"{len(found.without_mask)} image(s) without a mask {fate}: {names(list(found.without_mask))}")
    if found.left_out:
        lines.append(f"{found.left_out} image(s) left out: not listed in the split file")
    for problem in found.split_missing:
        lines.append(f"split entry missing: {problem}")
    for problem in found.other_problems:
        lines.append(f"would fail: {problem}")
    if found.orphan_masks:
        lines.append(f"{len(found.orphan_masks)} mask(s) without an image: {names(list(found.orphan_masks))}")
    if found.beside:
        lines.append(
            f"{len(found.beside)} other annotation file(s) beside the masks, not read: {names(list(found.beside))}"
        )
    if found.ignored:
        lines.append(f"{len(found.ignored)} non-image file(s) ignored: {names(list(found.ignored))}")
    for problem in found.bad_files:
        lines.append(f"would fail: {problem}")
    for problem in found.unreadable:
        lines.append(f"would fail: {problem}")
    if found.unlisted:
        shown = names([str(v) for v in found.unlisted])
        becomes = "stay as they are" if labels.default is None else f"would become {labels.default}"
        lines.append(
            f"labels: {shown} seen in {found.sampled} sampled mask(s) but not listed (they {becomes}, labels.default)"
        )
    elif found.sampled:
        lines.append(f"labels: every value in {found.sampled} sampled mask(s) is listed")
    return lines
