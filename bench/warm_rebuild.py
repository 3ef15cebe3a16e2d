"""Time edits rebuilt inside a warm process, as `serve` does on every save.

    python bench/warm_rebuild.py CONTENT OUT

Builds once (keeping the store in memory, as serve does), then edits one source's context line
(only its own page shows it) and rebuilds, then renames another source (its row on the
dashboard and its line of sources.json change too) and rebuilds. Prints the two rebuilds'
seconds on the last line.
"""
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthsite import engine, pipeline  # noqa: E402

content, out = (Path(arg) for arg in sys.argv[1:3])
cache = engine.MEMORY  # as serve keeps it
pipeline.build(content, out, cache_dir=cache)
files = sorted((content / "sources").glob("*.yaml"))
times = []
for edited, edit in ((files[len(files) // 3], lambda t: t.replace("(preview)", "(preview, edited)")),
                     (files[len(files) // 4], lambda t: re.sub(r"(?m)^name: ", "name: Renamed ", t, count=1))):
    text = edited.read_text(encoding="utf-8")
    assert edit(text) != text
    edited.write_text(edit(text), encoding="utf-8")
    start = time.perf_counter()
    result = pipeline.build(content, out, cache_dir=cache)
    times.append(time.perf_counter() - start)
    assert result.mode == "incremental", result.mode
    print(f"warm rebuild after one edit of {edited.name}: {result.rendered} rendered, {result.written} written "
          f"in {times[-1]:.3f} s")
print(*times)
