"""The source of truth: JSON documents on disk, enumerated, read, written atomically, locked."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import tempfile
import time
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout

from shadow_audit.errors import ShadowAuditError, SourceError, UsageError
from shadow_audit.mapping import DocumentMap, DocumentSpec
from shadow_audit.profiles import REFERENCE
from shadow_audit.stores.files import SafeReader, read_document
from shadow_audit.validation import parse_json

log = logging.getLogger(__name__)
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")  # whole name: fullmatch


def check_safe_name(name: str, what: str) -> str:
    """Return ``name`` when it is safe as one folder component.

    Safe: letters, digits, ``.``, ``_``, ``-``; no separators, no ``..``, no leading dot.

    Args:
        name: the name to check.
        what: what the name is, for the message (``"workspace"``).

    Returns:
        ``name`` unchanged.

    Raises:
        UsageError: the name is not safe.
    """
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise UsageError(f"{what} {name!r} is not a safe name (letters, digits, '.', '_', '-')")
    return name


def dump_document(document: Any) -> bytes:
    """Return a document as the store writes it: JSON indented by two, with a final newline.

    Args:
        document: any JSON-ready value.

    Returns:
        The bytes to write.
    """
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def no_wider_than(source: Path | str) -> int:
    """Return permission bits for files derived from ``source`` (reports, history).

    They are never wider than the source's own (and the umask's), and never executable.

    Args:
        source: the source folder (or file).

    Returns:
        The mode bits, such as ``0o640``.
    """
    umask = os.umask(0)
    os.umask(umask)
    return Path(source).stat().st_mode & 0o666 & ~umask


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk, so a rename or a new file in it survives a crash.

    Args:
        path: the folder.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new bytes, never a mix.

    Temporary file in the same folder, flush + fsync, ``os.replace``, fsync the folder.

    Args:
        path: the file to write.
        data: its new bytes.
        mode: the permission bits; by default an existing file's are kept and a new
            file gets the umask's.
    """
    folder = path.parent
    if mode is None and path.exists():
        mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def locate(folder: str | Path, spec: DocumentSpec) -> list[str]:
    """Return the places in a unit's folder where a companion document exists.

    Args:
        folder: the unit's folder.
        spec: the companion's description.

    Returns:
        The paths that exist, the place it is written first; more than one is a
        problem its caller reports.
    """
    found = []
    for location in spec.locations:
        path = os.path.join(folder, location)
        if os.path.lexists(path):
            found.append(path)
    return found


@dataclass(frozen=True)
class SourceUnit:
    """One primary document and the folder its companions live in."""

    name: str
    primary: Path

    @property
    def folder(self) -> Path:
        """The unit's folder: the one holding its primary document."""
        return self.primary.parent


