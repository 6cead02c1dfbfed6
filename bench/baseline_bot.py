"""Baseline for bench/updates.py: the same survey built the usual PTB way.

    .venv/bin/python -m bench.baseline_bot --api-url URL --token TOKEN --persistence FILE
                                           [--survey FILE] [--concurrent N]
                                           [--transport aiohttp|httpx]

A PTB Application with a ConversationHandler (one state per question, a CallbackQueryHandler per
state, answers kept in ``context.user_data``) and PicklePersistence (flushed every 60 s and at
shutdown, PTB's defaults), fed by PTB's own Updater. It talks to the Bot API over the project's
aiohttp transport (bot/transport.py) so that a comparison with the real bot is about the bot,
not the HTTP client; ``--transport httpx`` uses PTB's default HTTPXRequest instead (the usual
way, and about 12x slower per call). Updates are handled one at a time (PTB's default) unless
--concurrent is given. Then a person's press that is fetched before the callback handling the
previous one has returned is handled in the previous state, because ConversationHandler sets
the new state only when the callback returns, after its last Bot API call (PTB warns about
concurrent updates with a conversation; the warning is silenced below): the wrong question gets
the answer, or the press gets no reply. bench/updates.py's respondents press as soon as the
reply has arrived and can hit this window: on httpx often (a dozen of 200 respondents in setup
alone), on the aiohttp transport not in our runs so far.

It shows what the real bot shows, with the same Bot API calls: a press is answered
(answerCallbackQuery; for an answer with the pop-up "Your answer: …") and the pressed message
becomes the next question (one card per survey, two calls per answer); "‹ Back" edits the
pressed message into the previous question. Buttons carry "<revision>|<action>" like the real bot's, the revision counting the
person's steps (a press with an older revision is only answered). Question texts come from the
survey file (--survey; default the shipped conversations/surveys/open-cities.yaml), read once at
start into this module's SURVEY, QUESTIONS and BY_ID; the few other texts are English.
Nothing is written anywhere but the pickle file — or, with ``--database-url``, one row of a
PostgreSQL table (PostgresPersistence below: the whole state as JSON, ptbcontrib's
postgres_persistence's way, flushed like the pickle): unlike the real bot, an answer is not
durable when it is acknowledged. Benchmark code only; never used by the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    DictPersistence,
    MessageHandler,
    PicklePersistence,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.transport import AiohttpRequest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SURVEY = ROOT / "conversations" / "surveys" / "open-cities.yaml"
CATALOG_FILE = ROOT / "storage" / "catalog" / "open-cities.yaml"
LANGUAGES = {"en": "English", "uk": "Українська", "ru": "Русский", "pl": "Polski"}
LANGUAGE, CONSENT = "language", "consent"
BACK, SKIP, DONE, PAUSE = "!back", "!skip", "!done", "!pause"
CONSENT_TEXT = (
    "Before we start, please read this.\n\n"
    "• This survey is about how your city helps migrants. It takes about 3 minutes.\n"
    "• We do not store your name or your Telegram number next to your answers.\n"
    "• We only publish totals for groups of at least 5 people.\n"
    "• You can see your data with /mydata and delete it with /delete."
)
Context = ContextTypes.DEFAULT_TYPE


def load_survey(path: Path) -> dict[str, Any]:
    """A survey file, as plain data."""
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def use_survey(path: Path) -> None:
    """Make the survey in `path` the one this process shows."""
    global SURVEY, QUESTIONS, BY_ID
    SURVEY = load_survey(path)
    QUESTIONS = SURVEY["questions"]
    BY_ID = {q["id"]: q for q in QUESTIONS}


def load_practices() -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """practice id → (practice names, city names) by language, from the shipped catalog."""
    catalog = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    return {
        practice["id"]: (practice["name"], city["name"])
        for city in catalog["cities"]
        for practice in city.get("practices", ())
    }


SURVEY = load_survey(SHIPPED_SURVEY)
QUESTIONS: list[dict[str, Any]] = SURVEY["questions"]
BY_ID = {q["id"]: q for q in QUESTIONS}
PRACTICES = load_practices()


def visible(question: dict[str, Any], answers: dict[str, Any]) -> bool:
    """The survey file's show_if: equals / in."""
    condition = question.get("show_if")
    if not condition:
        return True
    value = answers.get(condition["question"])
    if "equals" in condition:
        return bool(value == condition["equals"])
    if isinstance(value, list):
        return any(v in condition["in"] for v in value)
    return value in condition["in"]


