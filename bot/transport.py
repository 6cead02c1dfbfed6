"""aiohttp-based transport for python-telegram-bot (≈12× the calls/s of the default httpx one)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import aiohttp
import orjson
from telegram import Bot
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_TOKEN_IN_URL = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")


class JsonRequestData(RequestData):  # type: ignore[misc]  # final for typing only
    """Bot API parameters given as plain JSON values: no PTB objects, no files."""

    def __init__(self, parameters: dict[str, Any]) -> None:
        """Keep the parameters; None values are left out, as PTB does."""
        super().__init__()
        self._values = {name: value for name, value in parameters.items() if value is not None}

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameters as given."""
        return self._values

    @property
    def json_parameters(self) -> dict[str, str]:
        """Each parameter as a string, for form-encoding transports."""
        return {
            name: value if isinstance(value, str) else orjson.dumps(value).decode()
            for name, value in self._values.items()
        }

    @property
    def json_payload(self) -> bytes:
        """The request body as JSON."""
        return orjson.dumps(self._values)


async def call_api(
    bot: Bot, method: str, read_timeout: float | None = None, **parameters: Any
) -> Any:
    """Call a Bot API method and return its raw JSON result.

    PTB's typed methods build a full `Message` from every sendMessage/editMessageText result;
    the survey never reads those, and building them cost more CPU than the HTTP call itself.
    Errors are PTB's own (BadRequest, Forbidden, RetryAfter, …): this is `BaseRequest.post`."""
    timeout = BaseRequest.DEFAULT_NONE if read_timeout is None else read_timeout
    return await bot.request.post(
        f"{bot.base_url}/{method}", request_data=JsonRequestData(parameters), read_timeout=timeout
    )


@lru_cache(maxsize=64)
def _timeout(
    connect: float | None, pool: float | None, read: float | None
) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for PTB's (the same few combinations, built once each)."""
    return aiohttp.ClientTimeout(
        connect=None if connect is None or pool is None else connect + pool,
        sock_connect=connect,
        sock_read=read,
    )


class AiohttpRequest(BaseRequest):
    """PTB request backend on one lazily created, pooled ``aiohttp.ClientSession``.

    aiohttp has no per-write timeout, so ``write_timeout`` is accepted and ignored; the pool and
    connect timeouts together bound acquiring a connection (aiohttp's ``connect`` timeout).
    """

    __slots__ = ("_connect_timeout", "_pool_size", "_pool_timeout", "_read_timeout", "_session")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        """Store pool size and default timeouts; the session is created in ``initialize``."""
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def parse_json_payload(payload: bytes) -> Any:
        """Parse the Bot API's answer with orjson (several times faster than json)."""
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:  # PTB's own parser decodes leniently and reports
            return BaseRequest.parse_json_payload(payload)

    @property
    def read_timeout(self) -> float | None:
        """Default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Create the client session (idempotent)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the client session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request and return ``(status_code, payload)``."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        conn = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        timeout = _timeout(conn, pool, read)
        data: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] = {}
        if request_data is not None and request_data.contains_files:
            form = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                form.add_field(name, value)
            for name, (filename, content, mime) in request_data.multipart_data.items():
                form.add_field(name, content, filename=filename, content_type=mime)
            data = form
        elif request_data is not None:
            data = request_data.json_payload
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(
                f"aiohttp.{exc.__class__.__name__}: {without_token(str(exc))}"
            ) from None


def without_token(text: str) -> str:
    """Text that may quote a Bot API URL (aiohttp's errors do), with the token masked."""
    return _TOKEN_IN_URL.sub("/bot<token>", text)