class JsonStore:
    """JSON documents under ``root`` laid out as ``mapping`` describes."""

    def __init__(self, root: Path | str, mapping: DocumentMap = REFERENCE) -> None:
        self.root = Path(root)
        self.mapping = mapping
        self._units_by_key: dict[str, str] = {}
        self._seen: set[str] = set()

    def units(self) -> list[SourceUnit]:
        """Return every primary document, sorted by path.

        Returns:
            One unit per primary document under the root.

        Raises:
            SourceError: the root is not a readable folder.
        """
        if not self.root.is_dir():
            raise SourceError(f"source folder {self.root}: not a readable folder")
        stem = self.mapping.primary.pattern
        head, _, rest = stem.partition("/")
        try:
            if head == "*" and rest and not any(c in rest for c in "*?["):
                names = _folders_holding(self.root, rest)
                return [SourceUnit(name=n, primary=self.root.joinpath(n, rest)) for n in names]
            paths = sorted(self.root.glob(stem))
        except OSError as exc:
            raise SourceError(f"source folder {self.root}: {exc.strerror}") from exc
        return [SourceUnit(name=_unit_name(p, self.root, stem), primary=p) for p in paths]

    def known(self, folders: Iterable[str]) -> None:
        """Note unit folders whose keys the caller has read already: ``unit_of`` does not
        read them again (it looks for a key among the other folders).

        Args:
            folders: unit folder names.
        """
        self._seen.update(folders)

    def unit_of(self, key: str) -> str:
        """The folder name of the unit whose primary document has ``key``.

        The reference system names folders its own way (``agency_toolkit`` holding the
        project ``agency-toolkit-001``), so a save or a load by key must find that folder,
        not make a second one. A folder named ``key`` is taken as it is; otherwise every
        folder not seen before is read once into an index (a store object reads each
        primary document at most once), and a hit is checked against its file.

        Args:
            key: the document key.

        Returns:
            The existing unit's folder name, or ``key`` for a unit not written yet.
        """
        try:
            if self.path_for(key, self.mapping.primary.name).is_file():
                return key
        except UsageError:  # not a folder name: only an existing unit can hold it
            pass
        unit = self._units_by_key.get(key)
        if unit is not None and self._holds_key(unit, key):
            return unit
        if not self.root.is_dir():  # the first save makes the store
            return key
        for name, primary in self._unseen_units():
            held = self._key_in(primary)
            self._seen.add(name)
            if held is not None:
                self._units_by_key[held] = name
        return self._units_by_key.get(key, key)

    def _unseen_units(self) -> list[tuple[str, Path]]:
        """Units not indexed yet; one directory listing where the layout is ``*/<file>``."""
        pattern = self.mapping.primary.pattern
        head, _, rest = pattern.partition("/")
        if head != "*" or any(c in rest for c in "*?["):
            return [(u.name, u.primary) for u in self.units() if u.name not in self._seen]
        return [(n, self.root / n / rest) for n in _folders_holding(self.root, rest, self._seen)]

    def _holds_key(self, unit: str, key: str) -> bool:
        return self._key_in(self.path_for(unit, self.mapping.primary.name)) == key

    def _key_in(self, primary: Path) -> str | None:
        try:
            found = self.mapping.primary.key_of(self.read(primary))
        except (ShadowAuditError, OSError):
            return None
        return found if isinstance(found, str) else None

    def path_for(self, unit: str, document: str) -> Path:
        """Where document ``document`` of unit ``unit`` lives: for a companion, the first
        place it exists, else the place it is written (for the built-in profile the
        memory's ``.vibe/project_memory.json``, where the reference system writes it).

        Args:
            unit: the unit's folder name.
            document: a document name of the mapping.

        Returns:
            The file's path (it may not exist yet).

        Raises:
            UsageError: an unsafe unit name, or a document the mapping does not have.
        """
        check_safe_name(unit, "workspace")
        pattern = self.mapping.primary.pattern
        primary = self.root / pattern.replace("*", unit, 1)
        if document == self.mapping.primary.name:
            return primary
        for companion in self.mapping.companions:
            if companion.name == document:
                found = locate(primary.parent, companion)
                return Path(found[0]) if found else primary.parent / companion.pattern
        raise UsageError(f"mapping {self.mapping.name} has no document {document!r}")

    def read(self, path: Path, *, reader: SafeReader | None = None) -> Any:
        """Read and parse one document of this store.

        Args:
            path: the document's file (inside the store's root).
            reader: a safe reader kept for many reads (default: one for this read).

        Returns:
            The parsed document.

        Raises:
            SourceError: the file cannot be read, breaks the file policy, or is not JSON.
        """
        try:
            data = reader.read(path) if reader else read_document(path, root=self.root)
        except OSError as exc:
            raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        return parse_json(data, str(path))

    def write(self, path: Path, document: Any) -> None:
        """Write a document atomically; creates the unit's folder when new.

        Args:
            path: the document's file (see ``path_for``).
            document: the document to write.

        Raises:
            OSError: the write failed (nothing partial is left at ``path``).
        """
        folder = path.parent
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            fsync_dir(folder.parent)
        atomic_write(path, dump_document(document))

    @contextlib.contextmanager
    def lock(self, unit: str, *, timeout: float = 30.0) -> Iterator[None]:
        """Hold the unit's lock, across processes, around both writes of a save.

        Args:
            unit: the unit's folder name.
            timeout: seconds to wait for the lock.

        Yields:
            Nothing; the lock is held until the block ends.

        Raises:
            UsageError: an unsafe unit name.
            filelock.Timeout: another process held the lock for ``timeout`` seconds.
        """
        lock = acquire_unit_lock(self.path_for(unit, self.mapping.primary.name), timeout=timeout)
        try:
            yield
        finally:
            lock.release()

    def only_lock_left(self, unit: str) -> bool:
        """Return whether the unit's folder is absent or holds nothing but its lock file.

        Args:
            unit: the unit's folder name.

        Returns:
            True when no folder is there or only the lock file is in it.
        """
        primary = self.path_for(unit, self.mapping.primary.name)
        try:
            return os.listdir(primary.parent) == [lock_path(primary).name]
        except FileNotFoundError:
            return True

    def drop_lock_folder(self, unit: str) -> bool:
        """Remove the unit's folder when it holds nothing but its lock file.

        Call it holding that lock, as the last thing done under it: the lock file goes
        first, then the folder (``rmdir``: never a folder something was put in meanwhile).
        A writer waiting for the lock finds its file unlinked and locks anew, making the
        folder again (``acquire_unit_lock``).

        Args:
            unit: the unit's folder name.

        Returns:
            True when the folder was removed.
        """
        primary = self.path_for(unit, self.mapping.primary.name)
        lock = lock_path(primary)
        try:
            if os.listdir(primary.parent) != [lock.name]:
                return False
            lock.unlink()
            primary.parent.rmdir()
        except OSError:
            return False
        return True


