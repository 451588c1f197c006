"""The TOML configuration: a mapping (built-in profile or your own), tolerances, ignore rules.

This module only parses: what a rule matches is the audit's business
(``shadow_audit.engine.ignore``). Every table and key is known; a misspelled one is
a ConfigError naming it and the file, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from shadow_audit.clock import today_utc
from shadow_audit.errors import ConfigError, ShadowAuditError
from shadow_audit.mapping import DocumentMap, DocumentSpec, Entity, Field
from shadow_audit.profiles import REFERENCE

PROFILES = {"reference": REFERENCE}
_FIELD_KEYS = {f.name for f in dataclasses.fields(Field)}
_ENTITY_KEYS = {f.name for f in dataclasses.fields(Entity)} - {"fields"}
TABLES = ("audit", "source", "entity", "tolerances", "ignore", "gate", "cutover")
AUDIT_KEYS = ("profile", "validate", "settle")
SOURCE_KEYS = ("name", "primary", "companions")
RULE_KEYS = ("entity", "path", "kind", "key", "reason", "expires")
# The fields of shadow_audit.gate.GatePolicy (a test keeps the two equal; config sits below
# the gate and may not import it).
GATE_KEYS = (
    "min_green_runs",
    "min_days",
    "max_findings",
    "max_ledger_failures",
    "require_complete_coverage",
    "allow_ignore_rules",
    "max_age_hours",
    "max_unstable",
    "max_full_audit_age_hours",
)
# The fields of shadow_audit.store.CutoverPolicy, which checks their values (a test keeps the
# two equal).
CUTOVER_KEYS = ("read_sample", "min_verified_reads", "min_days_primary", "verify_lock_timeout")

__all__ = [
    "CUTOVER_KEYS",
    "GATE_KEYS",
    "PROFILES",
    "Config",
    "IgnoreRule",
    "apply_tolerances",
    "load_config",
    "today_utc",
]


@dataclass(frozen=True)
class IgnoreRule:
    """Findings matching these patterns are listed apart until ``expires`` (inclusive)."""

    entity: str
    path: str
    reason: str
    expires: date
    kind: str = "*"
    key: str = "*"

    @property
    def name(self) -> str:
        """The rule as one line: ``kind:entity:path:key``."""
        return f"{self.kind}:{self.entity}:{self.path}:{self.key}"

    def active(self, today: date) -> bool:
        """Return whether the rule still applies on ``today`` (it expires after its day).

        Args:
            today: the date of the run, UTC.

        Returns:
            True until and including ``expires``.
        """
        return today <= self.expires

    def to_dict(self) -> dict[str, Any]:
        """Return this IgnoreRule as plain data (JSON-ready)."""
        return {
            "entity": self.entity,
            "path": self.path,
            "kind": self.kind,
            "key": self.key,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
        }


@dataclass(frozen=True)
class Config:
    """Everything a config file can say; the defaults are the built-in profile, no rules."""

    mapping: DocumentMap = REFERENCE
    ignore: tuple[IgnoreRule, ...] = ()
    validate: bool = True
    gate: dict[str, Any] = dataclasses.field(default_factory=dict)
    cutover: dict[str, Any] = dataclasses.field(default_factory=dict)  # read by CutoverPolicy
    path: Path | None = None
    settle: float | None = None  # [audit] settle: seconds a difference must hold to be drift


def load_config(path: Path | str | None) -> Config:
    """Read a TOML config file.

    Args:
        path: the file; ``None`` gives the defaults (built-in profile, no rules).

    Returns:
        The parsed configuration.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or has an unknown table or key
            or a bad value; the message names the file and the table or key.
    """
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config {p}: cannot read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {p}: not valid TOML: {exc}") from exc
    try:
        return _build(raw, p)
    except ShadowAuditError as exc:
        raise ConfigError(f"config {p}: {exc}") from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"config {p}: {exc}") from exc


def _known(raw: Any, where: str, known: tuple[str, ...]) -> dict[str, Any]:
    """``raw`` as a table whose keys are all in ``known``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table, not {type(raw).__name__}")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        names = ", ".join(f"{where}.{k}" if where else f"[{k}]" for k in unknown)
        raise ConfigError(
            f"unknown {'key' if where else 'table'} {names} (known: {', '.join(known)})"
        )
    return raw


def _build(raw: dict[str, Any], path: Path) -> Config:
    _known(raw, "", TABLES)
    audit = _known(raw.get("audit", {}), "audit", AUDIT_KEYS)
    gate = _known(raw.get("gate", {}), "gate", GATE_KEYS)
    cutover = _known(raw.get("cutover", {}), "cutover", CUTOVER_KEYS)
    if "source" in raw:
        _known(raw["source"], "source", SOURCE_KEYS)
    ignore = raw.get("ignore", [])
    if not isinstance(ignore, list):
        raise ConfigError("ignore: write each rule as [[ignore]]")
    if "entity" in raw:
        mapping = _custom_mapping(raw, path.parent)
    else:
        name = audit.get("profile", "reference")
        if name not in PROFILES:
            raise ConfigError(
                f"audit.profile: unknown profile {name!r} (known: {sorted(PROFILES)})"
            )
        mapping = PROFILES[name]
    mapping = apply_tolerances(mapping, raw.get("tolerances", {}))
    rules = tuple(_rule(i, r) for i, r in enumerate(ignore))
    _check_rule_entities(rules, mapping)
    return Config(
        mapping=mapping,
        ignore=rules,
        validate=bool(audit.get("validate", True)),
        gate=dict(gate),
        cutover=dict(cutover),
        path=path,
        settle=_settle(audit.get("settle")),
    )


