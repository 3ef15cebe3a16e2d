"""Benchmark: cold build, no-change rebuild and one-edit rebuild of N synthetic sources,
with Hugo rendering the same pages from YAML front matter in the same run (where installed).

    python bench/bench.py --sources 10000 [--sources 100000] [--rounds 3] [--no-hugo]

Every number comes from this one run, so ratios hold on a noisy shared machine. With --rounds N
the cold build and Hugo's run N times, one after the other, and the table gives the medians
and the median of the N ratios (their range beside it): on a machine shared with other jobs one
pair of runs can be off by half. Peak memory is the largest resident set of any one process (the
build's workers included), from getrusage.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import generate  # noqa: E402


class Bin:
    """Old outputs are moved here while anything is timed, and deleted at the end of the run.

    On a file system that avoids reusing an inode deleted in the last minute (ext4 without a
    journal, as on this machine), creating a file right after deleting tens of thousands costs up
    to ten times the system time: whichever build ran first after a delete was the slower one.
    A rename frees no inode."""

    def __init__(self, work: Path):
        self.folder = work / "discarded"
        self.count = 0
        if self.folder.exists():  # a run before this one's was stopped: its bin goes in this one
            before = work / f"discarded-{time.time_ns()}"
            self.folder.rename(before)
            self.discard(before)

    def discard(self, path: Path) -> None:
        if path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            self.count += 1
            path.rename(self.folder / f"{self.count}-{path.name}")

    def empty(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)




def isolated(cmd: list[str], cwd: Path = REPO) -> tuple[float, float]:
    """Run cmd in a wrapper process so its peak memory is its own, not the run's maximum so far."""
    wrapper = [sys.executable, "-c",
               "import resource,subprocess,sys,time;t=time.perf_counter();"
               "r=subprocess.run(sys.argv[1:]).returncode;d=time.perf_counter()-t;"
               "print(d, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024);sys.exit(r)", *cmd]
    done = subprocess.run(wrapper, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    seconds, mb = done.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(mb)


def bench(n: int, work: Path, hugo: bool, rounds: int, trash: Bin) -> dict:
    content = work / f"content-{n}"
    out = work / f"site-{n}"
    cache = work / f"cache-{n}"
    hugo = hugo and shutil.which("hugo") is not None
    hugo_site, hugo_out = work / f"hugo-{n}", work / f"hugo-out-{n}"
    for path in (content, out, cache, hugo_site, hugo_out):
        trash.discard(path)
    t = time.perf_counter()
    generate.write_content(content, n)
    gen_s = time.perf_counter() - t
    if hugo:
        generate.write_hugo(hugo_site, n)
    build = [sys.executable, str(REPO / "build.py"), "build", "--content", str(content), "--out", str(out),
             "--cache", str(cache)]
    row: dict = {"n": n, "generate_s": gen_s}
    colds, hugos = [], []
    hugo_build = ["hugo", "--quiet", "-s", str(hugo_site), "-d", str(hugo_out)]
    for round_ in range(rounds):  # one after the other, so both meet the same load on the machine
        for path in (out, cache, hugo_out):
            trash.discard(path)
        if hugo and round_ % 2:  # each goes first in every other round
            hugos.append(isolated(hugo_build))
        colds.append(isolated(build))
        if hugo and not round_ % 2:
            hugos.append(isolated(hugo_build))
    row["cold_s"], row["cold_mb"] = statistics.median(s for s, _ in colds), max(mb for _, mb in colds)
    row["cold_runs"] = [round(s, 2) for s, _ in colds]
    pages = sum(1 for _ in out.rglob("*.html"))
    row["pages"] = pages
    row["pages_per_s"] = pages / row["cold_s"]
    if hugo:
        row["hugo_s"], row["hugo_mb"] = statistics.median(s for s, _ in hugos), max(mb for _, mb in hugos)
        row["hugo_runs"] = [round(s, 2) for s, _ in hugos]
        ratios = [c / h for (c, _), (h, _) in zip(colds, hugos)]
        row["ratio"], row["ratio_range"] = statistics.median(ratios), (min(ratios), max(ratios))
        trash.discard(hugo_site)
        trash.discard(hugo_out)
    row["nochange_s"], row["nochange_mb"] = isolated(build)
    edited = content / "sources" / f"bench-{n // 2:06d}.yaml"
    edited.write_text(edited.read_text(encoding="utf-8").replace("Synthetic source", "Edited source"), encoding="utf-8")
    row["edit_s"], row["edit_mb"] = isolated(build)
    # An edit that changes the dashboard: a renamed source changes its row on the index and a
    # filter page, and its line of sources.json, so those are made, scanned and written again.
    renamed = content / "sources" / f"bench-{n // 3:06d}.yaml"
    renamed.write_text(re.sub(r"(?m)^name: ", "name: Renamed ", renamed.read_text(encoding="utf-8"), count=1),
                       encoding="utf-8")
    row["rename_s"], row["rename_mb"] = isolated(build)
    # The same two kinds of edit, timed inside one warm process (what `serve` does on every save).
    warm = [sys.executable, str(HERE / "warm_rebuild.py"), str(content), str(work / f"site-{n}-warm")]
    done = subprocess.run(warm, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"warm rebuild failed\n{done.stderr[-2000:]}")
    row["warm_edit_s"], row["warm_rename_s"] = (float(x) for x in done.stdout.split("\n")[-2].split())
    trash.discard(work / f"site-{n}-warm")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, action="append", help="N (repeatable); default 1000 and 10000")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--no-hugo", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="cold builds (and Hugo runs) per size; medians reported")
    parser.add_argument("--keep", action="store_true", help="keep the generated content and output")
    args = parser.parse_args()
    sizes = args.sources or [1000, 10000]
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    rows = []
    trash = Bin(args.work)
    try:
        for n in sizes:
            row = bench(n, args.work, not args.no_hugo, max(1, args.rounds), trash)
            rows.append(row)
            print(row, flush=True)
    finally:
        if not args.keep:
            for n in sizes:
                for name in (f"content-{n}", f"site-{n}", f"cache-{n}"):
                    trash.discard(args.work / name)
        trash.empty()
    print()
    print("| sources | pages | cold build | pages/s | peak MB (cold / rebuilds) | no-change rebuild | "
          "one edit: CLI / warm | one rename: CLI / warm | Hugo cold | Hugo MB | cold vs Hugo (range) | warm edit vs Hugo |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        hugo = f"{r['hugo_s']:.2f} s | {r['hugo_mb']:.0f}" if "hugo_s" in r else "– | –"
        low, high = r.get("ratio_range", (0, 0))
        spread = f" ({low:.2f}–{high:.2f})" if low != high else ""
        ratios = (f"{r['ratio']:.2f}×{spread} | {r['warm_edit_s'] / r['hugo_s'] * 100:.1f} %"
                  if "hugo_s" in r else "– | –")
        rebuilds = max(r["nochange_mb"], r["edit_mb"], r["rename_mb"])
        print(f"| {r['n']} | {r['pages']} | {r['cold_s']:.2f} s | {r['pages_per_s']:.0f} | "
              f"{r['cold_mb']:.0f} / {rebuilds:.0f} | {r['nochange_s']:.2f} s | "
              f"{r['edit_s']:.2f} s / {r['warm_edit_s'] * 1000:.0f} ms | "
              f"{r['rename_s']:.2f} s / {r['warm_rename_s'] * 1000:.0f} ms | {hugo} | {ratios} |")


if __name__ == "__main__":
    main()
