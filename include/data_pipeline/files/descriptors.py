"""Task files reached through directory descriptors, so a swapped symlink can never redirect them.

A path checked with ``lstat`` and then opened by name can change in between: a task directory
replaced by a symlink after the check would hand out a file from anywhere. Here every step is one
``openat``: the data directory is opened once, each component below it with ``O_NOFOLLOW`` (and
``O_DIRECTORY`` for folders), and the file finally read or written is the one whose descriptor was
checked with ``fstat``. A swap that happens meanwhile is seen as a missing file or a symlink
(404 or 400), never followed.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath

from data_pipeline.errors import Conflict, NotFound, UnsafePath
from data_pipeline.files.task_dir import DirectoryStats, FileInfo, check_relative_path, data_dir, file_type_of
from data_pipeline.tasks.ids import validate_task_id

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC  # NONBLOCK: a FIFO cannot hang the reader
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
_temp_counter = itertools.count()


def is_link_at(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_dir_at(parent_fd: int, name: str, *, link_message: str, missing_message: str, **details: str) -> int:
    """Descriptor of the folder ``name`` under ``parent_fd``; ``UnsafePath`` for a link, ``NotFound`` else."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        raise NotFound(missing_message, **details) from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and is_link_at(parent_fd, name):
            raise UnsafePath(link_message) from None
        raise NotFound(missing_message, **details) from None


@contextlib.contextmanager
def data_dir_fd(*, create: bool = False) -> Iterator[int]:
    """The data directory (trusted: it is configured, not user-supplied), opened once."""
    try:
        fd = os.open(data_dir(create=create), os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except FileNotFoundError:
        raise NotFound("the data directory does not exist yet") from None
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def task_dir_fd(task_id: str, *, create: bool = False) -> Iterator[int]:
    """``<data dir>/<task_id>`` opened without following a link; created first when asked."""
    validate_task_id(task_id)
    missing = f"task directory does not exist: {task_id}"
    try:
        with data_dir_fd(create=create) as root:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(task_id, 0o777, dir_fd=root)
            fd = open_dir_at(root, task_id, missing_message=missing, task_id=task_id,
                             link_message=f"task directory {task_id} is a symbolic link; refusing to use it")
    except NotFound:
        raise NotFound(missing, task_id=task_id) from None
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def parent_fd(dir_fd: int, rel: PurePosixPath) -> Iterator[int]:
    """The folder holding ``rel``'s last component, every folder on the way opened with ``O_NOFOLLOW``."""
    current = dir_fd
    try:
        for part in rel.parts[:-1]:
            opened = open_dir_at(current, part, missing_message=f"file not found: {rel}",
                                 link_message=f"file path {rel} goes through a symbolic link; refusing to follow it")
            if current != dir_fd:
                os.close(current)
            current = opened
        yield current
    finally:
        if current != dir_fd:
            os.close(current)


def open_file_at(dir_fd: int, rel: PurePosixPath) -> tuple[int, os.stat_result]:
    """A read descriptor of the regular file ``rel`` below ``dir_fd`` and its ``fstat``."""
    with parent_fd(dir_fd, rel) as folder:
        try:
            fd = os.open(rel.name, READ_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            raise NotFound(f"file not found: {rel}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePath(f"file path {rel} goes through a symbolic link; refusing to follow it") from None
            raise NotFound(f"file not found: {rel}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotFound(f"not a file: {rel}")
    os.set_blocking(fd, True)
    return fd, st


def open_task_file(task_id: str, relative: str) -> tuple[int, os.stat_result]:
    """Open a task's file for reading; the caller owns (and closes) the descriptor."""
    with task_dir_fd(task_id) as tfd:
        return open_file_at(tfd, check_relative_path(relative))


def read_file_at(dir_fd: int, name: str, limit: int | None = None) -> bytes:
    fd, _st = open_file_at(dir_fd, PurePosixPath(name))
    with os.fdopen(fd, "rb") as handle:
        return handle.read() if limit is None else handle.read(limit)


def leaf_kind(dir_fd: int, name: str) -> str | None:
    """'file', 'dir', 'link' or 'other' for an entry of ``dir_fd``, None when missing (never follows)."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def write_file_at(dir_fd: int, name: str, data: bytes) -> None:
    """Atomically put ``data`` at ``name`` in ``dir_fd``: exclusive temp file, fsync, rename over.

    A link already at ``name`` is replaced, never written through.
    """
    if leaf_kind(dir_fd, name) == "dir":
        raise Conflict(f"{name} is a folder in the task directory; choose another file name")
    base = name.encode()[:180].decode(errors="ignore")
    for _ in range(100):
        tmp = f".{base}.{os.getpid()}.{next(_temp_counter)}{secrets.token_hex(3)}.tmp"
        try:
            fd = os.open(tmp, _TEMP_FLAGS, 0o666, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"could not create a temporary file next to {name}")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def walk_at(dir_fd: int, *, recursive: bool = True, include_hidden: bool = False,
            prefix: str = "") -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(relative path, entry) for every entry below ``dir_fd``; folders are entered by descriptor only."""
    try:
        entries = sorted(os.scandir(dir_fd), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if not include_hidden and entry.name.startswith("."):
            continue
        rel = f"{prefix}{entry.name}"
        yield rel, entry
        if recursive and entry.is_dir(follow_symlinks=False):
            try:
                sub = os.open(entry.name, DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # removed or swapped for a link meanwhile: not ours to enter
            try:
                yield from walk_at(sub, recursive=True, include_hidden=include_hidden, prefix=f"{rel}/")
            finally:
                os.close(sub)


def list_files_at(dir_fd: int, *, recursive: bool = True) -> list[FileInfo]:
    """Visible regular files below ``dir_fd`` (symlinks are listed by nobody and followed by nobody)."""
    files = []
    for rel, entry in walk_at(dir_fd, recursive=recursive):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            files.append(FileInfo(name=entry.name, path=rel, size=st.st_size, file_type=file_type_of(entry.name),
                                  modified_at=datetime.fromtimestamp(st.st_mtime, tz=UTC)))
    return sorted(files, key=lambda f: f.path)


def stats_at(dir_fd: int) -> DirectoryStats:
    """Files (links count as files, never followed), bytes and folders below ``dir_fd``, hidden ones too."""
    files = dirs = size = 0
    for _rel, entry in walk_at(dir_fd, include_hidden=True):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            dirs += 1
        else:
            files += 1
            size += st.st_size
    return DirectoryStats(file_count=files, total_bytes=size, dir_count=dirs)


def pinned_path(dir_fd: int) -> str:
    """A path naming the very folder ``dir_fd`` holds, whatever its name is swapped for (Linux ``/proc``)."""
    return f"/proc/self/fd/{dir_fd}"
