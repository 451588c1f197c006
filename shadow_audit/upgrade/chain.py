"""The chain: every step of a document's kind in order, the law checked, the result
validated. ``describe_fix`` is what ``validate`` says about a legacy document."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from shadow_audit.upgrade.leaves import unaccounted_leaves
from shadow_audit.upgrade.memory_steps import MEMORY_STEPS
from shadow_audit.upgrade.model import AssumedTimezone, Note, Step, StepContext
from shadow_audit.upgrade.steps import MANIFEST_STEPS
from shadow_audit.validation import ValidationIssue, validate_document

STEPS: tuple[Step, ...] = (*MANIFEST_STEPS, *MEMORY_STEPS)


@dataclass(frozen=True)
class AppliedStep:
    """A step that changed the document or had something to say about it."""

    step: str
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class DocumentUpgrade:
    """One document before and after the chain, what each step did, and why it is
    refused (empty when it is not)."""

    kind: str
    before: Any
    after: Any
    applied: tuple[AppliedStep, ...]
    refusals: tuple[str, ...]

    @property
    def refused(self) -> bool:
        """Whether a step refused the document (it is then left as found)."""
        return bool(self.refusals)

    @property
    def changed(self) -> bool:
        """Whether the upgrade changes the document (never when refused)."""
        return not self.refused and self.before != self.after

    @property
    def steps(self) -> tuple[str, ...]:
        """The steps applied to the document, in order."""
        return tuple(a.step for a in self.applied)

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready data: status, steps, every note, refusals."""
        status = "refused" if self.refused else "upgraded" if self.changed else "current"
        return {
            "kind": self.kind,
            "status": status,
            "steps": list(self.steps),
            "notes": [
                {
                    "step": a.step,
                    "action": n.action,
                    "source": n.source,
                    "target": n.target,
                    "detail": n.detail,
                    "value": n.value,
                }
                for a in self.applied
                for n in a.notes
            ],
            "refusals": list(self.refusals),
        }

    def notes(self, *actions: str) -> list[Note]:
        """The notes of every step, in order; only these actions when given.

        Args:
            actions: keep only notes of these actions (``"moved"``, ``"set"``, ...).

        Returns:
            The notes.
        """
        return [n for a in self.applied for n in a.notes if not actions or n.action in actions]


def upgrade_document(
    document: Any, kind: str, *, context: StepContext | None = None
) -> DocumentUpgrade:
    """Run every step of ``kind`` over ``document``; nothing on disk is touched.

    The result is refused when a step cannot bring a value forward, when the upgraded
    document still fails its schema, or when a leaf of the legacy document would be
    neither kept nor listed as dropped (the law: a step that breaks it is a bug, and the
    document is left alone rather than lose the value).

    Args:
        document: the parsed document, as found.
        kind: "manifest" or "memory".
        context: the unit's folder name and the assumed zone for naive timestamps.

    Returns:
        The document before and after, the steps that applied, and any refusal reasons.
    """
    context = context or StepContext()
    if not isinstance(document, dict):
        return DocumentUpgrade(kind, document, document, (), ("/: not a JSON object",))
    doc = document
    applied: list[AppliedStep] = []
    refusals: list[str] = []
    for step in STEPS:
        if step.kind != kind:
            continue
        new, notes = step.apply(doc, context)
        if notes or new != doc:
            applied.append(AppliedStep(step.id, tuple(notes)))
        refusals += [f"{n.source}: {n.detail} ({step.id})" for n in notes if n.action == "refused"]
        doc = new
    named = {r.split(": ", 1)[0] for r in refusals}
    for issue in validate_document(doc, kind):
        if (issue.pointer or "/") not in named:
            refusals.append(f"{issue}: {_advice(issue)}")
    lost = unaccounted_leaves(document, doc, [a.notes for a in applied])
    refusals += [f"{p}: the upgrade would lose this value" for p in lost]
    return DocumentUpgrade(kind, document, doc, tuple(applied), tuple(refusals))


def _advice(issue: ValidationIssue) -> str:
    """What to do by hand about a violation no step mends, by the rule it breaks."""
    rule = issue.schema_path.rsplit("/", 1)[-1]
    if rule == "required":
        return "nothing in the document can supply it; add it by hand"
    if rule == "additionalProperties":
        return "no upgrade step knows this key: remove it by hand (or map it: a custom schema)"
    return "no upgrade step mends it; fix the value by hand"


def unit_folder(path: Path) -> str:
    """The name of a document's unit folder (a memory may sit in the unit's ``.vibe/``).

    Args:
        path: a document's file.

    Returns:
        The unit's folder name.
    """
    folder = path.resolve().parent
    return folder.parent.name if folder.name == ".vibe" else folder.name


def describe_fix(document: Any, kind: str, *, unit: str = "") -> str | None:
    """What ``upgrade`` would do for an invalid document, in one line; None when no step
    applies.

    Args:
        document: the parsed document.
        kind: "manifest" or "memory".
        unit: the folder name of the document's unit (a memory's inferred project_id).

    Returns:
        E.g. ``fixed by upgrade step null-substate@1 (shadow-audit upgrade --source DIR)``.
    """
    plain = upgrade_document(document, kind, context=StepContext(unit=unit))
    if not plain.applied:
        return None
    needs_zone = any("--assume-timezone" in r for r in plain.refusals)
    result = plain
    if needs_zone:
        probe = StepContext(unit=unit, timezone=AssumedTimezone("UTC", UTC))
        result = upgrade_document(document, kind, context=probe)
    names = ", ".join(result.steps)
    option = " --assume-timezone TZ" if needs_zone else ""
    if not result.refused:
        return f"fixed by upgrade step(s) {names} (shadow-audit upgrade --source DIR{option})"
    return (
        f"upgrade step(s) {names} apply{option and ' (with' + option + ')'}, "
        f"but it stays invalid: {result.refusals[0]}"
        + (f" (+{len(result.refusals) - 1} more)" if len(result.refusals) > 1 else "")
    )
