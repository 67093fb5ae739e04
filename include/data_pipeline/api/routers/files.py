"""Task files: list, download (subfolders allowed), upload with backup|replace|skip."""


import os
import stat
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import StreamingResponse

from data_pipeline import config
from data_pipeline.api.deps import TaskIdPath, get_store, load_task, responses
from data_pipeline.api.envelope import ok
from data_pipeline.api.ports import Principal
from data_pipeline.errors import Conflict, InvalidInput, NotFound, TooLarge, UnsafePath
from data_pipeline.files.backup import backup_file
from data_pipeline.files.task_dir import (
    TABLE_LIST_FILE,
    atomic_write_bytes,
    check_relative_path,
    directory_stats,
    list_files,
    open_for_read,
    resolve_file,
    task_path,
)
from data_pipeline.tasks.status import TaskStatus
from data_pipeline.tasks.store import TaskStore

CHUNK = 256 * 1024


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes; ``TooLarge`` past ``limit`` (the middleware usually stops it earlier)."""
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{upload.filename or 'file'} is larger than the limit of {limit} bytes")
    return data


def build_router(read: Any, write: Any) -> APIRouter:
    router = APIRouter(tags=["files"])
    Reader = Annotated[Principal, Depends(read)]
    Writer = Annotated[Principal, Depends(write)]
    Store = Annotated[TaskStore, Depends(get_store)]

    @router.get("/tasks/{task_id}/files", responses=responses(), summary="Files of a task, with sizes and types")
    def files(task_id: TaskIdPath, user: Reader, store: Store) -> Any:
        task = load_task(store, task_id)
        try:
            items = list_files(task_id)
        except NotFound:
            return ok({"task_id": task_id, "directory_exists": False, "files": [], "file_count": 0, "total_bytes": 0})
        stats = directory_stats(task_path(task_id))
        return ok({
            "task_id": task_id, "directory_exists": task.directory_exists,
            "files": [{"file_name": f.name, "file_path": f.path, "file_size": f.size, "file_type": f.file_type,
                       "modified_at": f.modified_at, "can_download": True} for f in items],
            "file_count": len(items), "total_bytes": sum(f.size for f in items), "total_size": stats.human_size,
        })

    def _download(task_id: TaskIdPath, path: str, store: TaskStore) -> StreamingResponse:
        load_task(store, task_id)
        target = resolve_file(task_id, path)
        fd = open_for_read(target)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise NotFound(f"not a file: {path}")
        limit = config.limits().max_download_bytes
        if st.st_size > limit:
            os.close(fd)
            raise TooLarge(f"{path} is {st.st_size} bytes; downloads are limited to {limit} bytes")
        handle = os.fdopen(fd, "rb")

        def chunks() -> Any:
            with handle:
                while block := handle.read(CHUNK):
                    yield block

        name = path.rsplit("/", 1)[-1]
        headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                   "Content-Length": str(st.st_size), "X-Content-Type-Options": "nosniff"}
        return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)

    @router.get("/tasks/{task_id}/files/download/{file_name}", summary="Download a top-level file",
                responses={**responses(), 200: {"content": {"application/octet-stream": {}},
                                                "description": "The file"}})
    def download_named(task_id: TaskIdPath, file_name: str, user: Reader, store: Store) -> StreamingResponse:
        return _download(task_id, file_name, store)

    @router.get("/tasks/{task_id}/files/{file_path:path}", summary="Download a file (subfolders allowed)",
                responses={**responses(), 200: {"content": {"application/octet-stream": {}},
                                                "description": "The file"}})
    def download(task_id: TaskIdPath, file_path: str, user: Reader, store: Store) -> StreamingResponse:
        return _download(task_id, file_path, store)

    @router.post("/tasks/{task_id}/files", responses=responses(), summary="Upload a file into the task directory",
                 openapi_extra={"requestBody": {"required": True}})
    def upload(task_id: TaskIdPath, user: Writer, store: Store, file: Annotated[UploadFile, File()],
               overwrite_mode: Annotated[Literal["backup", "replace", "skip"], Form()] = "backup") -> Any:
        task = load_task(store, task_id)
        if task.status == TaskStatus.IN_PROGRESS:
            raise Conflict(f"task {task_id} is running; upload files when it has finished",
                           current_status=task.status)
        name = file.filename or ""
        rel = check_relative_path(name)
        if len(rel.parts) != 1:
            raise UnsafePath("upload a file name, not a path: folders are not accepted")
        if name == TABLE_LIST_FILE:
            raise InvalidInput("use the upload-table-list route for table_list.txt (it is validated)")
        data = read_upload(file, config.limits().max_upload_bytes)
        directory = task_path(task_id, create=True)
        target = resolve_file(task_id, name, must_exist=False)
        existed = os.path.lexists(target)
        backup_dir = None
        if existed and overwrite_mode == "skip":
            return ok({"task_id": task_id, "file_name": name, "action": "skipped", "reason": "file exists"},
                       "file exists; skipped")
        if existed and overwrite_mode == "backup":
            backup_dir = backup_file(directory, name, task_id=task_id, reason="upload")
        atomic_write_bytes(target, data)
        store.add_log(task_id, "INFO", f"{user.name} uploaded {name} ({len(data)} bytes, {overwrite_mode})")
        action = "created" if not existed else ("replaced" if overwrite_mode == "replace" else "backed_up_and_replaced")
        return ok({"task_id": task_id, "file_name": name, "file_size": len(data), "action": action,
                   "backup_directory": backup_dir}, "file uploaded")

    return router