def acquire_unit_lock(primary: Path, *, timeout: float, poll_interval: float = 0.05) -> FileLock:
    """Take the lock of the unit whose primary document is ``primary``, making its folder.

    A folder removed while waiting (``JsonStore.drop_lock_folder``) is made again and the
    lock taken anew, within the same ``timeout``.

    Args:
        primary: the unit's primary document.
        timeout: seconds to wait for the lock.
        poll_interval: seconds between attempts.

    Returns:
        The held lock; release it.

    Raises:
        filelock.Timeout: another process held the lock for ``timeout`` seconds.
        OSError: the folder or the lock file cannot be made.
    """
    deadline = time.monotonic() + timeout
    while True:
        primary.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path(primary)), timeout=max(0.0, deadline - time.monotonic()))
        try:
            lock.acquire(poll_interval=poll_interval)
        except FileNotFoundError:
            if time.monotonic() >= deadline:
                raise Timeout(str(lock_path(primary))) from None
            continue  # its folder was removed meanwhile: make it again
        return lock


def lock_path(primary: Path) -> Path:
    """Return the file that the lock of the unit whose primary document is ``primary`` uses.

    Args:
        primary: the unit's primary document.

    Returns:
        A hidden file beside it.
    """
    return primary.parent / f".{primary.name}.lock"


def _folders_holding(root: Path, file: str, skip: Container[str] = ()) -> list[str]:
    """The folders of ``root`` (hidden ones and links to folders included) that hold
    ``file``, sorted: what ``root.glob("*/" + file)`` matches, with one listing and one
    stat per folder; names in ``skip`` are not looked at."""
    names = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name in skip:
                continue
            try:
                if entry.is_dir():
                    names.append(entry.name)
            except OSError:  # cannot be looked at: not a folder to the glob either
                continue
    top = str(root)
    return [n for n in sorted(names) if _exists(os.path.join(top, n, file))]


def _exists(path: str) -> bool:
    """``Path.exists`` as the glob asks it: absent for a missing name, a non-folder on the
    way or a symlink loop; any other error (a folder that cannot be entered) is raised."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            return False
        raise
    return True


def _unit_name(path: Path, root: Path, pattern: str) -> str:
    rel = path.relative_to(root).as_posix()
    prefix, _, suffix = pattern.partition("*")
    if rel.startswith(prefix) and rel.endswith(suffix) and len(rel) >= len(prefix) + len(suffix):
        return rel[len(prefix) : len(rel) - len(suffix)]
    return rel
