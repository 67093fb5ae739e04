"""How a definition reaches DolphinScheduler: the ``Transport`` protocol and its REST implementation.

Creating a definition is never repeated blindly: after a lost response the name is looked up
first, so a retry cannot produce a second definition of the same workflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dolphin_publisher.client import NAME_EXISTS, ONLINE_NOT_EDITABLE, DolphinClient
from dolphin_publisher.converter import DefinitionPayload
from dolphin_publisher.errors import DolphinApiError, DolphinError, DolphinTransientError
from dolphin_publisher.remote import RemoteDefinition


@dataclass(frozen=True)
class UpsertResult:
    code: int
    created: bool
    engine_version: int | None = None
    released_offline: bool = False
    recovered_lost_response: bool = False
    release_state: str = "OFFLINE"  # the definition's state once the upsert is done


class Transport(Protocol):
    """How a definition reaches DolphinScheduler: REST (primary) or the Java gateway (optional).

    Reads, release, schedules and instances always go over REST (the seed's split: the gateway
    submits definitions, REST does the rest).
    """

    kind: str

    def ping(self) -> dict[str, Any]: ...

    def gen_task_codes(self, count: int) -> list[int]: ...

    def upsert_definition(self, payload: DefinitionPayload, *, current: RemoteDefinition | None,
                          note: Callable[[str], None]) -> UpsertResult: ...


class RestTransport:
    """Create or update over REST without ever producing a duplicate definition."""

    kind = "rest"
    create_attempts = 3

    def __init__(self, client: DolphinClient, *, backoff: float | None = None) -> None:
        self.client = client
        self.backoff = client.retry.initial_backoff if backoff is None else backoff

    def ping(self) -> dict[str, Any]:
        return self.client.ping()

    def gen_task_codes(self, count: int) -> list[int]:
        return self.client.gen_task_codes_batched(count) if count else []

    def upsert_definition(self, payload: DefinitionPayload, *, current: RemoteDefinition | None,
                          note: Callable[[str], None]) -> UpsertResult:
        if current is None:
            return self._create(payload, note)
        return self._update(current, payload, note)

    def _update(self, current: RemoteDefinition, payload: DefinitionPayload,
                note: Callable[[str], None]) -> UpsertResult:
        """Update in place, keeping the release state: an ONLINE definition is released OFFLINE (the
        server refuses to edit it, 50008) and updated with ``releaseState=ONLINE``, which has the server
        release it again. Its schedule went offline with it; the publisher puts that back."""
        released = False
        keep = "ONLINE" if current.release_state == "ONLINE" else "OFFLINE"
        if keep == "ONLINE":
            note(f"definition {current.code} is ONLINE; releasing it OFFLINE so it can be edited")
            self.client.release(current.code, "OFFLINE")
            released = True
        try:
            remote = self.client.update_definition(current.code, payload, release_state=keep)
        except DolphinApiError as exc:
            if exc.code != ONLINE_NOT_EDITABLE:
                raise
            note(f"server refused the update ({exc.code} {exc.msg}); releasing OFFLINE and updating again")
            self.client.release(current.code, "OFFLINE")
            released, keep = True, "ONLINE"
            remote = self.client.update_definition(current.code, payload, release_state=keep)
        note(f"updated definition {current.code}" + (" and released it ONLINE again" if keep == "ONLINE" else ""))
        return UpsertResult(code=current.code, created=False, engine_version=remote.version if remote else None,
                            released_offline=released, release_state=keep)

    def _create(self, payload: DefinitionPayload, note: Callable[[str], None]) -> UpsertResult:
        for attempt in range(1, self.create_attempts + 1):
            try:
                remote = self.client.create_definition(payload)
            except DolphinTransientError as exc:
                note(f"create attempt {attempt}: {exc.message}; looking the name up before trying again")
                found = self.client.query_by_name(payload.name)
                if found is not None:
                    note(f"definition {found.code} exists: the create went through, only its response was lost")
                    return UpsertResult(code=found.code, created=True, engine_version=found.version,
                                        recovered_lost_response=True)
                if attempt == self.create_attempts:
                    raise
                time.sleep(self.backoff * attempt)
                continue
            except DolphinApiError as exc:
                if exc.code != NAME_EXISTS:
                    raise
                found = self.client.query_by_name(payload.name)
                if found is None:
                    raise
                note(f"name taken meanwhile by definition {found.code}; updating it instead")
                return self._update(found, payload, note)
            note(f"created definition {remote.code}")
            return UpsertResult(code=remote.code, created=True, engine_version=remote.version)
        raise DolphinError("unreachable")  # pragma: no cover
