"""Who the caller is and what they may do, so a page shows only the actions the server would allow."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from data_pipeline.api.answers_ui import Caller
from data_pipeline.api.deps import ERRORS, MayWriteDep, ReaderDep
from platform_api.envelope import Envelope, ok

router = APIRouter(tags=["session"], responses=ERRORS)


@router.get("/me", response_model=Envelope[Caller], summary="The caller's name and whether they may run tasks")
def me(user: ReaderDep, can_run: MayWriteDep) -> Any:
    return ok({"user": user.name, "can_run": bool(can_run)})
