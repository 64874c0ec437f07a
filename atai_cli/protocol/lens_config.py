"""What `atai lens modify` means: a deep merge of the changes into the lens's lens_config.

A changes document is either {"lens_config": {...}} (optionally with "lens_name"), or the
sections themselves: model_pipeline, model_parameters, input_streams, output_streams and
csv_configs merge into lens_config, lens_name renames the lens, and any other key is a model
parameter (so `{focus: forklifts}` sets model_parameters.focus, as the SDK's modify does).
Objects merge key by key at every depth; lists and plain values replace what was there.
"""

from __future__ import annotations

import copy
from typing import Any

SECTIONS = frozenset({"model_pipeline", "model_parameters", "input_streams", "output_streams", "csv_configs"})
READ_ONLY = frozenset({"lens_id", "lens_status", "lens_modifiable"})


def normalise_changes(document: dict) -> tuple[str | None, dict]:
    """(new name or None, changes to merge into lens_config)."""
    document = dict(document)
    name = document.pop("lens_name", None)
    for key in READ_ONLY:
        document.pop(key, None)
    if isinstance(document.get("lens_config"), dict):
        inner = dict(document.pop("lens_config"))
        name = inner.pop("lens_name", name)
        document = {**document, **inner}
    changes: dict[str, Any] = {}
    for key, value in document.items():
        if key in SECTIONS:
            changes[key] = value
        else:
            changes.setdefault("model_parameters", {})[key] = value
    return (str(name) if name is not None else None), changes


def deep_merge(base: Any, changes: Any) -> Any:
    if isinstance(base, dict) and isinstance(changes, dict):
        merged = copy.deepcopy(base)
        for key, value in changes.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(changes)


def differences(before: Any, after: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, old, new) for every leaf that changed; lists compare whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in list(before) + [k for k in after if k not in before]:
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in after:
                found.append((path, before[key], None))
            elif key not in before:
                found.append((path, None, after[key]))
            else:
                found.extend(differences(before[key], after[key], path))
        return found
    return [] if before == after else [(prefix, before, after)]
