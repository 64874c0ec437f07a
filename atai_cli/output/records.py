"""Key/value views on a terminal (`lens show`, `session status`, `session create`).

The rules (contract v3, "Terminal views"): an id stays whole on one line whenever the terminal
can hold it, so the key column gives way before an id is folded (the id moves closer to its key,
then onto the line below it); other long values (URLs, sentences) wrap at word breaks under
their column. Nested values are YAML: a YAML line too long for the width wraps with a hanging
indent (its own indentation + 2), so the structure still reads. Off a terminal none of this
applies: records are `key<TAB>value` lines (`Output.record`).
"""

from __future__ import annotations

import re
from typing import Sequence

from rich.cells import cell_len

GAP = 2  # columns between a key and its value
NARROW = 30  # a value column narrower than this puts YAML under its key instead
ID_VALUE = re.compile(r"[a-z]{2,5}-[A-Za-z0-9][A-Za-z0-9_.:-]*")


def is_id(key: str, value: str) -> bool:
    """A value that must not be folded: one word under an `*_id` key, or shaped like an id."""
    if not value or any(ch.isspace() for ch in value):
        return False
    return key == "id" or key.endswith("_id") or bool(ID_VALUE.fullmatch(value))


def wrap(text: str, width: int, hang: int = 0) -> list[str]:
    """`text` in lines of at most `width` cells, broken at spaces (a word longer than a line is
    broken after a `/` when it has one, else folded); continuation lines start with `hang`
    spaces. The first line keeps its own leading spaces."""
    width = max(1, width)
    hang = min(hang, max(0, width - 8))  # leave a continuation line some room
    stripped = text.lstrip(" ")
    lines: list[str] = []
    current = " " * min(len(text) - len(stripped), max(0, width - 8))  # an indent as deep as the line: less of it
    started = False  # whether `current` holds a word yet
    for word in stripped.split(" "):
        candidate = f"{current} {word}" if started else current + word
        if cell_len(candidate) <= width:
            current, started = candidate, True
            continue
        if started:
            lines.append(current)
            current = " " * hang
        while cell_len(current + word) > width:  # a word longer than the line: split it
            room = width - cell_len(current)
            cut = word.rfind("/", 0, room) + 1 or room
            lines.append(current + word[:cut])
            word, current = word[cut:], " " * hang
        current, started = current + word, True
    lines.append(current)
    return [line.rstrip() for line in lines]


def record_lines(rows: Sequence[tuple[str, str, bool]], width: int):
    """(key, text, is_block) rows as Rich Text lines for a terminal `width` wide; a block is
    YAML (several lines), the rest one-line values."""
    from rich.text import Text

    width = max(10, width)
    key_width = max((cell_len(key) for key, _, _ in rows), default=0)
    column = width - key_width - GAP  # the value column
    lines: list = []

    def key_line(key: str, value: str = "", pad: int | None = None):
        line = Text(no_wrap=True, overflow="ignore")
        line.append(key, style="bold cyan")
        if value:
            line.append(" " * (GAP if pad is None else pad - cell_len(key)) + value)
        return line

    def under(key: str, parts: list[str], indent: int):
        lines.append(key_line(key))
        lines.extend(Text(" " * indent + part, no_wrap=True, overflow="ignore") for part in parts)

    for key, value, block in rows:
        if block:
            source = value.splitlines() or [""]
            if column >= NARROW or all(cell_len(line) <= column for line in source):
                wrapped = [part for line in source for part in wrap(line, column, _indent(line) + 2)]
                lines.append(key_line(key, wrapped[0], key_width + GAP))
                lines.extend(Text(" " * (key_width + GAP) + part, no_wrap=True, overflow="ignore")
                             for part in wrapped[1:])
            else:  # too narrow beside the keys: under its key, indented by 2
                under(key, [part for line in source for part in wrap(line, width - 2, _indent(line) + 2)], 2)
            continue
        size = cell_len(value)
        if key_width + GAP + size <= width:
            lines.append(key_line(key, value, key_width + GAP))
        elif is_id(key, value):  # the key column gives way, then the line under the key
            if cell_len(key) + GAP + size <= width:
                lines.append(key_line(key, value))
            else:
                under(key, [value], max(0, min(key_width + GAP, width - size)))
        elif column >= NARROW // 2:
            parts = wrap(value, column)
            lines.append(key_line(key, parts[0], key_width + GAP))
            lines.extend(Text(" " * (key_width + GAP) + part, no_wrap=True, overflow="ignore") for part in parts[1:])
        else:
            under(key, wrap(value, width - 2), 2)
    return lines


def _indent(line: str) -> int:
    """A YAML line's own indentation."""
    return len(line) - len(line.lstrip(" "))
