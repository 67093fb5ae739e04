"""The task page shown inside the Airflow UI: static files of this package, behind read access.

The page is plain HTML, JavaScript and CSS with relative asset paths and no outside URLs, so it works
under any prefix and without internet access. It calls the task API with the session cookie and
holds no secret. Not part of the OpenAPI document: it is a page, not an API.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from data_pipeline.api.deps import ReaderDep

STATIC_PACKAGE = "data_pipeline.api"
STATIC_DIR = "ui_static"
JS = "text/javascript; charset=utf-8"
ASSETS = {"index.html": "text/html; charset=utf-8", "app.css": "text/css; charset=utf-8",
          "app.js": JS, "lib.js": JS, "task.js": JS, "create.js": JS}
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


@cache
def _asset(name: str) -> bytes:
    return resources.files(STATIC_PACKAGE).joinpath(STATIC_DIR, name).read_bytes()


def _serve(name: str) -> Response:
    if name not in ASSETS:  # only the named files, so no path ever reaches the file system
        raise HTTPException(404, f"no page asset {name!r}")
    return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS)


@router.get("/ui/")
def page(user: ReaderDep) -> Response:
    return _serve("index.html")


@router.get("/ui/{name}")
def asset(name: str, user: ReaderDep) -> Response:
    return _serve(name)
