"""The TOML configuration: a mapping (built-in profile or your own), tolerances, ignore rules."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from shadow_audit.engine.findings import Finding
from shadow_audit.errors import ConfigError, ShadowAuditError
from shadow_audit.mapping import DocumentMap, DocumentSpec, Entity, Field
from shadow_audit.profiles import REFERENCE

PROFILES = {"reference": REFERENCE}
_FIELD_KEYS = {f.name for f in dataclasses.fields(Field)}
_ENTITY_KEYS = {f.name for f in dataclasses.fields(Entity)} - {"fields"}


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
        return f"{self.kind}:{self.entity}:{self.path}:{self.key}"

    def active(self, today: date) -> bool:
        return today <= self.expires

    def matches(self, finding: Finding) -> bool:
        return (
            fnmatchcase(finding.entity, self.entity)
            and fnmatchcase(finding.path or "", self.path)
            and fnmatchcase(finding.kind, self.kind)
            and fnmatchcase(finding.key, self.key)
        )

    def to_dict(self) -> dict[str, Any]:
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
    """Read a TOML config; every mistake is a ConfigError naming the file and the key."""
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


def _build(raw: dict[str, Any], path: Path) -> Config:
    audit = raw.get("audit", {})
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
    rules = tuple(_rule(i, r) for i, r in enumerate(raw.get("ignore", [])))
    return Config(
        mapping=mapping,
        ignore=rules,
        validate=bool(audit.get("validate", True)),
        gate=dict(raw.get("gate", {})),
        cutover=dict(raw.get("cutover", {})),
        path=path,
        settle=_settle(audit.get("settle")),
    )


def _settle(raw: Any) -> float | None:
    from shadow_audit.engine.recheck import check_settle

    return None if raw is None else check_settle(raw)


def _rule(index: int, raw: dict[str, Any]) -> IgnoreRule:
    where = f"ignore[{index}]"
    for needed in ("reason", "expires"):
        if needed not in raw:
            raise ConfigError(f"{where}: {needed} is required (every ignore rule expires)")
    expires = raw["expires"]
    if isinstance(expires, datetime):
        expires = expires.date()
    if not isinstance(expires, date):
        raise ConfigError(f"{where}.expires: {expires!r} is not a date (YYYY-MM-DD)")
    unknown = set(raw) - {"entity", "path", "kind", "key", "reason", "expires"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    return IgnoreRule(
        entity=str(raw.get("entity", "*")),
        path=str(raw.get("path", "*")),
        kind=str(raw.get("kind", "*")),
        key=str(raw.get("key", "*")),
        reason=str(raw["reason"]),
        expires=expires,
    )


def apply_tolerances(mapping: DocumentMap, raw: dict[str, Any]) -> DocumentMap:
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


def today_utc() -> date:
    return datetime.now(UTC).date()
