"""The console preview, run as a real process fed from a pipe, writes to the same database."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from app.config import Settings
from bot.startup import start_services
from storage.models import Answer, Response
from tests.conftest import SECRET

# Button numbers as the preview prints them: agree, Kraków, its first practice, then yes,
# several times, four scales, two help areas and Done (the tenth button), and a comment.
ANSWERS = ["1", "5", "1", "1", "1", "4", "5", "3", "4", "1", "4", "10", "Więcej godzin"]


def run_chat(settings: Settings, lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "PSEUDONYM_SECRET": SECRET,
        "BOT_TOKEN": "",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "chat", *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_piped_polish_preview_completes_the_default_survey(settings: Settings) -> None:
    result = run_chat(settings, ANSWERS, "--lang", "pl")
    assert result.returncode == 0, result.stderr
    assert "Dziękujemy" in result.stdout or "Thank you" in result.stdout
    services = await start_services(settings)
    try:
        async with services.db.unit_of_work() as uow:
            [response] = (await uow.session.scalars(select(Response))).all()
            answers = (await uow.session.scalars(select(Answer))).all()
    finally:
        await services.close()
    assert response.status == "completed" and response.locale == "pl"
    assert response.practice_id.startswith("krakow-")
    by_question = {a.question_id: a for a in answers}
    assert by_question["aware"].value_option == "yes"
    assert by_question["used"].value_option == "several"
    assert [by_question[q].value_number for q in ("city_role", "reliable", "fits_needs")] == [
        4,
        5,
        3,
    ]
    assert by_question["comment"].value_text == "Więcej godzin"


async def test_the_preview_survives_junk_and_the_end_of_input(settings: Settings) -> None:
    result = run_chat(settings, ["", "🙂", "999", "/back", "/skip", "x" * 5000], "--lang", "uk")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