def path(answers: dict[str, Any]) -> list[str]:
    """The questions this person sees, given their answers so far."""
    return [q["id"] for q in QUESTIONS if visible(q, answers)]


def neighbour(answers: dict[str, Any], question_id: str, step: int) -> str | None:
    """The next (step=1) or previous (step=-1) visible question."""
    seen = path(answers)
    index = seen.index(question_id) + step if question_id in seen else -1
    return seen[index] if 0 <= index < len(seen) else None


def local(value: Any, lang: str) -> str:
    """A text of the survey file in the person's language."""
    return str(value.get(lang) or value.get("en")) if isinstance(value, dict) else str(value)


def question_text(data: dict[str, Any], question_id: str, *, numbered: bool = True) -> str:
    """The question as shown: number, text with the practice's name, the scale's legend."""
    lang = data["lang"]
    question = BY_ID[question_id]
    names, cities = PRACTICES.get(data["practice"], ({}, {}))
    text = local(question["text"], lang).format(
        practice=local(names, lang) if names else data["practice"],
        city=local(cities, lang) if cities else "",
    )
    if question["type"] == "scale":
        labels = question.get("labels", {})
        low, high = local(labels.get("low", "1"), lang), local(labels.get("high", "5"), lang)
        text += f"\n\n1 = {low}, 5 = {high}"
    if not numbered:
        return text
    seen = path(data["answers"])
    return f"Question {seen.index(question_id) + 1} of {len(seen)}\n\n{text}"


def keyboard(data: dict[str, Any], question_id: str) -> InlineKeyboardMarkup:
    """The question's buttons, each "<revision>|<action>"."""
    rev, lang = data["rev"], data["lang"]
    question = BY_ID[question_id]

    def button(label: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=f"{rev}|{action}")

    rows: list[list[InlineKeyboardButton]] = []
    if question["type"] == "yes_no":
        rows.append([button("Yes", "yes"), button("No", "no")])
    elif question["type"] == "scale":
        rows.append([button(str(n), str(n)) for n in range(1, 6)])
        if question.get("dont_know"):
            rows.append([button("Don't know", "dont_know")])
    elif question["type"] in ("single_choice", "multiple_choice"):
        chosen = data["answers"].get(question_id) or []
        for option in question["options"]:
            mark = "✓ " if option["id"] in chosen else ""
            rows.append([button(mark + local(option["label"], lang), option["id"])])
        if question["type"] == "multiple_choice":
            rows.append([button("Done", DONE)])
    controls = [button("‹ Back", BACK)]
    if not question.get("required"):
        controls.append(button("Skip", SKIP))
    controls.append(button("Later", PAUSE))
    rows.append(controls)
    return InlineKeyboardMarkup(rows)


def label(data: dict[str, Any], question_id: str, value: Any) -> str:
    """How an answer is echoed."""
    question = BY_ID[question_id]
    if value is None:
        return "skipped"
    if question["type"] in ("single_choice", "multiple_choice"):
        names = {o["id"]: local(o["label"], data["lang"]) for o in question["options"]}
        values = value if isinstance(value, list) else [value]
        return ", ".join(names.get(v, str(v)) for v in values)
    return {"yes": "Yes", "no": "No", "dont_know": "Don't know"}.get(str(value), str(value))


def parse(update: Update, data: dict[str, Any]) -> str | None:
    """The action of a press with the current revision; None for an old keyboard."""
    query = update.callback_query
    assert query is not None and query.data is not None
    rev, _, action = query.data.partition("|")
    return action if rev == str(data.get("rev")) else None


async def on_start(update: Update, context: Context) -> str:
    """/start [p_<practice>]: the language picker."""
    assert update.effective_message is not None and context.user_data is not None
    data = context.user_data
    payload = context.args[0] if context.args else ""
    data.update(
        rev=data.get("rev", 0) + 1,
        practice=payload[2:] if payload.startswith("p_") else "",
        lang="en",
        answers={},
    )
    buttons = [
        [InlineKeyboardButton(name, callback_data=f"{data['rev']}|{code}")]
        for code, name in LANGUAGES.items()
    ]
    await update.effective_message.reply_text(
        "Choose your language:", reply_markup=InlineKeyboardMarkup(buttons)
    )
    return LANGUAGE


