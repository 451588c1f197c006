"""`shadow-audit validate` as a library call: every document file under the given paths,
checked against its JSON Schema and for duplicate keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from shadow_audit.errors import SourceError
from shadow_audit.stores.files import FilePolicy, FileRefused, SafeReader
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


def find_documents(paths: Sequence[Path | str]) -> list[tuple[Path, Path | None]]:
    """Return the files named, and the document files (``PATTERNS``) under the folders named.

    Args:
        paths: files and folders.

    Returns:
        (file, the folder it was found in; None for a file named explicitly), folders
        expanded in sorted order.

    Raises:
        SourceError: a path does not exist, or no document file is found at all.
    """
    files: list[tuple[Path, Path | None]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted({f for pattern in PATTERNS for f in p.rglob(pattern)})
            files += [(f, p) for f in found if not f.is_dir()]
        elif p.exists() or p.is_symlink():
            files.append((p, None))
        else:
            raise SourceError(f"{p}: no such file or folder")
    if not files:
        looked = ", ".join(str(p) for p in paths)
        raise SourceError(f"{looked}: no documents found (looked for {', '.join(PATTERNS)})")
    return files


def check_file(path: Path, kind: str, *, reader: SafeReader | None = None) -> FileCheck:
    """Parse one file and check it against schema ``kind``.

    Args:
        path: the file.
        kind: ``"manifest"`` or ``"memory"``.
        reader: opens the file by a file policy (regular files only, size cap, symlinks);
            default: a reader rooted at the file's folder with the default policy.

    Returns:
        The file with every problem: a file that is refused (FIFO, too large, a symlink
        out of its folder), unparseable JSON (line and column), each schema violation with
        its JSON Pointer, or duplicate keys; and, for a legacy shape, the upgrade step
        that would fix it.

    Raises:
        SourceError: the file cannot be read.
    """
    reader = reader or SafeReader(path.parent)
    try:
        data = reader.read(path)
    except FileRefused as exc:
        return FileCheck(path, (exc.reason,))
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


def validate_files(
    paths: Sequence[Path | str], *, kind: str | None = None, files: FilePolicy | None = None
) -> list[FileCheck]:
    """Check every document file under ``paths``.

    Args:
        paths: files and folders; a folder is searched for ``PATTERNS``.
        kind: the schema for every file; default: told apart by file name.
        files: which files are opened under a folder (size cap, symlinks out of it); a
            file named explicitly is the user's choice, followed even as a symlink.

    Returns:
        One check per file, in order.

    Raises:
        SourceError: a path is missing or unreadable, or no document is found.
        UsageError: a file's kind cannot be told from its name and ``kind`` is not given.
    """
    policy = files or FilePolicy()
    named = FilePolicy(policy.max_document_mb, follow_symlinks=True)
    checks = []
    for path, found_in in find_documents(paths):
        reader = SafeReader(found_in or path.parent, policy if found_in else named)
        checks.append(check_file(path, kind or kind_from_filename(path), reader=reader))
    return checks
