"""The upgrade as text for a person: per document a unified diff, the values set and
dropped (with reasons), refusals; one summary line. Pure: the CLI prints it."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import orjson

from shadow_audit.text import visible
from shadow_audit.upgrade.plan import PlannedDocument, UpgradeReport


def _json_lines(document: Any) -> list[str]:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode().splitlines()


def _value(value: Any) -> str:
    return orjson.dumps(value).decode()


def _set_and_dropped(doc: PlannedDocument) -> list[str]:
    lines = []
    for note in doc.upgrade.notes("set", "dropped"):
        where = note.target if note.action == "set" else note.source
        lines.append(f"  {note.action} {where} = {_value(note.value)}: {note.detail}")
    return lines


def _documents(n: int) -> str:
    return f"{n} document" + ("" if n == 1 else "s")


def render_document(doc: PlannedDocument, source: Path) -> list[str]:
    """The lines for one document that would change (or did): steps, values set and
    dropped with their reasons, then the unified diff of the JSON.

    Args:
        doc: a planned document.
        source: the source folder, which the shown paths are relative to.

    Returns:
        The lines, with control characters made visible.
    """
    rel = doc.path.relative_to(source).as_posix()
    lines = [f"{rel}: {', '.join(doc.upgrade.steps)}", *_set_and_dropped(doc)]
    lines += difflib.unified_diff(
        _json_lines(doc.upgrade.before),
        _json_lines(doc.upgrade.after),
        fromfile=f"{rel} (as found)",
        tofile=f"{rel} (upgraded)",
        lineterm="",
        n=2,
    )
    return [visible(line) for line in lines]


def render_upgrade(report: UpgradeReport) -> list[str]:
    """Every line ``shadow-audit upgrade`` prints, in order.

    Args:
        report: from ``upgrade``.

    Returns:
        Lines without newlines; text from documents made visible.
    """
    plan, outcome = report.plan, report.outcome
    source = plan.source
    if outcome is None:
        lines = [f"upgrade (dry run) of {source}: nothing is written; --execute writes"]
    else:
        lines = [f"upgrade of {source} through the dual writer (shadow {report.shadow})"]
    if plan.timezone is not None:
        lines.append(f"assumed timezone for naive timestamps: {plan.timezone} (--assume-timezone)")
    held = dict(outcome.held_back) if outcome else {}
    for doc in plan.to_write:
        if doc.path not in held:
            lines += render_document(doc, source)
    for doc in plan.refused:
        lines.append(f"refused {doc.path.relative_to(source).as_posix()} (left as it is):")
        lines += [f"  {reason}" for reason in doc.upgrade.refusals]
        if doc.upgrade.steps:
            lines.append(f"  steps that apply: {', '.join(doc.upgrade.steps)}")
            lines += [f"  would {line.strip()}" for line in _set_and_dropped(doc)]
    for path, reason in held.items():
        lines.append(f"held back {path.relative_to(source).as_posix()} (left as it is): {reason}")
    if outcome is not None and outcome.before_images is not None:
        lines.append(f"before-images: {outcome.before_images}")
    if outcome is not None:
        lines += [
            f"shadow write failed (in the failure ledger): {f}" for f in outcome.shadow_failures
        ]
    verb = "to upgrade" if outcome is None else "upgraded"
    count = len(plan.to_write) - len(held) if outcome else len(plan.to_write)
    refused = len(plan.refused) + len(held)
    lines.append(
        f"{_documents(len(plan.documents))}: {count} {verb}, {len(plan.current)} current, "
        f"{refused} refused"
    )
    return [visible(line) for line in lines]
