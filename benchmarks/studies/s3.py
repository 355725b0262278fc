"""A bucket against local disk: the same workload, `expand s3://…/raw s3://…/out` vs `expand IN OUT`.

The benchmark starts moto's S3 server on 127.0.0.1 in this process (a real S3 API over HTTP on this
machine, sharing its cores with segaug, as a local MinIO would), uploads the pairs once, then each
repetition runs `segaug expand --workers N` on local folders and on the bucket once each, alternating
which goes first, every run into a new OUT. The ratio is paired per repetition: local wall time /
bucket wall time, i.e. the bucket run's throughput as a fraction of the local one's (target: at
least 0.7x). Needs the dev extras (moto, s3fs); without them the study says so and is skipped.

The server's CPU is measured too (this process's, during the bucket runs: moto answers in its
threads here, and this process does nothing else meanwhile), beside segaug's, because on a machine
of few cores the server's cost per request, not segaug, sets the ceiling. The study runs the
throughput workload and then a few Cityscapes-sized pairs (2048x1024), where each request carries
more work and the fixed cost per request weighs less.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..dataset import synthesize
from ..measure import wall_time
from ..segaug_api import Segaug
from ..summary import log, med, spread
from ..workloads import Workload, recipe_text

TARGET = 0.7
LARGE_SIZE = (2048, 1024)  # Cityscapes' frames
LARGE_PAIRS, LARGE_COPIES = 12, 4
BUCKET = "segaug-bench"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class S3Result:
    workers: int
    outputs: int  # output pairs per run
    local: tuple[float, ...]  # wall seconds per repetition
    bucket: tuple[float, ...]
    ratios: tuple[float, ...]  # bucket throughput / local throughput, per repetition
    server_cpu: float = 0.0  # seconds of the server's CPU per bucket run (median)

    @property
    def median_ratio(self) -> float:
        return med(self.ratios)


def run_s3(
    scratch: Path, out_root: Path, in_dir: Path, work: Workload, workers: int, segaug: Segaug
) -> S3Result | None:
    """``work`` on ``workers`` local processes, from and to local folders and from and to a bucket;
    then the same on a few Cityscapes-sized pairs."""
    result = _bucket_vs_disk(scratch, out_root, in_dir, work, workers, segaug, "raw")
    if result is not None:
        large = scratch / "s3_large_pairs"
        synthesize(large, LARGE_PAIRS, LARGE_SIZE)
        log(f"the same on {LARGE_PAIRS} pairs of {LARGE_SIZE[0]}x{LARGE_SIZE[1]}:")
        _bucket_vs_disk(
            scratch, out_root, large, Workload(LARGE_PAIRS, LARGE_COPIES, work.reps), workers, segaug, "raw-large"
        )
        shutil.rmtree(large)
    return result


def _bucket_vs_disk(
    scratch: Path, out_root: Path, in_dir: Path, work: Workload, workers: int, segaug: Segaug, raw: str
) -> S3Result | None:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        log("s3 study skipped: it needs moto[server] and boto3 (the dev extras)")
        return None
    recipe = scratch / "s3_recipe.yaml"
    recipe.write_text(recipe_text(work.copies), encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**(segaug.env or os.environ), **CREDENTIALS}
    try:
        client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
        client.create_bucket(Bucket=BUCKET)
        _upload(client, in_dir, raw)
        remote = ["--storage-option", f"endpoint_url={endpoint}"]
        local, bucket, ratios, server_cpu = [], [], [], []
        _timed(
            segaug,
            env,
            recipe,
            f"s3://{BUCKET}/{raw}",
            f"s3://{BUCKET}/{raw}-warmup",
            [*remote, "--workers", str(workers)],
        )
        for rep in range(work.reps):
            variants = {
                "local": lambda: _timed(
                    segaug, env, recipe, str(in_dir), str(out_root / "s3_local"), ["--workers", str(workers)]
                ),
                "bucket": lambda: _server_timed(
                    server_cpu,
                    lambda: _timed(
                        segaug,
                        env,
                        recipe,
                        f"s3://{BUCKET}/{raw}",
                        f"s3://{BUCKET}/out-{uuid.uuid4().hex[:8]}",
                        [*remote, "--workers", str(workers)],
                    ),
                ),  # fmt: skip
            }
            order = list(variants) if rep % 2 == 0 else list(reversed(variants))
            times = {name: variants[name]() for name in order}
            shutil.rmtree(out_root / "s3_local", ignore_errors=True)
            local.append(times["local"])
            bucket.append(times["bucket"])
            ratios.append(times["local"] / times["bucket"])
    finally:
        server.stop()
    result = S3Result(workers, work.outputs, tuple(local), tuple(bucket), tuple(ratios), med(server_cpu))
    log(f"bucket vs local disk, {workers} workers, {work.outputs} output pairs x {work.reps} (median, min–max):")
    log(f"  local disk  {spread([work.outputs / t for t in local])} pairs/s")
    log(f"  moto S3     {spread([work.outputs / t for t in bucket])} pairs/s")
    per_pair = result.server_cpu / work.outputs * 1e3
    log(f"  the server's CPU per bucket run {result.server_cpu:.2f} s, {per_pair:.1f} ms per output pair")
    verdict = "meets" if result.median_ratio >= TARGET else "misses"
    log(f"  bucket / local throughput {spread(ratios, '{:.2f}')}x ({verdict} the {TARGET}x target)")
    return result


def _server_timed(server_cpu: list[float], run) -> float:
    """``run()``'s wall time; the CPU this process (the server) spent meanwhile goes to ``server_cpu``."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = run()
    after = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def _upload(client, in_dir: Path, raw: str) -> None:
    for path in sorted(in_dir.rglob("*")):
        if path.is_file():
            key = f"{raw}/{path.relative_to(in_dir).as_posix()}"
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def _timed(segaug: Segaug, env: dict, recipe: Path, in_dir: str, out: str, options: list[str]) -> float:
    return wall_time(segaug.command("expand", str(recipe), in_dir, out, "--quiet", *options), cwd=segaug.cwd, env=env)
