"""atai: the command-line tool for Archetype AI lens sessions."""

__version__ = "0.1.0"


def version_line() -> str:
    """What `atai --version` prints, on both of its paths (main.py's fast path and app.py's option)."""
    return f"atai {__version__}"