def _settle(raw: Any) -> float | None:
    """``[audit] settle``: seconds >= 0 (parsed here; config never imports the audit)."""
    if raw is None:
        return None
    number = isinstance(raw, int | float) and not isinstance(raw, bool)
    if not number or not math.isfinite(raw) or raw < 0:
        raise ConfigError(f"settle: {raw!r} is not a number of seconds >= 0")
    return float(raw)


def _rule(index: int, raw: dict[str, Any]) -> IgnoreRule:
    where = f"ignore[{index}]"
    _known(raw, where, RULE_KEYS)
    for needed in ("reason", "expires"):
        if needed not in raw:
            raise ConfigError(f"{where}: {needed} is required (every ignore rule expires)")
    expires = raw["expires"]
    if isinstance(expires, datetime):
        expires = expires.date()
    if not isinstance(expires, date):
        raise ConfigError(f"{where}.expires: {expires!r} is not a date (YYYY-MM-DD)")
    return IgnoreRule(
        entity=str(raw.get("entity", "*")),
        path=str(raw.get("path", "*")),
        kind=str(raw.get("kind", "*")),
        key=str(raw.get("key", "*")),
        reason=str(raw["reason"]),
        expires=expires,
    )


def _check_rule_entities(rules: tuple[IgnoreRule, ...], mapping: DocumentMap) -> None:
    """A rule's entity names a table or a document kind of the map (or is a pattern that
    matches one): a misspelled entity would silently ignore nothing."""
    names = [e.table for e in mapping.entities] + [d.name for d in mapping.documents()]
    for index, rule in enumerate(rules):
        if not any(fnmatchcase(name, rule.entity) for name in names):
            raise ConfigError(
                f"ignore[{index}].entity: {rule.entity!r} names no table or document "
                f"(known: {', '.join(names)})"
            )


def apply_tolerances(mapping: DocumentMap, raw: dict[str, Any]) -> DocumentMap:
    """Return ``mapping`` with the float tolerances of a ``[tolerances]`` table applied.

    Args:
        mapping: the map to change.
        raw: ``{"table.column": {"abs": x, "rel": y}}``.

    Returns:
        A new map; ``mapping`` itself when ``raw`` is empty.

    Raises:
        ConfigError: a table, column or tolerance key is unknown.
    """
    if not raw:
        return mapping
    changes: dict[str, dict[str, dict[str, Any]]] = {}
    for target, tol in raw.items():
        table, _, column = target.partition(".")
        entity = mapping.entity(table)
        if column not in {f.column for f in entity.fields}:
            raise ConfigError(f"tolerances.{target}: table {table} has no column {column!r}")
        if not isinstance(tol, dict) or set(tol) - {"abs", "rel"}:
            raise ConfigError(f"tolerances.{target}: give {{abs = ..., rel = ...}}")
        changes.setdefault(table, {})[column] = {f"{k}_tol": float(v) for k, v in tol.items()}
    entities = []
    for e in mapping.entities:
        fields = tuple(
            dataclasses.replace(f, **changes[e.table][f.column])
            if e.table in changes and f.column in changes[e.table]
            else f
            for f in e.fields
        )
        entities.append(dataclasses.replace(e, fields=fields))
    return DocumentMap(
        name=mapping.name,
        primary=mapping.primary,
        companions=mapping.companions,
        entities=tuple(entities),
    )


def _custom_mapping(raw: dict[str, Any], base: Path) -> DocumentMap:
    source = raw.get("source")
    if not isinstance(source, dict) or "primary" not in source:
        raise ConfigError("source.primary is required with [[entity]] tables")
    primary = _document(source["primary"], base, "source.primary")
    companions = tuple(
        _document(c, base, f"source.companions[{i}]")
        for i, c in enumerate(source.get("companions", []))
    )
    entities = []
    for i, e in enumerate(raw["entity"]):
        where = f"entity[{i}]"
        unknown = set(e) - _ENTITY_KEYS - {"fields"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        fields = []
        for j, f in enumerate(e.get("fields", [])):
            bad = set(f) - _FIELD_KEYS
            if bad:
                raise ConfigError(f"{where}.fields[{j}]: unknown keys {sorted(bad)}")
            opts = dict(f)
            if "paths" in opts:
                opts["paths"] = tuple(sorted(opts["paths"].items()))
            if "choices" in opts:
                opts["choices"] = tuple(opts["choices"])
            fields.append(Field(**opts))
        entities.append(
            Entity(**{k: v for k, v in e.items() if k != "fields"}, fields=tuple(fields))
        )
    return DocumentMap(
        name=str(source.get("name", "custom")),
        primary=primary,
        companions=companions,
        entities=tuple(entities),
    )


def _document(raw: dict[str, Any], base: Path, where: str) -> DocumentSpec:
    unknown = set(raw) - {"name", "pattern", "schema", "key", "also"}
    if unknown or "name" not in raw or "pattern" not in raw:
        raise ConfigError(f"{where}: needs name and pattern (optional schema, key, also)")
    schema = raw.get("schema")
    if schema is not None and schema not in ("manifest", "memory"):
        schema = str((base / schema).resolve())
    return DocumentSpec(
        name=raw["name"],
        pattern=raw["pattern"],
        schema=schema,
        key_path=raw.get("key"),
        also=tuple(raw.get("also", ())),
    )
