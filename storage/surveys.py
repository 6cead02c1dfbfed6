"""Storing survey definitions as versions: a version that has responses is never changed."""

from __future__ import annotations

from typing import Any

from storage.uow import UnitOfWork


async def sync_survey(
    uow: UnitOfWork, key: str, content_hash: str, definition: dict[str, Any]
) -> tuple[int, int, str]:
    """Store a definition; returns (survey id, version, 'added' | 'replaced' | 'unchanged')."""
    latest = await uow.surveys.latest(key)
    if latest is not None and latest.content_hash == content_hash:
        return latest.id, latest.version, "unchanged"
    if latest is not None and not await uow.surveys.has_responses(latest.id):
        latest.content_hash, latest.definition = content_hash, definition
        return latest.id, latest.version, "replaced"
    version = latest.version + 1 if latest else 1
    survey = await uow.surveys.add(key, version, content_hash, definition)
    return survey.id, version, "added"
