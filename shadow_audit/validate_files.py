"""`shadow-audit validate` as a library call: every document file under the given paths,
checked against its JSON Schema and for duplicate keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from shadow_audit.errors import SourceError
from shadow_audit.validation import document_problems, kind_from_filename, validate_document

PATTERNS = ("*manifest.json", "*memory.json")


@dataclass(frozen=True)
class FileCheck:
    """One file and its problems (none: valid). Problems do not repeat the path."""

    path: Path
    problems: tuple[str, ...]
    fix: str | None = None  # what ``shadow-audit upgrade`` would do about them

    @property
    def valid(self) -> bool:
        """True when the file has no problem."""
        return not self.problems


def find_documents(paths: Sequence[Path | str]) -> list[Path]:
    """Return the files named, and the document files (``PATTERNS``) under the folders named.

    Args:
        paths: files and folders.

    Returns:
        The files, folders expanded in sorted order.

    Raises:
        SourceError: a path does not exist, or no document file is found at all.
    """
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted({f for pattern in PATTERNS for f in p.rglob(pattern)})
            files += [f for f in found if f.is_file()]
        elif p.exists():
            files.append(p)
        else:
            raise SourceError(f"{p}: no such file or folder")
    if not files:
        looked = ", ".join(str(p) for p in paths)
        raise SourceError(f"{looked}: no documents found (looked for {', '.join(PATTERNS)})")
    return files


def check_file(path: Path, kind: str) -> FileCheck:
    """Parse one file and check it against schema ``kind``.

    Args:
        path: the file.
        kind: ``"manifest"`` or ``"memory"``.

    Returns:
        The file with every problem: unparseable JSON (line and column), each schema
        violation with its JSON Pointer, or duplicate keys; and, for a legacy shape, the
        upgrade step that would fix it.

    Raises:
        SourceError: the file cannot be read.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return FileCheck(
            path, (f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",)
        )
    problems = [str(i) for i in validate_document(doc, kind)]
    if not problems:
        problems = document_problems(data, None) or []  # duplicate keys
    fix = None
    if problems:
        from shadow_audit.upgrade import describe_fix, unit_folder

        fix = describe_fix(doc, kind, unit=unit_folder(path))
    return FileCheck(path, tuple(problems), fix)


def validate_files(paths: Sequence[Path | str], *, kind: str | None = None) -> list[FileCheck]:
    """Check every document file under ``paths``.

    Args:
        paths: files and folders; a folder is searched for ``PATTERNS``.
        kind: the schema for every file; default: told apart by file name.

    Returns:
        One check per file, in order.

    Raises:
        SourceError: a path is missing or unreadable, or no document is found.
        UsageError: a file's kind cannot be told from its name and ``kind`` is not given.
    """
    return [check_file(p, kind or kind_from_filename(p)) for p in find_documents(paths)]
