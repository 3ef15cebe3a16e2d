"""Benchmark: cold build, no-change rebuild and rebuilds after one edit of each kind (a context
line, a name, a status, a ref; a source deleted, one added) of N synthetic sources, with Hugo
rendering the same pages from YAML front matter in the same run (where installed).

    python bench/bench.py --sources 10000 [--sources 100000] [--rounds 3] [--no-hugo] [--hugo-pages minimal]

Hugo's pages (--hugo-pages): "full", the default (bench/hugo/full), the same files as our build
from each source's front matter and the catalog and site.yaml as Hugo data: the authorized
profile's health pages with the sync-history chart, history pages, badges, the dashboard and its
status and platform filter pages, sources.json, 404.html and the assets. "minimal"
(bench/hugo/minimal), the old layouts: a 3 KB page of four plain sections per source, of every
profile, and one list.

Every number comes from this one run, so ratios hold on a noisy shared machine. All content is
generated first; then each of --rounds N rounds runs every size's cold build and Hugo's, one
after the other, and the table gives the medians and the median of the N ratios (their range
beside it): on a machine shared with other jobs one pair of runs can be off by half. Each size's
cold time is also compared with the next size's of the same round ("100000 sources in 9.5x the
time of 10000"), minutes apart rather than the length of a whole size's benchmark. Peak memory
is the largest resident set of any one process (the build's workers included), from getrusage.
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


class Size:
    """One N's content, outputs and commands."""

    def __init__(self, n: int, work: Path, hugo: bool, trash: Bin, hugo_pages: str = "full"):
        self.n, self.work, self.trash, self.hugo_pages = n, work, trash, hugo_pages
        self.content, self.out, self.cache = work / f"content-{n}", work / f"site-{n}", work / f"cache-{n}"
        self.hugo = hugo and shutil.which("hugo") is not None
        self.hugo_site, self.hugo_out = work / f"hugo-{n}", work / f"hugo-out-{n}"
        self.build = [sys.executable, str(REPO / "build.py"), "build", "--content", str(self.content),
                      "--out", str(self.out), "--cache", str(self.cache)]
        self.hugo_build = ["hugo", "--quiet", "-s", str(self.hugo_site), "-d", str(self.hugo_out)]
        self.colds: list[tuple[float, float]] = []
        self.hugos: list[tuple[float, float]] = []
        self.row: dict = {"n": n}

    def generate(self) -> None:
        for path in (self.content, self.out, self.cache, self.hugo_site, self.hugo_out):
            self.trash.discard(path)
        t = time.perf_counter()
        generate.write_content(self.content, self.n)
        self.row["generate_s"] = time.perf_counter() - t
        if self.hugo:
            generate.write_hugo(self.hugo_site, self.n, pages=self.hugo_pages, content=self.content)

    def cold_round(self, round_: int) -> None:
        """A cold build and Hugo's, one after the other: both meet the same load on the machine."""
        for path in (self.out, self.cache, self.hugo_out):
            self.trash.discard(path)
        if self.hugo and round_ % 2:  # each goes first in every other round
            self.hugos.append(isolated(self.hugo_build))
        self.colds.append(isolated(self.build))
        if self.hugo and not round_ % 2:
            self.hugos.append(isolated(self.hugo_build))

    def rebuilds(self) -> None:
        row, content = self.row, self.content
        row["cold_s"], row["cold_mb"] = statistics.median(s for s, _ in self.colds), max(mb for _, mb in self.colds)
        row["cold_runs"] = [round(s, 2) for s, _ in self.colds]
        row["pages"] = sum(1 for _ in self.out.rglob("*.html"))
        row["pages_per_s"] = row["pages"] / row["cold_s"]
        if self.hugo:
            row["hugo_s"], row["hugo_mb"] = statistics.median(s for s, _ in self.hugos), max(mb for _, mb in self.hugos)
            row["hugo_runs"] = [round(s, 2) for s, _ in self.hugos]
            ratios = [c / h for (c, _), (h, _) in zip(self.colds, self.hugos)]
            row["ratio"], row["ratio_range"] = statistics.median(ratios), (min(ratios), max(ratios))
            self.trash.discard(self.hugo_site)
            self.trash.discard(self.hugo_out)
        row["nochange_s"], row["nochange_mb"] = isolated(self.build)
        # One edit of each kind (generate.EDITS), each to a source of its own, then a source
        # deleted and one added (its refs and names are new canaries), each rebuilt from the
        # command line.
        mbs = [row["nochange_mb"]]
        for k, (kind, edit) in enumerate(generate.EDITS.items()):
            edited = generate.shown_file(content, self.n * (k + 1) // 9)
            edited.write_text(edit(edited.read_text(encoding="utf-8")), encoding="utf-8")
            row[f"{kind}_s"], mb = isolated(self.build)
            mbs.append(mb)
        generate.shown_file(content, self.n * 7 // 9).unlink()
        row["delete_s"], mb = isolated(self.build)
        mbs.append(mb)
        added = generate.shown_file(content, self.n)  # a number after every source's
        added.write_text(generate.dump(generate.source(int(added.stem.split("-")[1]))), encoding="utf-8")
        row["add_s"], mb = isolated(self.build)
        row["rebuild_mb"] = max(mbs + [mb])
        # The same kinds of edit, timed inside one warm process (what `serve` does on every save).
        warm = [sys.executable, str(HERE / "warm_rebuild.py"), str(content), str(self.work / f"site-{self.n}-warm")]
        done = subprocess.run(warm, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"warm rebuild failed\n{done.stderr[-2000:]}")
        for kind, seconds in zip(generate.EDITS, done.stdout.split("\n")[-2].split()):
            row[f"warm_{kind}_s"] = float(seconds)
        self.trash.discard(self.work / f"site-{self.n}-warm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, action="append", help="N (repeatable); default 1000 and 10000")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--no-hugo", action="store_true")
    parser.add_argument("--rounds", type=int, default=1,
                        help="cold builds (and Hugo runs) per size, each round over every size; medians reported")
    parser.add_argument("--hugo-pages", choices=generate.HUGO_PAGES, default="full",
                        help="Hugo's layouts: full (the same pages as ours, the default) or minimal (the old 3 KB page)")
    parser.add_argument("--keep", action="store_true", help="keep the generated content and output")
    args = parser.parse_args()
    # Python's bytecode cache on, as a user's Python has it: this machine sets
    # PYTHONDONTWRITEBYTECODE=1, which compiles healthsite's modules from source at every start
    # (0.1-0.2 s of each command-line rebuild).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sizes = args.sources or [1000, 10000]
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}"
          + ("" if args.no_hugo else f", Hugo pages: {args.hugo_pages}"), flush=True)
    trash = Bin(args.work)
    runs = [Size(n, args.work, not args.no_hugo, trash, args.hugo_pages) for n in sizes]
    try:
        for size in runs:  # all content first, so that the sizes' cold builds run close together
            size.generate()
        for round_ in range(max(1, args.rounds)):
            for size in runs:
                size.cold_round(round_)
        for size in runs:
            size.rebuilds()
            print(size.row, flush=True)
    finally:
        if not args.keep:
            for n in sizes:
                for name in (f"content-{n}", f"site-{n}", f"cache-{n}"):
                    trash.discard(args.work / name)
        trash.empty()
    rows = [size.row for size in runs]
    print()
    print("| sources | pages | cold build | pages/s | peak MB (cold / rebuilds) | Hugo cold | Hugo MB | cold vs Hugo (range) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        hugo = f"{r['hugo_s']:.2f} s | {r['hugo_mb']:.0f}" if "hugo_s" in r else "– | –"
        low, high = r.get("ratio_range", (0, 0))
        spread = f" ({low:.2f}–{high:.2f})" if low != high else ""
        ratio = f"{r['ratio']:.2f}×{spread}" if "hugo_s" in r else "–"
        print(f"| {r['n']} | {r['pages']} | {r['cold_s']:.2f} s | {r['pages_per_s']:.0f} | "
              f"{r['cold_mb']:.0f} / {r['rebuild_mb']:.0f} | {hugo} | {ratio} |")
    print()
    kinds = list(generate.EDITS) + ["delete", "add"]
    print("| sources | no-change rebuild | " + " | ".join(f"{kind}: CLI / warm" if kind in generate.EDITS else kind
                                                       for kind in kinds) + " | slowest vs Hugo: CLI / warm |")
    print("| ---: | ---: | " + " | ".join("---:" for _ in kinds) + " | ---: |")
    for r in rows:
        cells = [f"{r[f'{kind}_s']:.2f} s" + (f" / {r[f'warm_{kind}_s'] * 1000:.0f} ms" if kind in generate.EDITS else "")
                 for kind in kinds]
        slowest = max(r[f"{kind}_s"] for kind in kinds)
        warm_slowest = max(r[f"warm_{kind}_s"] for kind in generate.EDITS)
        versus = (f"{slowest / r['hugo_s'] * 100:.1f} % / {warm_slowest / r['hugo_s'] * 100:.1f} %"
                  if "hugo_s" in r else "–")
        print(f"| {r['n']} | {r['nochange_s']:.2f} s | " + " | ".join(cells) + f" | {versus} |")
    print()
    for small, big in zip(runs, runs[1:]):  # each round's two cold builds ran one after the other
        ours = [b / a for (a, _), (b, _) in zip(small.colds, big.colds)]
        line = (f"{big.n} sources in {statistics.median(ours):.2f}x the time of {small.n} "
                f"(rounds: {', '.join(f'{x:.2f}' for x in ours)})")
        if small.hugo:
            theirs = [b / a for (a, _), (b, _) in zip(small.hugos, big.hugos)]
            line += f"; Hugo {statistics.median(theirs):.2f}x"
        print(line)


if __name__ == "__main__":
    main()
