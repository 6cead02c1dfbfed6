"""Checks a Bot API request against the Bot API 10.1 specification (tests/botapi/api.json) as
Telegram does, answering with Telegram's own wording (taken from telegram-bot-api's Client.cpp,
TDLib and answers recorded from the live API).

What is checked: the method exists; every parameter is one the method has, of one of its
types; required parameters are there; objects (reply markup, link preview options, command
scopes, entities, …) have their required fields, fields of the right types and a known `type`
where the type has subtypes; and the documented limits ("1-64 bytes", "0-200 characters",
"Values between 1-100", …) hold. Text under parse_mode=HTML must be well formed with only the
tags Telegram knows.

Deliberately stricter than Telegram (a bot that relies on Telegram's leniency has a bug):
unknown parameter and field names (Telegram ignores them, so a typo goes unnoticed),
`getUpdates` `limit` outside 1-100 (Telegram clamps it) and unknown `allowed_updates` values
(Telegram ignores them). Their wording is ours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
SPEC = json.loads((Path(__file__).parent / "botapi" / "api.json").read_text(encoding="utf-8"))
METHODS: dict[str, JSON] = {name.lower(): method for name, method in SPEC["methods"].items()}
TYPES: dict[str, JSON] = SPEC["types"]
UPDATE_TYPES = frozenset(f["name"] for f in TYPES["Update"]["fields"]) - {"update_id"}
PARSE_MODES = frozenset({"html", "markdown", "markdownv2"})
HTML_TAGS = frozenset(
    {
        *("b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler"),
        *("a", "code", "pre", "blockquote", "tg-emoji", "tg-time"),
    }
)
HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
COMMAND = re.compile(r"[a-z0-9_]{1,32}")
LANGUAGE_CODE = re.compile(r"(?:[a-z]{2})?")
WEBHOOK_PORTS = frozenset({443, 80, 88, 8443})
_RANGE = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_VALUES = re.compile(r"(?:Values between (\d+)-(\d+)|, (\d+)-(\d+)\.)")
_MUST_BE = re.compile(r"must be (\w+)")
# Names that are strings wherever they appear: form-encoded values of these stay strings.
STRING_PARAMS = frozenset(
    name
    for name in {f["name"] for m in METHODS.values() for f in m.get("fields", [])}
    if all(
        f["types"] == ["String"]
        for m in METHODS.values()
        for f in m.get("fields", [])
        if f["name"] == name
    )
)


class Refused(Exception):
    """A request Telegram would refuse: HTTP status and description."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def refuse(message: str) -> Refused:
    """A 400 with Telegram's prefix; like Telegram, the first letter of a sentence is
    lowercased after "Bad Request: " (error codes such as BUTTON_DATA_INVALID are kept)."""
    if not message[:2].isupper():
        message = message[:1].lower() + message[1:]
    return Refused(f"Bad Request: {message}")


# What Telegram says when a required parameter is missing or empty.
MISSING = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "message_id": "message identifier is not specified",
    "callback_query_id": "query is too old and response timeout expired or query ID is invalid",
    "document": "there is no document in the request",
    "photo": "there is no photo in the request",
    "commands": 'parameter "commands" is required',
    "file_id": "invalid file_id",
}
# Telegram's wording for documented limits: (owner, field) -> (when empty, when too long).
LIMIT_WORDING: dict[tuple[str, str], tuple[str, str]] = {
    ("sendMessage", "text"): ("message text is empty", "message is too long"),
    ("editMessageText", "text"): ("message text is empty", "message is too long"),
    ("answerCallbackQuery", "text"): ("", "MESSAGE_TOO_LONG"),
    (
        "InlineKeyboardButton",
        "callback_data",
    ): ("Text buttons are unallowed in the inline keyboard", "BUTTON_DATA_INVALID"),
    ("BotCommand", "command"): ("command must be non-empty", "BOT_COMMAND_INVALID"),
    ("BotCommand", "description"): (
        "command description must be non-empty",
        "BOT_COMMAND_DESCRIPTION_INVALID",
    ),
}
# How Telegram prefixes problems inside an object of these types.
OBJECT_PREFIX = {
    "InlineKeyboardButton": "Can't parse inline keyboard button: ",
    "KeyboardButton": "Can't parse keyboard button: ",
    "BotCommandScope": "Can't parse BotCommandScope: ",
    "MessageEntity": "Can't parse MessageEntity: ",
}
INLINE_ACTIONS = (
    *("url", "callback_data", "web_app", "login_url", "switch_inline_query"),
    *("switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text"),
    *("callback_game", "pay"),
)


