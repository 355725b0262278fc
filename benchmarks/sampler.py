"""Peak memory and CPU time of a whole process tree, sampled from /proc (Linux)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants every 50 ms (PSS every 0.5 s), and
    their CPU time (user + system, last value seen per process: a process's final < 50 ms is missed).

    RSS double-counts pages shared between processes (forked workers share the interpreter, numpy and
    OpenCV); PSS splits each shared page among its sharers, so the PSS sum is the tree's real footprint.
    Reading smaps_rollup costs ~1 ms per process, hence the slower PSS cadence.
    """

    def __init__(self, root: int, interval: float = 0.05, pss_every: int = 10):
        super().__init__(daemon=True)
        self.root, self.interval, self.pss_every = root, interval, pss_every
        self.peak_rss = self.peak_pss = self.peak_single = 0
        self.max_processes = 0
        self._cpu: dict[int, int] = {}  # pid -> utime + stime, clock ticks
        self._halt = threading.Event()
        self._parent: dict[int, int] = {}

    def _tree(self) -> set[int]:
        # New descendants have larger pids than the root (no pid wrap-around in a few seconds).
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) >= self.root and int(name) not in self._parent:
                try:
                    stat = Path(f"/proc/{name}/stat").read_bytes()
                    self._parent[int(name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        tree, grew = {self.root}, True
        while grew:
            grew = False
            for pid, ppid in self._parent.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        return tree

    def sample(self, with_pss: bool) -> None:
        rss = pss = 0
        tree = self._tree()
        for pid in tree:
            try:
                stat = Path(f"/proc/{pid}/stat").read_bytes()
                fields = stat[stat.rindex(b")") + 2 :].split()
                self._cpu[pid] = int(fields[11]) + int(fields[12])
                one = int(Path(f"/proc/{pid}/statm").read_bytes().split()[1]) * PAGE
                rss += one
                self.peak_single = max(self.peak_single, one)
                if with_pss:
                    pss += _pss(pid)
            except (OSError, ValueError, IndexError):
                pass
        self.peak_rss = max(self.peak_rss, rss)
        if with_pss:
            self.peak_pss = max(self.peak_pss, pss)
        self.max_processes = max(self.max_processes, len(tree))

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values()) / CLK_TCK

    def run(self) -> None:
        tick = 0
        while not self._halt.is_set():
            self.sample(with_pss=tick % self.pss_every == 1)  # 1: the tree has usually started by then
            tick += 1
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _pss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0
