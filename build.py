"""Thin launcher: `python build.py build|check|serve|new`. The logic lives in healthsite/."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from healthsite.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