def check_call(method: str, params: JSON, files: dict[str, Any]) -> str:
    """The method's name as the specification spells it; raises Refused for what Telegram
    would refuse."""
    spec = METHODS.get(method.lower())
    if spec is None:
        raise Refused("Not Found", 404)
    name = str(spec["name"])
    fields = {f["name"]: f for f in spec.get("fields", [])}
    for given in params:
        if given not in fields:
            raise refuse(f'parameter "{given}" is not a parameter of {name}')
    for field_name, field in fields.items():
        value = params.get(field_name)
        if value is None or value == "":
            if field_name in files:
                continue
            if field["required"]:
                raise refuse(MISSING.get(field_name, f'parameter "{field_name}" is required'))
            if value is None:
                continue
        _check_parameter(name, field, value, params, files)
    METHOD_RULES.get(name, _nothing)(params)
    return name


def _nothing(_params: JSON) -> None:
    return None


def _check_parameter(method: str, field: JSON, value: Any, params: JSON, files: JSON) -> None:
    name, types = field["name"], field["types"]
    if name == "reply_markup":
        _check_reply_markup(value, types)
        return
    if name == "parse_mode":
        if not isinstance(value, str) or value.lower() not in PARSE_MODES:
            raise refuse("unsupported parse_mode")
    elif not any(_fits(kind, value, files) for kind in types):
        raise refuse(f'field "{name}" must be of type {" or ".join(types)}')
    if "Array of String" in types and not all(isinstance(item, str) for item in value):
        raise refuse(f'field "{name}" must be of type Array of String')
    if isinstance(value, str) and name in ("text", "caption"):
        value = plain_text(value, params.get("parse_mode"))
        if name == "text" and method in ("sendMessage", "editMessageText") and not value.strip():
            raise refuse("message text is empty" if not value else "text must be non-empty")
        if name == "caption" and len(value) > 1024:
            raise refuse("message caption is too long")
    _check_limits(method, field, value)
    for kind in types:
        item = kind.removeprefix("Array of ")
        if item in TYPES and isinstance(value, list) and kind.startswith("Array of "):
            for element in value:
                _check_object(item, element, name)
        elif kind in TYPES and isinstance(value, dict):
            _check_object(kind, value, name)


def _fits(kind: str, value: Any, files: JSON) -> bool:
    """Whether a top-level value can be of this type (form-encoded values arrive as text)."""
    if kind.startswith("Array of "):
        return isinstance(value, list)
    if kind == "Integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or bool(
            isinstance(value, str) and re.fullmatch(r"-?\d+", value)
        )
    if kind == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "Boolean":
        return isinstance(value, bool) or value in ("true", "false", "True", "False", "1", "0")
    if kind == "String":
        return isinstance(value, str)
    if kind == "InputFile":
        return isinstance(value, str) and value.removeprefix("attach://") in files
    return isinstance(value, dict)


@cache
def _documented_limits(
    description: str,
) -> tuple[tuple[int, int, str] | None, tuple[int, int] | None]:
    """A field's "N-M characters/bytes" and "Values between N-M" limits (read once)."""
    text = _RANGE.search(description)
    number = _VALUES.search(description)
    return (
        (int(text.group(1)), int(text.group(2)), text.group(3)) if text else None,
        tuple(int(g) for g in number.groups() if g is not None) if number else None,  # type: ignore[return-value]
    )


@cache
def _fields_of(type_name: str) -> dict[str, JSON]:
    return {f["name"]: f for f in TYPES[type_name].get("fields", [])}


def _check_limits(owner: str, field: JSON, value: Any) -> None:
    """The documented "N-M characters/bytes" and "Values between N-M" limits."""
    text_limit, number_limit = _documented_limits(field.get("description", ""))
    if isinstance(value, str) and text_limit is not None:
        low, high, unit = text_limit
        size = len(value.encode()) if unit == "bytes" else len(value)
        if low <= size <= high:
            return
        empty, too_long = LIMIT_WORDING.get(
            (owner, field["name"]), ("", f"{field['name']} must be {low}-{high} {unit}")
        )
        raise refuse(empty if size < low and empty else too_long)
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if number is not None and number_limit is not None:
        low, high = number_limit
        if not low <= number <= high:
            raise refuse(f"{field['name']} must be between {low} and {high}")


