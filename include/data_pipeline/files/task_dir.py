"""Task directories: safe paths inside the data directory, file listings, statistics.

Ids are validated, user-supplied relative paths are checked component by component, and no symlink
is ever followed, so nothing outside ``<data dir>/<task_id>/`` can be read, written or removed.
``task_path`` / ``resolve_file`` give checked paths to the pipeline's own code; whatever a user asks
for (downloads, uploads, listings, restores) is opened through directory descriptors instead
(``files.descriptors``), which a symlink swapped in after the check cannot redirect.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from data_pipeline import config
from data_pipeline.errors import NotFound, UnsafePath
from data_pipeline.tasks.ids import validate_task_id

STATE_DIR = ".state"
TABLE_LIST_FILE = "table_list.txt"
TASK_LOG_FILE = "data_pipeline.log"
TASK_CONFIG_FILE = "task_config.json"
MAX_PATH_LENGTH = 1024
MAX_COMPONENT_LENGTH = 255
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")



FILE_TYPES = {
    ".ddl": "ddl", ".md": "md", ".json": "json", ".log": "log", ".txt": "txt", ".csv": "csv",
    ".sql": "sql", ".backup": "backup",
}


@dataclass(frozen=True)
class FileInfo:
    name: str
    path: str  # relative to the task directory, POSIX separators
    size: int
    file_type: str
    modified_at: datetime
    is_dir: bool = False


def data_dir(create: bool = True) -> Path:
    root = config.data_dir()
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root


def task_path(task_id: str, *, create: bool = False, must_exist: bool = False) -> Path:
    """``<data dir>/<task_id>`` for a valid id; never a symlink, always inside the data directory."""
    validate_task_id(task_id)
    root = data_dir(create=create)
    path = root / task_id
    if os.path.islink(path):
        raise UnsafePath(f"task directory {task_id} is a symbolic link; refusing to use it")
    if create:
        path.mkdir(exist_ok=True)
    elif must_exist and not path.is_dir():
        raise NotFound(f"task directory does not exist: {task_id}", task_id=task_id)
    return path


def check_relative_path(relative: str) -> PurePosixPath:
    """Validate a user-supplied path relative to a task directory; return it normalised.

    Rejected: empty, absolute (``/x``, ``C:\\x``, ``\\\\server``), backslashes, NUL and control
    characters, ``.``/``..`` components, hidden components (the state folder), percent-escapes
    (double-encoding tricks), Unicode forms that normalise differently, overlong paths.
    """
    if not isinstance(relative, str) or relative == "":
        raise UnsafePath("file path is empty")
    shown = relative if relative.isprintable() else repr(relative)
    if len(relative) > MAX_PATH_LENGTH:
        raise UnsafePath(f"file path is too long ({len(relative)} characters, at most {MAX_PATH_LENGTH})")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in relative):
        raise UnsafePath(f"file path {shown!r} contains control characters")
    if "\\" in relative:
        raise UnsafePath(f"file path {shown!r} contains a backslash; use '/' between folders")
    if relative.startswith("/") or re.match(r"^[A-Za-z]:", relative):
        raise UnsafePath(f"file path {shown!r} is absolute; give a path relative to the task directory")
    if _PERCENT_ESCAPE.search(relative):
        raise UnsafePath(f"file path {shown!r} contains percent-encoded characters")
    if unicodedata.normalize("NFKC", relative) != relative:
        raise UnsafePath(f"file path {shown!r} contains characters that normalise to other characters")
    parts = relative.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePath(f"file path {shown!r} has an empty, '.' or '..' component")
        if part.startswith("."):
            raise UnsafePath(f"file path {shown!r} names a hidden file or folder")
        if len(part.encode()) > MAX_COMPONENT_LENGTH:
            raise UnsafePath(f"file path {shown!r} has a component longer than {MAX_COMPONENT_LENGTH} bytes")
    return PurePosixPath(*parts)


def _walk_no_symlinks(base: Path, rel: PurePosixPath, *, leaf_may_be_missing: bool) -> Path:
    """Join ``rel`` onto ``base`` checking with lstat that no component is a symlink."""
    current = base
    for index, part in enumerate(rel.parts):
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if leaf_may_be_missing:
                return base.joinpath(*rel.parts)
            raise NotFound(f"file not found: {rel}") from None
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(f"file path {rel} goes through a symbolic link; refusing to follow it")
        if index < len(rel.parts) - 1 and not stat.S_ISDIR(st.st_mode):
            raise NotFound(f"file not found: {rel}")
    return current


def resolve_file(task_id: str, relative: str, *, must_exist: bool = True) -> Path:
    """Absolute path of ``relative`` inside the task directory, after every safety check."""
    base = task_path(task_id, must_exist=True)
    rel = check_relative_path(relative)
    path = _walk_no_symlinks(base, rel, leaf_may_be_missing=not must_exist)
    # Belt and braces: the lexical result must still be inside the task directory.
    if not os.path.abspath(path).startswith(os.path.abspath(base) + os.sep):
        raise UnsafePath(f"file path {relative!r} leaves the task directory")
    if must_exist and not path.is_file():
        raise NotFound(f"not a file: {rel}")
    return path


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> bool:
    """Write ``data`` to ``path`` via a temp file and rename; a no-op when the content is identical.

    Returns whether the file changed. The destination is never a symlink (rename replaces the link
    itself, not its target). ``durable=False`` skips fsync: still atomic against a killed process,
    which is what per-item state and outputs verified by recorded hashes need, at a fraction of the cost.
    Plain ``os`` calls, no ``mkstemp``/``fdopen``/``fchmod``: a step writes thousands of small files and
    each of those layers costs a system call per file.
    """
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_size == len(data):
            with open(path, "rb") as handle:
                if handle.read() == data:
                    return False
    except OSError:
        pass  # missing or unreadable: written below
    fd, tmp = _create_temp(path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
_temp_counter = itertools.count()


def _create_temp(path: Path) -> tuple[int, str]:
    """An exclusive ``.<name>.<pid>.<n><random>.tmp`` next to ``path``; its folder is created when missing.

    Mode 0666 minus the umask, like any new file: outputs are shared with other workers and users.
    """
    name = path.name.encode()[:180].decode(errors="ignore")  # the temp name must stay under 255 bytes
    stem = f"{path.parent}{os.sep}.{name}.{os.getpid()}."
    made_parent = False
    for _ in range(100):
        tmp = f"{stem}{next(_temp_counter)}{secrets.token_hex(3)}.tmp"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue  # left by a killed process that had the same pid: take the next name
        except FileNotFoundError:
            if made_parent:
                raise
            path.parent.mkdir(parents=True, exist_ok=True)
            made_parent = True
    raise FileExistsError(f"could not create a temporary file next to {path}")


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> bool:
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def file_type_of(name: str) -> str:
    return FILE_TYPES.get(Path(name).suffix.lower(), "other")


def iter_files(base: Path, *, recursive: bool = True, include_hidden: bool = False) -> Iterator[FileInfo]:
    """Regular files under ``base`` (symlinks are listed by nobody and followed by nobody)."""
    stack = [base]
    while stack:
        current = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        for entry in entries:
            if not include_hidden and entry.name.startswith("."):
                continue
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    stack.append(Path(entry.path))
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            rel = Path(entry.path).relative_to(base).as_posix()
            yield FileInfo(
                name=entry.name,
                path=rel,
                size=st.st_size,
                file_type=file_type_of(entry.name),
                modified_at=datetime.fromtimestamp(st.st_mtime, tz=UTC),
            )


def list_files(task_id: str, *, recursive: bool = True) -> list[FileInfo]:
    base = task_path(task_id, must_exist=True)
    return sorted(iter_files(base, recursive=recursive), key=lambda f: f.path)


@dataclass(frozen=True)
class DirectoryStats:
    file_count: int
    total_bytes: int
    dir_count: int

    @property
    def human_size(self) -> str:
        return human_size(self.total_bytes)


def directory_stats(path: Path) -> DirectoryStats:
    """Count files and bytes below ``path`` without following symlinks (links count as files)."""
    files = dirs = size = 0
    if not path.exists():
        return DirectoryStats(0, 0, 0)
    for root, dirnames, filenames in os.walk(path, followlinks=False):
        links = [d for d in dirnames if os.path.islink(os.path.join(root, d))]
        dirs += len(dirnames) - len(links)
        for name in [*filenames, *links]:  # a link to a directory is one entry, never its contents
            files += 1
            with contextlib.suppress(FileNotFoundError):
                size += os.lstat(os.path.join(root, name)).st_size
    return DirectoryStats(file_count=files, total_bytes=size, dir_count=dirs)


def human_size(num_bytes: int) -> str:
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def state_dir(task_dir: Path) -> Path:
    """The hidden folder holding resumable per-item state (never listed or downloadable)."""
    path = task_dir / STATE_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path
