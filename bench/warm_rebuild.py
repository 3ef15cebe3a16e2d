"""Time edits rebuilt inside a warm process, as `serve` does on every save.

    python bench/warm_rebuild.py CONTENT OUT

Builds once (keeping the store in memory, as serve does), then makes each kind of edit of
generate.EDITS (a context line, a name, a status, a ref) to one source and rebuilds, three times
on three sources. Prints the median seconds of each kind's rebuilds on the last line.
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402
from healthsite import engine, pipeline  # noqa: E402

content, out = (Path(arg) for arg in sys.argv[1:3])
cache = engine.MEMORY  # as serve keeps it
pipeline.build(content, out, cache_dir=cache)
count = len(list((content / "sources").glob("*.yaml")))
times: dict[str, list[float]] = {kind: [] for kind in generate.EDITS}
# Three of each kind, on different sources; the median of each is printed.
for k, (kind, edit) in enumerate(generate.EDITS.items()):
    for i in range(3):
        edited = generate.shown_file(content, count * (k + 2) // (len(generate.EDITS) + 3) + 2 * i)
        text = edited.read_text(encoding="utf-8")
        assert edit(text) != text
        edited.write_text(edit(text), encoding="utf-8")
        start = time.perf_counter()
        result = pipeline.build(content, out, cache_dir=cache)
        times[kind].append(time.perf_counter() - start)
        assert result.mode != "cold", (kind, edited.name)  # a new ref may change no page: "unchanged"
        print(f"warm rebuild after one {kind} of {edited.name}: {result.rendered} rendered, {result.written} written "
              f"in {times[kind][-1]:.3f} s")
print(*(statistics.median(times[kind]) for kind in generate.EDITS))