def _check_object(type_name: str, value: Any, where: str) -> None:
    """An object of a specification type: an Object, a known subtype, its required fields
    present, every field known and of its type, and its documented limits."""
    spec = TYPES[type_name]
    prefix = OBJECT_PREFIX.get(type_name, "")
    if not isinstance(value, dict):
        raise refuse(f'{prefix}field "{where}" must be of type Object')
    if spec.get("subtypes"):
        kind = value.get("type")
        if kind is None:
            raise refuse(f'{prefix}Can\'t find field "type"')
        chosen = _subtype(spec["subtypes"], kind)
        if chosen is None:
            raise refuse(f"{prefix}Unsupported type specified")
        spec = TYPES[chosen]
    fields = _fields_of(spec["name"])
    for given in value:
        if given not in fields:
            raise refuse(f'{prefix}field "{given}" is not a field of {spec["name"]}')
    for name, field in fields.items():
        if name not in value:
            if field["required"]:
                raise refuse(f'{prefix}Can\'t find field "{name}"')
            continue
        item = value[name]
        if not any(_fits_json(kind, item) for kind in field["types"]):
            raise refuse(f'{prefix}Field "{name}" must be of type {" or ".join(field["types"])}')
        try:
            _check_limits(type_name, field, item)
        except Refused as refused:
            message = refused.description.removeprefix("Bad Request: ")
            raise refuse(message if message[:2].isupper() else prefix + message) from None
        for kind in field["types"]:
            _check_nested(kind, item, name)


def _check_nested(kind: str, value: Any, name: str) -> None:
    if kind.startswith("Array of "):
        if isinstance(value, list):
            for element in value:
                _check_nested(kind.removeprefix("Array of "), element, name)
    elif kind in TYPES and isinstance(value, dict):
        _check_object(kind, value, name)


def _fits_json(kind: str, value: Any) -> bool:
    """Whether a JSON field value has this type (no form encoding inside objects)."""
    if kind.startswith("Array of "):
        return isinstance(value, list)
    if kind == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "Boolean":
        return isinstance(value, bool)
    if kind in ("String", "InputFile"):
        return isinstance(value, str)
    return isinstance(value, dict)


def _subtype(subtypes: list[str], kind: object) -> str | None:
    """The subtype whose `type` field "must be" this value."""
    for subtype in subtypes:
        for field in TYPES[subtype].get("fields", []):
            found = _MUST_BE.search(field.get("description", ""))
            if field["name"] == "type" and found and found.group(1) == kind:
                return subtype
    return None


