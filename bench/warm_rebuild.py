"""Time one edit rebuilt inside a warm process, as `serve` does on every save.

    python bench/warm_rebuild.py CONTENT OUT

Builds once (taking the cache), edits one source, rebuilds, and prints the rebuild's seconds.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthsite import engine, pipeline  # noqa: E402

content, out = (Path(arg) for arg in sys.argv[1:3])
cache = engine.MEMORY  # as serve keeps it
pipeline.build(content, out, cache_dir=cache)
files = sorted((content / "sources").glob("*.yaml"))
edited = files[len(files) // 3]
edited.write_text(edited.read_text(encoding="utf-8").replace("(preview)", "(preview, edited)"), encoding="utf-8")
start = time.perf_counter()
result = pipeline.build(content, out, cache_dir=cache)
seconds = time.perf_counter() - start
assert result.mode == "incremental", result.mode
print(f"warm one-edit rebuild: {result.rendered} rendered, {result.written} written in {seconds:.3f}")
print(seconds)
