"""Task files: list, download (subfolders allowed), upload with backup|replace|skip."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import StreamingResponse

from data_pipeline import config
from data_pipeline.api.answers import FileUploaded, TaskFiles
from data_pipeline.api.deps import ERRORS, ReaderDep, StoreDep, TaskIdPath, WriterDep, load_task
from data_pipeline.errors import InvalidInput, NotFound, TooLarge, UnsafePath
from data_pipeline.files.backup import backup_file
from data_pipeline.files.descriptors import (
    leaf_kind,
    list_files_at,
    open_task_file,
    stats_at,
    task_dir_fd,
    write_file_at,
)
from data_pipeline.files.guard import writable_task_dir
from data_pipeline.files.task_dir import TABLE_LIST_FILE, check_relative_path
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.runs import while_not_running
from platform_api.envelope import Envelope, ok

CHUNK = 256 * 1024
FILE_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The file"}}

router = APIRouter(tags=["files"], responses=ERRORS)


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes; ``TooLarge`` past ``limit`` (the middleware usually stops it earlier)."""
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{upload.filename or 'file'} is larger than the limit of {limit} bytes")
    return data


@router.get("/tasks/{task_id}/files", response_model=Envelope[TaskFiles],
            summary="Files of a task, with sizes and types")
def files(task_id: TaskIdPath, user: ReaderDep, store: StoreDep) -> Any:
    task = load_task(store, task_id)
    try:
        with task_dir_fd(task_id) as directory:
            items = list_files_at(directory)
            stats = stats_at(directory)
    except NotFound:
        return ok({"task_id": task_id, "directory_exists": False, "files": [], "file_count": 0, "total_bytes": 0})
    return ok({
        "task_id": task_id, "directory_exists": task.directory_exists,
        "files": [{"file_name": f.name, "file_path": f.path, "file_size": f.size, "file_type": f.file_type,
                   "modified_at": f.modified_at, "can_download": True} for f in items],
        "file_count": len(items), "total_bytes": sum(f.size for f in items), "total_size": stats.human_size,
    })


def _download(task_id: TaskIdPath, path: str, store: TaskStore) -> StreamingResponse:
    """Stream the file whose descriptor was opened and checked: nothing is looked up by name twice."""
    load_task(store, task_id)
    fd, st = open_task_file(task_id, path)
    limit = config.limits().max_download_bytes
    if st.st_size > limit:
        os.close(fd)
        raise TooLarge(f"{path} is {st.st_size} bytes; downloads are limited to {limit} bytes")
    handle = os.fdopen(fd, "rb")

    def chunks() -> Any:
        with handle:
            remaining = st.st_size  # the length announced; a file growing meanwhile is cut there
            while remaining > 0 and (block := handle.read(min(CHUNK, remaining))):
                remaining -= len(block)
                yield block

    name = path.rsplit("/", 1)[-1]
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
               "Content-Length": str(st.st_size), "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)


@router.get("/tasks/{task_id}/files/download/{file_name}", summary="Download a top-level file",
            response_class=StreamingResponse, responses=FILE_ANSWER)
def download_named(task_id: TaskIdPath, file_name: str, user: ReaderDep, store: StoreDep) -> StreamingResponse:
    return _download(task_id, file_name, store)


@router.get("/tasks/{task_id}/files/{file_path:path}", summary="Download a file (subfolders allowed)",
            response_class=StreamingResponse, responses=FILE_ANSWER)
def download(task_id: TaskIdPath, file_path: str, user: ReaderDep, store: StoreDep) -> StreamingResponse:
    return _download(task_id, file_path, store)


UPLOAD_DESCRIPTION = """Upload one file (a name, not a path) into the task directory.

`overwrite_mode` says what happens to an existing file of that name: `backup` moves it into a new
`file_bak_*` folder first, `replace` overwrites it, `skip` keeps it. A symbolic link is never written
through (400).

**A task whose directory was deleted** (`DELETE /tasks/{task_id}`, `directory_exists: false`) takes
no uploads: the answer is 409 `DIRECTORY_DELETED`, and the directory is not recreated, so the row's
`directory_exists` and the disk always agree. Running the task again recreates its directory. An
upload racing a deletion is either done before the deletion (and deleted with the directory) or
refused with 409 (404 once the task's records are deleted too).
"""


@router.post("/tasks/{task_id}/files", response_model=Envelope[FileUploaded],
             summary="Upload a file into the task directory", description=UPLOAD_DESCRIPTION,
             openapi_extra={"requestBody": {"required": True}})
def upload(task_id: TaskIdPath, user: WriterDep, store: StoreDep, file: Annotated[UploadFile, File()],
           overwrite_mode: Annotated[Literal["backup", "replace", "skip"], Form()] = "backup") -> Any:
    load_task(store, task_id)
    name = file.filename or ""
    rel = check_relative_path(name)
    if len(rel.parts) != 1:
        raise UnsafePath("upload a file name, not a path: folders are not accepted")
    if name == TABLE_LIST_FILE:
        raise InvalidInput("use the upload-table-list route for table_list.txt (it is validated)")
    data = read_upload(file, config.limits().max_upload_bytes)
    with while_not_running(store, task_id, "upload files") as task, writable_task_dir(task) as directory:
        kind = leaf_kind(directory, name)
        if kind == "link":
            raise UnsafePath(f"file path {name} goes through a symbolic link; refusing to follow it")
        existed = kind is not None
        backup_dir = None
        if existed and overwrite_mode == "skip":
            return ok({"task_id": task_id, "file_name": name, "action": "skipped", "reason": "file exists"},
                      "file exists; skipped")
        if kind == "file" and overwrite_mode == "backup":
            backup_dir = backup_file(directory, name, task_id=task_id, reason="upload")
        write_file_at(directory, name, data)
        store.add_log(task_id, "INFO", f"{user.name} uploaded {name} ({len(data)} bytes, {overwrite_mode})")
    action = "created" if not existed else ("replaced" if overwrite_mode == "replace" else "backed_up_and_replaced")
    return ok({"task_id": task_id, "file_name": name, "file_size": len(data), "action": action,
               "backup_directory": backup_dir}, "file uploaded")