def _check_reply_markup(value: Any, types: list[str]) -> None:
    """reply_markup as telegram-bot-api parses it (Client::get_reply_markup)."""
    if isinstance(value, str):
        raise refuse("Can't parse reply keyboard markup JSON object")
    if not isinstance(value, dict):
        raise refuse("Object expected as reply markup")
    if "inline_keyboard" in value:
        rows = value["inline_keyboard"]
        if not isinstance(rows, list):
            raise refuse('Field "inline_keyboard" must be of type Array')
        for row in rows:
            if not isinstance(row, list):
                raise refuse(
                    'Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            for button in row:
                _check_inline_button(button)
    elif "keyboard" in value:
        if "ReplyKeyboardMarkup" not in types:
            raise refuse("reply markup must be an inline keyboard")
        rows = value["keyboard"]
        if not isinstance(rows, list):
            raise refuse('Field "keyboard" must be of type Array')
        for row in rows:
            if not isinstance(row, list):
                raise refuse('Field "keyboard" must be an Array of Arrays')
            for button in row:
                if isinstance(button, dict):
                    _check_object("KeyboardButton", button, "keyboard")
                elif not isinstance(button, str):
                    raise refuse(
                        "Can't parse keyboard button: KeyboardButton must be a String or an Object"
                    )
    markup = (
        "InlineKeyboardMarkup"
        if "inline_keyboard" in value
        else "ReplyKeyboardMarkup"
        if "keyboard" in value
        else "ReplyKeyboardRemove"
        if "remove_keyboard" in value
        else "ForceReply"
        if "force_reply" in value
        else None
    )
    if markup is None:
        return
    for name, field in ((f["name"], f) for f in TYPES[markup]["fields"]):
        if name in value and field["types"] == ["Boolean"] and not isinstance(value[name], bool):
            raise refuse(f'Field "{name}" must be of type Boolean')
    unknown = set(value) - {f["name"] for f in TYPES[markup]["fields"]}
    if unknown:
        raise refuse(f'field "{sorted(unknown)[0]}" is not a field of {markup}')


def _check_inline_button(button: Any) -> None:
    prefix = OBJECT_PREFIX["InlineKeyboardButton"]
    if not isinstance(button, dict):
        raise refuse(f"{prefix}InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise refuse(f'{prefix}Can\'t find field "text"')
    if not isinstance(button["text"], str):
        raise refuse(f'{prefix}Field "text" must be of type String')
    if not button["text"]:
        raise refuse("Inline keyboard button text must be non-empty")
    actions = [a for a in INLINE_ACTIONS if button.get(a) not in (None, "", False)]
    if not actions:
        raise refuse(f"{prefix}Text buttons are unallowed in the inline keyboard")
    _check_object("InlineKeyboardButton", button, "inline_keyboard")


def plain_text(text: str, parse_mode: object) -> str:
    """The text a user sees. Under parse_mode=HTML it is parsed as TDLib does, with its error
    messages (offsets in UTF-8 bytes); other modes are kept verbatim."""
    if not isinstance(parse_mode, str) or parse_mode.lower() != "html":
        return text
    return _HtmlText(text).parse()


class _HtmlText:
    """A port of the shape of TDLib's parse_html: tags it knows, entities, byte offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.open: list[str] = []

    def offset(self, index: int) -> int:
        return len(self.text[:index].encode())

    def parse(self) -> str:
        text, i = self.text, 0
        while i < len(text):
            char = text[i]
            if char == "&":
                i = self._entity(i)
            elif char != "<":
                self.out.append(char)
                i += 1
            elif text.startswith("</", i):
                i = self._end_tag(i)
            else:
                i = self._start_tag(i)
        if self.open:
            raise refuse(
                f"can't parse entities: Can't find end tag corresponding to start tag \"{self.open[-1]}\""
            )
        return "".join(self.out)

    def _entity(self, i: int) -> int:
        found = re.match(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);", self.text[i:])
        if found is None:
            self.out.append("&")
            return i + 1
        name = found.group(1)
        if name.startswith("#x"):
            self.out.append(chr(int(name[2:], 16)))
        elif name.startswith("#"):
            self.out.append(chr(int(name[1:])))
        elif name in HTML_ENTITIES:
            self.out.append(HTML_ENTITIES[name])
        else:
            self.out.append(found.group(0))
        return i + len(found.group(0))

    def _start_tag(self, i: int) -> int:
        end = i + 1
        while end < len(self.text) and not self.text[end].isspace() and self.text[end] != ">":
            end += 1
        if end >= len(self.text):
            raise refuse(
                f"can't parse entities: Unclosed start tag at byte offset {self.offset(i)}"
            )
        tag = self.text[i + 1 : end].lower()
        if tag not in HTML_TAGS:
            raise refuse(
                f'can\'t parse entities: Unsupported start tag "{tag}" at byte offset {self.offset(i)}'
            )
        close = self.text.find(">", end)
        if close < 0:
            raise refuse(
                f"can't parse entities: Unclosed start tag at byte offset {self.offset(i)}"
            )
        self.open.append(tag)
        return close + 1

    def _end_tag(self, i: int) -> int:
        if not self.open:
            raise refuse(
                f"can't parse entities: Unexpected end tag at byte offset {self.offset(i)}"
            )
        close = self.text.find(">", i)
        if close < 0:
            raise refuse(f"can't parse entities: Unclosed end tag at byte offset {self.offset(i)}")
        tag = self.text[i + 2 : close].strip().lower()
        expected = self.open.pop()
        if tag and tag != expected:
            raise refuse(
                f"can't parse entities: Unmatched end tag at byte offset {self.offset(i)}, "
                f'expected "</{expected}>", found "</{tag}>"'
            )
        return close + 1


# --- rules of single methods ---------------------------------------------------------------


def _get_updates(params: JSON) -> None:
    _known_update_types(params)


def _set_webhook(params: JSON) -> None:
    url = str(params.get("url") or "")
    if url:
        found = re.match(r"https://[^/:]+(?::(\d+))?(?:/|$)", url)
        if found is None:
            raise refuse("bad webhook: An HTTPS URL must be provided for webhook")
        if int(found.group(1) or 443) not in WEBHOOK_PORTS:
            raise refuse("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    secret = params.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
        raise refuse("secret token contains unallowed characters")
    _known_update_types(params)


def _known_update_types(params: JSON) -> None:
    for kind in params.get("allowed_updates") or []:
        if kind not in UPDATE_TYPES:
            raise refuse(f'allowed_updates contains an unknown update type "{kind}"')


def _commands(params: JSON) -> None:
    commands = params.get("commands") or []
    if len(commands) > 100:
        raise refuse("too many commands: at most 100 can be set")
    for command in commands:
        if not COMMAND.fullmatch(str(command.get("command", ""))):
            raise refuse("BOT_COMMAND_INVALID")
    _language_code(params)


def _language_code(params: JSON) -> None:
    if not LANGUAGE_CODE.fullmatch(str(params.get("language_code") or "")):
        raise refuse("invalid language code specified")


METHOD_RULES: dict[str, Callable[[JSON], None]] = {
    "getUpdates": _get_updates,
    "setWebhook": _set_webhook,
    "setMyCommands": _commands,
    "deleteMyCommands": _language_code,
    "getMyCommands": _language_code,
}
