"""The library API for investigating mismatches in Jupyter: objects that render themselves.

``load_report`` and ``load_history`` give DataFrames; ``drill_key`` audits the stores as
they are now and picks a document worth a look; ``explain`` puts that document next to the
rows the shadow holds for it, rebuilt into a document, with the deepdiff. ``locate`` finds a
relative path from wherever the kernel runs (a notebook's kernel starts in its own folder).
"""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from deepdiff import DeepDiff

from shadow_audit.errors import SourceError, UsageError
from shadow_audit.mapping import DocumentMap, compile_rebuilder, iter_rows
from shadow_audit.profiles import REFERENCE
from shadow_audit.report.history import History
from shadow_audit.report.json_report import read_findings
from shadow_audit.stores.json_store import JsonStore, SourceUnit
from shadow_audit.stores.json_store import locate as companion_paths
from shadow_audit.stores.rows import UnitReader
from shadow_audit.stores.sqlite_shadow import connect_readonly


def _table(frame: pd.DataFrame, limit: int = 20) -> str:
    return frame.head(limit).to_html(border=0, escape=True)


@dataclass
class Report:
    """One report.json as DataFrames."""

    path: Path
    data: dict[str, Any]
    findings: pd.DataFrame
    summary: pd.DataFrame

    @property
    def status(self) -> str:
        """The report's status: ``"GREEN"`` or ``"RED"``."""
        return str(self.data["status"])

    @property
    def counts(self) -> dict[str, int]:
        """Finding counts by kind, as the report gives them."""
        return dict(self.data["counts"])

    def breakdown(self, *by: str) -> pd.DataFrame:
        """Return the findings counted by the given columns.

        Args:
            by: finding columns to group by (default ``kind``, ``entity``, ``field``).

        Returns:
            One row per group with a ``findings`` count, largest first.
        """
        cols = list(by) or ["kind", "entity", "field"]
        if self.findings.empty:
            return pd.DataFrame(columns=[*cols, "findings"])
        return (
            self.findings.fillna({"field": ""})
            .groupby(cols, dropna=False)
            .size()
            .rename("findings")
            .reset_index()
            .sort_values("findings", ascending=False, ignore_index=True)
        )

    def top_paths(self, n: int = 10) -> pd.DataFrame:
        """Return the document paths with the most findings.

        Args:
            n: how many.

        Returns:
            ``breakdown("entity", "path")``, its first ``n`` rows.
        """
        return self.breakdown("entity", "path").head(n)

    def ignore_candidates(self, min_count: int = 2) -> pd.DataFrame:
        """Return patterns many findings share: candidates for an ignore rule (with an expiry!).

        Args:
            min_count: the fewest findings a pattern needs.

        Returns:
            One row per (kind, entity, path) with at least ``min_count`` findings.
        """
        groups = self.breakdown("kind", "entity", "path")
        groups = groups[groups["findings"] >= min_count].reset_index(drop=True)
        groups["rule"] = [
            f'[[ignore]]\nkind = "{k}"\nentity = "{e}"\npath = "{p}"\nreason = "..."\n'
            "expires = YYYY-MM-DD"
            for k, e, p in zip(groups["kind"], groups["entity"], groups["path"], strict=True)
        ]
        return groups

    def _repr_html_(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items() if v) or "no findings"
        return (
            f"<h3>shadow-audit report: {escape(self.status)}</h3>"
            f"<p>{escape(str(self.data.get('documents', '?')))} documents; {escape(counts)}; "
            f"{escape(str(self.path))}</p>"
            + _table(self.summary)
            + (_table(self.breakdown()) if not self.findings.empty else "")
        )


