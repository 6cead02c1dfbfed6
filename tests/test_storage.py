"""Storage: migrations, survey versions, catalog loading, the pseudonym secret."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from app.config import ConfigError, Settings
from app.respond import Identity, respond
from app.services import SHIPPED_SURVEYS, ensure_pseudonym_secret, sync_surveys
from bot.startup import start_services
from conversations import events as ev
from storage.catalog import (
    DEFAULT_CATALOG,
    CatalogError,
    catalog_to_csv,
    export_catalog,
    load_catalog,
    read_catalog,
)
from storage.db import Database
from storage.models import Answer, Base, Practice, Response, Survey
from tests.conftest import make_settings


async def test_migrations_build_the_whole_schema_from_empty(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.upgrade()
        await db.upgrade()  # idempotent
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            version = (
                await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            ).scalar()
        assert set(Base.metadata.tables) <= tables
        assert version is not None
    finally:
        await db.dispose()


async def test_migrations_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database(database_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert diff == []
    finally:
        await db.dispose()


async def test_catalog_load_is_idempotent(services) -> None:  # type: ignore[no-untyped-def]
    data = read_catalog(DEFAULT_CATALOG)
    async with services.db.unit_of_work() as uow:
        assert await load_catalog(uow, data) == []  # loaded on first start already
    data["cities"][0]["practices"][0]["active"] = False
    async with services.db.unit_of_work() as uow:
        changes = await load_catalog(uow, data)
    assert changes == [f"changed: practice {data['cities'][0]['practices'][0]['id']}"]
    async with services.db.unit_of_work() as uow:
        assert await load_catalog(uow, data) == []


async def test_catalog_exports_to_csv_and_loads_back(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with services.db.unit_of_work() as uow:
        exported = await export_catalog(uow)
    path = tmp_path / "catalog.csv"
    path.write_text(catalog_to_csv(exported), encoding="utf-8-sig")
    async with services.db.unit_of_work() as uow:
        assert await load_catalog(uow, read_catalog(path)) == []


def test_the_shipped_catalog_marks_documented_and_open_fields() -> None:
    data = read_catalog(DEFAULT_CATALOG)
    practices = [p for city in data["cities"] for p in city["practices"]]
    assert {"warszawa", "wroclaw", "lublin", "gdansk", "krakow"} <= {
        c["id"] for c in data["cities"]
    }
    assert len(practices) >= 7
    for practice in practices:
        assert practice["documented"] and practice["source"]
        assert practice["distinguished_in"] is None
        assert "distinguished_in" in practice["to_complete"]


def test_a_broken_catalog_names_its_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cities:\n  - id: Bad City\n  - id: ok\n    name: {en: X}\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        read_catalog(path)
    assert "city id 'Bad City'" in str(caught.value)
    assert "city ok: name is missing the 'uk' text" in str(caught.value)


async def test_changing_an_answered_survey_creates_a_new_version(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "surveys"
    shutil.copytree(SHIPPED_SURVEYS, folder)
    services = await start_services(settings)
    try:
        person = Identity(services.pseudonyms.of("test", "olena"))
        reply = await respond(services, person, ev.Start(payload="c_gdansk"))
        for action in ("uk", "accept", "gdansk-model-integracji-imigrantow", "yes"):
            token = next(p.token for p in reversed(reply.prompts) if p.token is not None)
            reply = await respond(services, person, ev.from_action(token, action))

        path = folder / "open-cities.yaml"
        path.write_text(
            path.read_text(encoding="utf-8").replace(
                'en: "What is missing?', 'en: "What is still missing?'
            ),
            encoding="utf-8",
        )
        lines = await sync_surveys(services.db, [folder])
        assert lines == ["added: survey open-cities v2 (open-cities.yaml)"]
        assert await sync_surveys(services.db, [folder]) == [
            "unchanged: survey open-cities v2 (open-cities.yaml)"
        ]

        async with services.db.unit_of_work() as uow:
            surveys = (await uow.session.scalars(select(Survey).order_by(Survey.version))).all()
            [response] = (await uow.session.scalars(select(Response))).all()
            answers = (await uow.session.scalars(select(Answer))).all()
        assert [s.version for s in surveys] == [1, 2]
        assert response.survey_id == surveys[0].id and response.survey_version == 1
        assert [(a.question_id, a.value_option) for a in answers] == [("aware", "yes")]
        assert "What is missing?" in str(surveys[0].definition)
    finally:
        await services.close()


async def test_an_unanswered_survey_is_replaced_in_place(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "surveys"
    shutil.copytree(SHIPPED_SURVEYS, folder)
    services = await start_services(settings)
    try:
        path = folder / "open-cities.yaml"
        path.write_text(
            path.read_text(encoding="utf-8").replace("What is missing?", "Missing?"),
            encoding="utf-8",
        )
        assert await sync_surveys(services.db, [folder]) == [
            "replaced: survey open-cities v1 (open-cities.yaml)"
        ]
    finally:
        await services.close()


async def test_the_pseudonym_secret_is_generated_once_and_never_replaced(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.upgrade()
        first = await ensure_pseudonym_secret(db, None)
        assert len(first) >= 32
        assert await ensure_pseudonym_secret(db, None) == first
        with pytest.raises(ConfigError, match="PSEUDONYM_SECRET"):
            await ensure_pseudonym_secret(db, "another-secret-that-is-long-enough-000000")
    finally:
        await db.dispose()


async def test_a_configured_secret_must_stay_the_same(database_url: str) -> None:
    settings = make_settings(database_url)
    services = await start_services(settings)
    await services.close()
    with pytest.raises(ConfigError, match="PSEUDONYM_SECRET: differs"):
        await start_services(make_settings(database_url, pseudonym_secret="x" * 40))
    with pytest.raises(ConfigError, match="PSEUDONYM_SECRET: not set"):
        await start_services(make_settings(database_url, pseudonym_secret=None))


async def test_inactive_practices_are_not_offered(services) -> None:  # type: ignore[no-untyped-def]
    async with services.db.unit_of_work() as uow:
        for practice in (await uow.session.scalars(select(Practice))).all():
            practice.active = practice.city_id != "krakow"
    person = Identity(services.pseudonyms.of("test", "ivan"))
    reply = await respond(services, person, ev.Start(payload="c_krakow"))
    reply = await respond(services, person, ev.from_action(reply.prompts[-1].token, "en"))
    reply = await respond(services, person, ev.from_action(reply.prompts[-1].token, "accept"))
    actions = [b.action for row in reply.prompts[-1].buttons for b in row]
    assert "warszawa" in actions and "krakow" not in actions
