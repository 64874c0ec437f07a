"""Write completions/ from the app itself: `python scripts/gen_completions.py` (CI checks them).

The scripts call back into atai (`_ATAI_COMPLETE=complete_<shell> atai`), so they only work
while the app keeps Typer's completion support.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = {"bash": "atai.bash", "zsh": "_atai", "fish": "atai.fish"}


def generate(shell: str) -> str:
    env = {**os.environ, "_ATAI_COMPLETE": f"source_{shell}"}
    return subprocess.run([sys.executable, "-m", "atai_cli"], env=env, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def main() -> None:
    for shell, name in FILES.items():
        (ROOT / "completions" / name).write_text(generate(shell))
        print(f"wrote completions/{name}")


if __name__ == "__main__":
    main()
