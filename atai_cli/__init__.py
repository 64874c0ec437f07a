"""atai: the command-line tool for Archetype AI lens sessions."""

__version__ = "0.1.0"
