"""Write docs/reference.md from the app's own --help: `python scripts/gen_docs.py`.

tests/test_docs_and_completions.py regenerates it and fails when the committed file differs, so the
reference never drifts from the code.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "reference.md"


def command_paths(app, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for info in app.registered_commands:
        if not info.hidden:
            paths.append(prefix + (info.name or info.callback.__name__,))
    for group in app.registered_groups:
        name = group.name or group.typer_instance.info.name
        paths.append(prefix + (name,))
        paths.extend(command_paths(group.typer_instance, prefix + (name,)))
    return paths


def render() -> str:
    os.environ.update(COLUMNS="100", TERM="dumb", NO_COLOR="1")
    os.environ.pop("FORCE_COLOR", None)
    import io

    from atai_cli.app import full_app
    from atai_cli.environment import Environment
    from atai_cli.main import main as atai

    sections = ["# atai command reference", "",
                "Generated from the app's own help by `python scripts/gen_docs.py`; do not edit by hand.", ""]
    for path in [()] + sorted(command_paths(full_app())):
        stdout = io.StringIO()
        atai([*path, "--help"], Environment(stdin=io.StringIO(), stdout=stdout, stderr=io.StringIO(), environ=dict(os.environ)))
        text = "\n".join(line.rstrip() for line in stdout.getvalue().strip("\n").splitlines())
        sections += [f"## {' '.join(('atai',) + path)}", "", "```text", text, "```", ""]
    return "\n".join(sections)


def main() -> None:
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