def load_report(path: str | Path) -> Report:
    """Load a report.json (or the folder holding one), with every finding, as DataFrames.

    Args:
        path: the report file or its folder.

    Returns:
        The report.

    Raises:
        SourceError: the file cannot be read or is not JSON.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        data = orjson.loads(p.read_bytes())
    except OSError as exc:
        raise SourceError(f"report {p}: cannot read: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"report {p}: not JSON: {exc}") from exc
    findings = pd.DataFrame(read_findings(data, p.parent))  # all, also beyond report.json's
    if findings.empty:
        findings = pd.DataFrame(columns=["kind", "entity", "key", "field", "path"])
    summary = pd.DataFrame.from_dict(data.get("summary", {}), orient="index")
    summary.index.name = "entity"
    return Report(path=p, data=data, findings=findings, summary=summary)


@dataclass
class HistoryView:
    """Every recorded run, oldest first, with its findings by kind."""

    runs: pd.DataFrame

    def _repr_html_(self) -> str:
        green = int((self.runs["status"] == "GREEN").sum()) if not self.runs.empty else 0
        return f"<h3>{len(self.runs)} runs, {green} GREEN</h3>" + _table(self.runs.tail(20))


def load_history(path: str | Path) -> HistoryView:
    """Load every recorded run, oldest first, with its findings by kind (``n_<kind>``).

    Args:
        path: the history database.

    Returns:
        The runs as a DataFrame.
    """
    runs = History(path).runs()
    rows = [{**r.to_dict(), **{f"n_{k}": v for k, v in r.counts.items()}} for r in reversed(runs)]
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["finished_at"] = pd.to_datetime(frame["finished_at"], utc=True, format="ISO8601")
        frame = frame.drop(columns=["counts"]).fillna(0)
    return HistoryView(runs=frame)


@dataclass
class Explanation:
    """One document beside what the shadow holds for it."""

    key: str
    documents: dict[str, Any]
    expected: dict[str, pd.DataFrame]
    actual: dict[str, pd.DataFrame]
    rebuilt: dict[str, Any]
    diff: dict[str, Any] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        parts = [f"<h3>{escape(self.key)}</h3>"]
        if self.diff:
            parts.append(
                "<p><b>deepdiff (source → shadow)</b></p><pre>"
                + escape(json.dumps(self.diff, indent=2, default=str))
                + "</pre>"
            )
        else:
            parts.append("<p>The shadow rebuilds exactly this document.</p>")
        for table in self.expected:
            shadow_rows = _table(self.actual.get(table, pd.DataFrame()))
            parts.append(
                f"<h4>{escape(table)}</h4><div style='display:flex;gap:1em'>"
                f"<div><b>expected (from JSON)</b>{_table(self.expected[table])}</div>"
                f"<div><b>actual (SQLite)</b>{shadow_rows}</div></div>"
            )
        parts.append(
            "<div style='display:flex;gap:1em'><div><b>JSON</b><pre>"
            + escape(json.dumps(self.documents, indent=2, sort_keys=True))
            + "</pre></div><div><b>rebuilt from SQLite</b><pre>"
            + escape(json.dumps(self.rebuilt, indent=2, sort_keys=True))
            + "</pre></div></div>"
        )
        return "".join(parts)


def locate(path: str | Path) -> Path:
    """Return ``path`` as given when absolute; a relative path is looked up from the kernel's
    folder and then from each folder above it, so the notebook's default paths (relative to
    the repository root) work whether the kernel starts in the root or in ``notebooks/``.

    Args:
        path: a file or folder.

    Returns:
        The first existing match, or ``path`` under the current folder when none exists
        (the error that follows then names it).
    """
    p = Path(path)
    if p.is_absolute():
        return p
    here = Path.cwd()
    for base in (here, *here.parents):
        if (base / p).exists():
            return base / p
    return here / p


def drill_key(
    source: str | Path, shadow: str | Path, *, mapping: DocumentMap = REFERENCE
) -> str | None:
    """Audit the stores as they are now and return one document key worth drilling into.

    A report may describe an older state of the stores (a repair ran since), so the key is
    taken from a fresh audit of the same stores ``explain`` reads.

    Args:
        source: the JSON store's folder.
        shadow: the SQLite file.
        mapping: the map of both stores.

    Returns:
        The document key of the first value mismatch, else of the first finding; None when
        the stores agree.
    """
    from shadow_audit.config import Config
    from shadow_audit.engine.run import audit

    result = audit(source, shadow, config=Config(mapping=mapping))
    found = [f for f in result.findings if f.kind == "value_mismatch"] or list(result.findings)
    return found[0].key.split("/", 1)[0] if found else None


def _unit_for(store: JsonStore, key: str) -> SourceUnit | None:
    mapping = store.mapping
    guess = store.root / mapping.primary.pattern.replace("*", key, 1)
    units = store.units()
    for unit in sorted(units, key=lambda u: u.primary != guess):
        try:
            if mapping.primary.key_of(store.read(unit.primary)) == key:
                return unit
        except SourceError:
            continue
    return None


def explain(
    source: str | Path, shadow: str | Path, key: str, *, mapping: DocumentMap = REFERENCE
) -> Explanation:
    """One document's JSON, its expected rows, the shadow's rows, and the deepdiff.

    Args:
        source: the JSON store's folder.
        shadow: the SQLite file (opened read-only).
        key: the document key.
        mapping: the map of both stores.

    Returns:
        The explanation; it renders itself in Jupyter.

    Raises:
        UsageError: the key is in neither store.
    """
    store = JsonStore(source, mapping)
    unit = _unit_for(store, key)
    documents: dict[str, Any] = {}
    if unit is not None:
        documents[mapping.primary.name] = store.read(unit.primary)
        for spec in mapping.companions:
            found = companion_paths(unit.folder, spec)
            if found:
                documents[spec.name] = store.read(Path(found[0]))
    with closing(connect_readonly(shadow)) as conn:
        tables = UnitReader(mapping).read(conn, key)  # the read path's statements
    if unit is None and not tables:
        raise UsageError(f"key {key!r}: in neither {source} nor {shadow}")
    expected: dict[str, pd.DataFrame] = {}
    actual: dict[str, pd.DataFrame] = {}
    for e in mapping.entities:
        cols = [f.column for f in e.compared_fields]
        key_cols = [e.key_column] if e.key_column and not e.is_root else []
        doc = documents.get(e.document)
        exp = (
            [(*([k] if key_cols else []), *v) for k, v in iter_rows(e, doc, e.compared_fields)]
            if doc
            else []
        )
        expected[e.table] = pd.DataFrame(exp, columns=[*key_cols, *cols])
        names, stored = tables.get(e.table, ((), []))
        as_dicts = [dict(zip(names, row, strict=True)) for row in stored]
        act = [(*(r.get(c) for c in key_cols), *(r.get(c) for c in cols)) for r in as_dicts]
        actual[e.table] = pd.DataFrame(act, columns=[*key_cols, *cols])
    rebuilt = compile_rebuilder(mapping)(key, tables) if tables else {}
    diff = json.loads(DeepDiff(documents, rebuilt, ignore_order=True).to_json())
    return Explanation(key, documents, expected, actual, rebuilt, diff)