async def on_language(update: Update, context: Context) -> str:
    """A language: the consent notice."""
    assert update.callback_query is not None and context.user_data is not None
    data, query = context.user_data, update.callback_query
    action = parse(update, data)
    await query.answer()
    if action not in LANGUAGES:
        return LANGUAGE
    data["lang"] = action
    data["rev"] += 1
    buttons = [
        [
            InlineKeyboardButton("I agree", callback_data=f"{data['rev']}|accept"),
            InlineKeyboardButton("No, thanks", callback_data=f"{data['rev']}|decline"),
        ]
    ]
    await query.edit_message_text(CONSENT_TEXT, reply_markup=InlineKeyboardMarkup(buttons))
    return CONSENT


async def on_consent(update: Update, context: Context) -> str | int:
    """Consent: the intro in place of the notice, then the first question."""
    assert update.callback_query is not None and context.user_data is not None
    data, query = context.user_data, update.callback_query
    action = parse(update, data)
    await query.answer()
    if action == "decline":
        await query.edit_message_text("All right. Nothing was stored. Send /start to begin.")
        return ConversationHandler.END
    if action != "accept":
        return CONSENT
    data["rev"] += 1
    names, cities = PRACTICES.get(data["practice"], ({}, {}))
    intro = local(SURVEY["intro"], data["lang"]).format(
        practice=local(names, data["lang"]) if names else data["practice"],
        city=local(cities, data["lang"]) if cities else "",
    )
    await query.edit_message_text(intro)
    first = path(data["answers"])[0]
    assert query.message is not None
    await context.bot.send_message(
        query.message.chat.id, question_text(data, first), reply_markup=keyboard(data, first)
    )
    return first


def question_handler(question_id: str) -> CallbackQueryHandler[Any, Any]:
    """The handler of one question's state."""

    async def on_press(update: Update, context: Context) -> str | int:
        assert update.callback_query is not None and context.user_data is not None
        data, query = context.user_data, update.callback_query
        action = parse(update, data)
        question = BY_ID[question_id]
        if (
            action is None
            or action in (BACK, PAUSE)
            or (question["type"] == "multiple_choice" and action not in (SKIP, DONE))
        ):
            await query.answer()
        if action is None:
            return question_id
        answers = data["answers"]
        if action == BACK:
            previous = neighbour(answers, question_id, -1) or question_id
            data["rev"] += 1
            await query.edit_message_text(
                question_text(data, previous), reply_markup=keyboard(data, previous)
            )
            return previous
        if action == PAUSE:
            data["rev"] += 1
            await query.edit_message_text("Saved. Send /start to continue later.")
            return ConversationHandler.END
        if question["type"] == "multiple_choice" and action not in (SKIP, DONE):
            chosen = list(answers.get(question_id) or [])
            chosen.remove(action) if action in chosen else chosen.append(action)
            answers[question_id] = chosen
            data["rev"] += 1
            await query.edit_message_text(
                question_text(data, question_id), reply_markup=keyboard(data, question_id)
            )
            return question_id
        if action == SKIP:
            answers[question_id] = None
        elif action != DONE:
            answers[question_id] = action
        return await advance(update, context, question_id)

    return CallbackQueryHandler(on_press)


async def on_comment(update: Update, context: Context) -> str | int:
    """The text question: the comment."""
    assert update.effective_message is not None and context.user_data is not None
    context.user_data["answers"]["comment"] = (update.effective_message.text or "")[:1000]
    return await advance(update, context, "comment")


async def advance(update: Update, context: Context, question_id: str) -> str | int:
    """A pop-up with the answer, and the pressed message turned into the next question (or the
    thanks); after a typed answer, the next question as a new message."""
    assert context.user_data is not None and update.effective_chat is not None
    data = context.user_data
    data["rev"] += 1
    query = update.callback_query
    following = neighbour(data["answers"], question_id, 1)
    text = "Thank you! Your answers are saved."
    markup = None
    if following is not None:
        text, markup = question_text(data, following), keyboard(data, following)
    if query is not None:
        await query.answer(
            f"Your answer: {label(data, question_id, data['answers'].get(question_id))}"
        )
        await query.edit_message_text(text, reply_markup=markup)
    else:
        await context.bot.send_message(update.effective_chat.id, text, reply_markup=markup)
    return following if following is not None else ConversationHandler.END


