"""segaug against the physical floor of offline augmentation: throughput, scaling, memory, start-up, PNG settings.

Run ``python -m benchmarks`` (or ``benchmarks/bench.py``) from the repository root; see README.md here.

Modules, from the entry point down (imports run only downward):

- ``cli``: options -> workloads -> studies -> report; the only module that prints the report or writes RESULTS.md
- ``report/``: result dataclasses -> Markdown, one module per section; pure text, no measuring
- ``studies/``: throughput, memory, startup, png, profiling; each returns a frozen result dataclass
- ``floor``: the reference implementation (decode, warp, encode, write and nothing else), run as a child
- ``measure`` and ``sampler``: run a command, time it, sample its process tree's CPU and memory from /proc
- ``segaug_api``: the one place that knows how to run and query segaug (every ``segaug_cli`` name is here)
- ``dataset``: the generated CamVid-like default dataset, or pairs copied from ``--dataset PATH``
- ``machine``, ``workloads``, ``summary``: the host, the fixed recipe and sizes, number formatting
"""
