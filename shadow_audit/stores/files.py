"""Opening a source document safely: regular files only, up to a size cap, inside the folder.

A FIFO would block the reader forever (and with it the audit's ``--out`` lock), a
device or a huge file would exhaust memory, and a symlink out of the source folder
would put another file's contents (a secret, say) into every report. The one helper
here refuses each of them with a reason naming the path, without blocking:
``O_NONBLOCK`` for the open, ``fstat`` on the descriptor for the checks (no race
between a check and the read), ``O_NOFOLLOW`` unless following is asked for.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from shadow_audit.errors import SourceError

DEFAULT_MAX_DOCUMENT_MB = 64.0
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


@dataclass(frozen=True)
class FilePolicy:
    """What the source walk may open: ``max_document_mb`` per file; symlinks leaving the
    source folder only with ``follow_symlinks``."""

    max_document_mb: float = DEFAULT_MAX_DOCUMENT_MB
    follow_symlinks: bool = False

    @property
    def max_bytes(self) -> int:
        """The largest document size allowed, in bytes."""
        return int(self.max_document_mb * 1024 * 1024)


class FileRefused(SourceError):
    """A source file that is not read: not a regular file, too large, or a symlink out."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class SafeReader:
    """Reads the documents under ``root`` by ``policy``; remembers which folders it checked."""

    def __init__(self, root: Path | str, policy: FilePolicy | None = None) -> None:
        self.root = os.path.normpath(str(root))
        self.real_root = os.path.realpath(self.root)
        self.policy = policy or FilePolicy()
        self._cap = self.policy.max_bytes
        follow = self.policy.follow_symlinks
        self._flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
        self._folders: dict[str, str | None] = {}

    def read(self, path: Path | str) -> bytes:
        """The bytes of one document.

        Args:
            path: a file under ``root``.

        Returns:
            Its contents.

        Raises:
            FileRefused: not a regular file, over the cap, or a symlink (of the file or a
                folder on its way) that leaves the source folder.
            FileNotFoundError: it does not exist (an optional document may be absent).
            OSError: it cannot be read.
        """
        name = str(path)
        follow = self.policy.follow_symlinks
        if not follow:
            problem = self._folder_problem(os.path.dirname(os.path.normpath(name)))
            if problem:
                raise FileRefused(name, problem)
        flags = self._flags
        try:
            fd = os.open(name, flags)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a socket (or a FIFO nobody writes) cannot be opened
                kind = _KINDS.get(stat.S_IFMT(os.stat(name).st_mode), "not a regular file")
                raise FileRefused(name, f"is {kind}, not a regular file; not read") from exc
            if exc.errno != errno.ELOOP or follow:
                raise
            self._check_link(name)
            fd = os.open(name, flags & ~os.O_NOFOLLOW)
        try:
            return self._read_fd(fd, name)
        finally:
            os.close(fd)

    def _read_fd(self, fd: int, name: str) -> bytes:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise FileRefused(name, f"is {kind}, not a regular file; not read")
        cap = self._cap
        if st.st_size > cap:
            raise FileRefused(name, self._too_big(st.st_size))
        data = os.read(fd, st.st_size + 1)
        if len(data) == st.st_size:  # all of it, as fstat saw it: no second read for the end
            return data
        chunks = [data]
        size = len(data)
        if size > cap:  # grew while read
            raise FileRefused(name, self._too_big(size))
        while chunk := os.read(fd, max(st.st_size + 1 - size, 65536)):
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:  # grew while read
                raise FileRefused(name, self._too_big(size))
        return b"".join(chunks)

    def _too_big(self, size: int) -> str:
        return (
            f"is {size:,} bytes, over the cap of {self.policy.max_document_mb:g} MB "
            "(--max-document-mb); not read"
        )

    def _inside(self, target: str) -> bool:
        return target == self.real_root or target.startswith(self.real_root + os.sep)

    def _check_link(self, name: str) -> None:
        target = os.path.realpath(name)
        if not self._inside(target):
            raise FileRefused(name, _leaves(target))

    def _folder_problem(self, folder: str) -> str | None:
        """Why a folder on the way down from ``root`` may not be entered (a symlink out)."""
        if folder in self._folders:
            return self._folders[folder]
        problem: str | None = None
        if len(folder) > len(self.root) and folder.startswith(self.root):
            problem = self._folder_problem(os.path.dirname(folder))
            if problem is None and os.path.islink(folder):
                target = os.path.realpath(folder)
                if not self._inside(target):
                    problem = f"its folder {folder} " + _leaves(target)
        self._folders[folder] = problem
        return problem


def _leaves(target: str) -> str:
    return (
        f"is a symlink to {target}, outside the source folder; not followed "
        "(--follow-symlinks to follow it)"
    )


def read_document(path: Path | str, *, root: Path | str | None = None) -> bytes:
    """One document read by the default policy, inside ``root`` (default: its own folder).

    Args:
        path: the file.
        root: the source folder it must stay in.

    Returns:
        Its bytes.

    Raises:
        FileRefused: see ``SafeReader.read``.
        OSError: it cannot be read.
    """
    return SafeReader(root if root is not None else os.path.dirname(str(path)) or ".").read(path)
