"""The world a command runs in: its streams, environment variables and terminals.

main(argv, env) takes one of these, so tests can run atai in-process with their own stdin,
stdout, stderr, variables and TTY answers (the way httpie's main(args, env) works).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, TextIO


def isatty(stream: object) -> bool:
    """Whether a stream is a terminal; a closed stream or a stand-in without isatty is not."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


@dataclass
class Environment:
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = isatty(self.stderr)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.environ.get(name, default)

    @property
    def config_dir(self) -> Path:
        base = self.environ.get("XDG_CONFIG_HOME") or str(Path(self.environ.get("HOME") or Path.home()) / ".config")
        return Path(base) / "atai"

    @property
    def config_path(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def interactive(self) -> bool:
        """A person can answer a question: stdin and stderr are both terminals."""
        return bool(self.stdin_isatty and self.stderr_isatty)