STATE_TABLE = "baseline_persistence"
STATE_KINDS = ("user_data", "chat_data", "bot_data", "conversations", "callback_data")


class PostgresPersistence(DictPersistence):
    """PicklePersistence's counterpart on PostgreSQL, the way ptbcontrib's postgres_persistence
    keeps a PTB bot's state: the whole state as one JSON document in one row, read at start and
    written on every flush (every 60 s and at shutdown, PTB's defaults)."""

    def __init__(self, url: str, state: dict[str, str]) -> None:
        super().__init__(**{f"{kind}_json": state.get(kind, "") for kind in STATE_KINDS})
        self.url = url

    @staticmethod
    async def load(url: str) -> dict[str, str]:
        """The stored state (creating its table on first use)."""
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (id int PRIMARY KEY, state text)"
            )
            stored = await connection.fetchval(f"SELECT state FROM {STATE_TABLE} WHERE id = 1")
        finally:
            await connection.close()
        return dict(json.loads(stored)) if stored else {}

    async def flush(self) -> None:
        state = {kind: getattr(self, f"{kind}_json") for kind in STATE_KINDS}
        state = {kind: text for kind, text in state.items() if text not in ("", "null")}
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute(
                f"INSERT INTO {STATE_TABLE} (id, state) VALUES (1, $1) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                json.dumps(state),
            )
        finally:
            await connection.close()


def build(
    api_url: str,
    token: str,
    persistence: Path | None,
    concurrent: int,
    transport: str = "aiohttp",
    database_url: str | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The baseline Application: ConversationHandler + PicklePersistence (or PostgresPersistence
    with `database_url`), PTB's Updater."""
    if database_url is not None:
        state = asyncio.run(PostgresPersistence.load(database_url))
        store: DictPersistence | PicklePersistence[Any, Any, Any] = PostgresPersistence(
            database_url, state
        )
    else:
        assert persistence is not None
        store = PicklePersistence(filepath=persistence)
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .persistence(store)
    )
    if transport == "aiohttp":
        builder = builder.request(AiohttpRequest(connection_pool_size=256)).get_updates_request(
            AiohttpRequest(connection_pool_size=4, read_timeout=45.0)
        )
    if concurrent > 1:
        builder = builder.concurrent_updates(concurrent)
    application = builder.build()
    states: dict[object, list[Any]] = {
        LANGUAGE: [CallbackQueryHandler(on_language)],
        CONSENT: [CallbackQueryHandler(on_consent)],
    }
    for question in QUESTIONS:
        if question["type"] == "text":
            text = filters.TEXT & ~filters.COMMAND
            states[question["id"]] = [MessageHandler(text, on_comment), question_handler("comment")]
        else:
            states[question["id"]] = [question_handler(question["id"])]
    with warnings.catch_warnings():  # per_message=False with CallbackQueryHandlers: intended
        warnings.simplefilter("ignore", PTBUserWarning)
        conversation = ConversationHandler(
            entry_points=[CommandHandler("start", on_start)],
            states=states,
            fallbacks=[CommandHandler("start", on_start)],
            name="survey",
            persistent=True,
            allow_reentry=True,
        )
    application.add_handler(conversation)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True, help="root of the Bot API server")
    parser.add_argument("--token", required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--persistence", type=Path, help="the pickle file")
    where.add_argument(
        "--database-url", help="PostgreSQL (postgresql://…): keep the state there instead"
    )
    parser.add_argument(
        "--concurrent", type=int, default=0, help="handle N updates at once (default: one)"
    )
    parser.add_argument(
        "--survey", type=Path, default=SHIPPED_SURVEY, help="the survey file (default: shipped)"
    )
    parser.add_argument(
        "--transport",
        choices=("aiohttp", "httpx"),
        default="aiohttp",
        help="our aiohttp transport (default) or PTB's default HTTPXRequest",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    warnings.simplefilter("ignore", PTBUserWarning)  # concurrent updates with a conversation
    use_survey(args.survey)
    application = build(
        args.api_url,
        args.token,
        args.persistence,
        args.concurrent,
        args.transport,
        args.database_url,
    )
    application.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
