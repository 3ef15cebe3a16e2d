"""Time edits rebuilt inside a warm process, as `serve` does on every save.

    python bench/warm_rebuild.py CONTENT OUT

Builds once (keeping the store in memory, as serve does), then edits one source's context line
(only its own page shows it) and rebuilds, three times on three sources, then renames a source
(its row on the dashboard and its line of sources.json change too) and rebuilds, three times.
Prints the median seconds of the edits' and of the renames' rebuilds on the last line.
"""
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthsite import engine, pipeline  # noqa: E402

content, out = (Path(arg) for arg in sys.argv[1:3])
cache = engine.MEMORY  # as serve keeps it
pipeline.build(content, out, cache_dir=cache)
files = sorted((content / "sources").glob("*.yaml"))
times: dict[str, list[float]] = {"edit": [], "rename": []}
# Three of each, on different sources; the median of each is printed.
for kind, edited, edit in [("edit", files[len(files) // 3 + i], lambda t: t.replace("(preview)", "(preview, edited)"))
                           for i in range(3)] + \
                          [("rename", files[len(files) // 4 + i], lambda t: re.sub(r"(?m)^name: ", "name: Renamed ", t, count=1))
                           for i in range(3)]:
    text = edited.read_text(encoding="utf-8")
    assert edit(text) != text
    edited.write_text(edit(text), encoding="utf-8")
    start = time.perf_counter()
    result = pipeline.build(content, out, cache_dir=cache)
    times[kind].append(time.perf_counter() - start)
    assert result.mode == "incremental", result.mode
    print(f"warm rebuild after one {kind} of {edited.name}: {result.rendered} rendered, {result.written} written "
          f"in {times[kind][-1]:.3f} s")
print(statistics.median(times["edit"]), statistics.median(times["rename"]))
