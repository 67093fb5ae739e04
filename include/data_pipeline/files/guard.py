"""Changes to a task directory and its deletion, serialised on the task's row.

Writers (uploads, the table list, a restore) run inside ``while_not_running``, which holds the row
``FOR NO KEY UPDATE``; a deletion holds the same lock while it removes the directory and marks the
row. So a write either finishes before the deletion (and is deleted with the directory) or sees
``directory_exists = false`` and is refused: the row and the disk never disagree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from data_pipeline.errors import Conflict
from data_pipeline.files.descriptors import task_dir_fd
from data_pipeline.tasks.records import TaskRecord


class DirectoryDeleted(Conflict):
    error_code = "DIRECTORY_DELETED"


@contextlib.contextmanager
def writable_task_dir(task: TaskRecord) -> Iterator[int]:
    """The task directory's descriptor (created if the task never had one); 409 once it was deleted.

    ``task`` must have been read under the row lock (``while_not_running``).
    """
    if not task.directory_exists:
        raise DirectoryDeleted(
            f"directory deleted; task {task.id} takes no files until it runs again (which recreates its "
            "directory), or create a new task", task_id=task.id)
    with task_dir_fd(task.id, create=True) as fd:
        yield fd
