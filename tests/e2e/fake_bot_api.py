"""A local Telegram Bot API emulator for tests: users send and press, the bot calls methods.

`FakeBotApi` keeps chats, messages, updates and uploaded files in memory and answers the Bot API
methods the vinylprice bot uses, with Telegram's own checks where bugs hide: HTML that Telegram
cannot parse, button data over 64 bytes, "message is not modified", callback queries answered
twice, unknown files. `serve()` puts it on 127.0.0.1 over HTTP (`{root}/bot<token>/<method>` and
`{root}/file/bot<token>/<path>`), so a real PTB Application can poll it, or, once the bot calls
setWebhook, receive each update as a POST with the secret header; `route()` is the same entry
point without sockets, for handler unit tests.
"""

from __future__ import annotations

import asyncio
import copy
import email.parser
import email.policy
import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from PIL import Image

T = TypeVar("T")
TOKEN = "123456:TEST-token-for-the-emulator"
BOT_ID = 123456
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_TEXT_CHARS = 4096
MAX_CALLBACK_BYTES = 64
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                "span", "tg-spoiler", "blockquote", "tg-emoji"}
# PTB sends str values as they are and json-dumps everything else; these stay strings.
STRING_FIELDS = {"text", "caption", "parse_mode", "action", "callback_query_id", "file_id",
                 "url", "secret_token", "inline_message_id", "business_connection_id"}


class ApiError(Exception):
    """A Bot API error reply: HTTP status and Telegram's description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class _Server(ThreadingHTTPServer):
    # Twenty users at once open more connections than socketserver's default backlog of 5.
    request_queue_size = 128
    daemon_threads = True


class FakeBotApi:
    """In-memory Bot API for one bot; thread-safe, because the HTTP server runs in threads."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "vinylprice",
                         "username": "vinylprice_test_bot", "can_join_groups": False,
                         "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.commands: list[dict[str, Any]] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.downloads: list[str] = []
        self._condition = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._chats: dict[int, dict[int, dict[str, Any]]] = {}
        self._files: dict[str, tuple[bytes, str]] = {}
        self._counter = 0
        self._closed = False
        self._server: _Server | None = None
        self.root_url: str | None = None
        self.webhook: dict[str, Any] | None = None
        self.webhook_statuses: list[int] = []

    # ----- the user's side: what tests do -----

    def send_text(self, user_id: int, text: str, reply_to: int | None = None) -> dict[str, Any]:
        """The user sends text (a command when it starts with '/'), optionally as a reply."""
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._user_message(user_id, fields, reply_to)

    def send_photo(self, user_id: int, data: bytes, file_size: int | None = None) -> dict[str, Any]:
        """The user sends a photo; Telegram offers a thumbnail and the full size."""
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            thumbnail = image.convert("RGB")
            thumbnail.thumbnail((90, 90))
            buffer = io.BytesIO()
            thumbnail.save(buffer, "JPEG")
        sizes = [
            self._photo_size(buffer.getvalue(), thumbnail.width, thumbnail.height, None),
            self._photo_size(data, width, height, file_size),
        ]
        return self._user_message(user_id, {"photo": sizes})

    def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str | None,
        mime_type: str | None,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a file; `file_size` may claim more than `data` holds (huge files)."""
        file_id = self._store_file(data, "documents")
        document = {"file_id": file_id, "file_unique_id": f"u{file_id}",
                    "file_size": file_size if file_size is not None else len(data)}
        if file_name is not None:
            document["file_name"] = file_name
        if mime_type is not None:
            document["mime_type"] = mime_type
        return self._user_message(user_id, {"document": document})

    def send_sticker(self, user_id: int) -> dict[str, Any]:
        """The user sends a sticker."""
        sticker = {"file_id": self._store_file(b"sticker", "stickers"), "file_unique_id": "st",
                   "type": "regular", "width": 512, "height": 512, "is_animated": False,
                   "is_video": False}
        return self._user_message(user_id, {"sticker": sticker})

    def press(self, user_id: int, message_id: int, data: str) -> str:
        """The user presses the inline button with callback `data` under a bot message."""
        with self._condition:
            message = self._chats[user_id][message_id]
            buttons = [button for row in message.get("reply_markup", {}).get("inline_keyboard", [])
                       for button in row]
            if data not in [button.get("callback_data") for button in buttons]:
                raise AssertionError(f"No button with data {data!r} under message {message_id}.")
            self._counter += 1
            query_id = f"cb{self._counter}"
            self._push({"callback_query": {"id": query_id, "from": self._user(user_id),
                                           "message": copy.deepcopy(message),
                                           "chat_instance": f"ci{user_id}", "data": data}})
        return query_id

    def take_updates(self) -> list[dict[str, Any]]:
        """Remove and return the pending updates (for tests that feed the bot directly)."""
        with self._condition:
            updates, self._updates = self._updates, []
            return updates

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat, as they look now (edits applied), oldest first."""
        with self._condition:
            messages = self._chats.get(chat_id, {}).values()
            return [copy.deepcopy(m) for m in messages if m["from"]["id"] == self.bot_user["id"]]

    def calls_of(self, method: str, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Parameters of every call to `method` (optionally only those for `chat_id`)."""
        with self._condition:
            return [params for name, params in self.calls if name == method
                    and (chat_id is None or params.get("chat_id") == chat_id)]

    async def wait_for(self, what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
        """Wait (without blocking the event loop) until `check()` returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            await asyncio.sleep(0.02)
        recent = [name for name, _ in self.calls[-10:]]
        raise AssertionError(f"Gave up after {timeout:.0f} s waiting for {what}; "
                             f"last bot calls: {recent}.")

    # ----- the bot's side: the Bot API -----

    def route(self, http_method: str, path: str, params: dict[str, Any]) -> tuple[int, bytes, str]:
        """Answer one request by path: a Bot API method or a file download."""
        parts = path.lstrip("/").split("/", 2)
        if len(parts) >= 2 and parts[0] == "file" and parts[1] == f"bot{self.token}":
            return self._download(parts[2] if len(parts) == 3 else "")
        if len(parts) != 2 or parts[0] != f"bot{self.token}":
            return _json_reply(401, {"ok": False, "error_code": 401,
                                     "description": "Unauthorized"})

        method = parts[1]
        try:
            result = self._call(method, params)
        except ApiError as error:
            return _json_reply(error.status, {"ok": False, "error_code": error.status,
                                              "description": error.description})
        return _json_reply(200, {"ok": True, "result": result})

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        if method.lower() != "getupdates":
            with self._condition:
                self.calls.append((method, params))
        return handler(params)

    def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    def _api_setwebhook(self, params: dict[str, Any]) -> bool:
        if not str(params.get("url", "")).startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        return True

    def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        self.commands = list(params.get("commands", []))
        return True

    def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self._condition:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            return copy.deepcopy(self._updates[:limit])

    def _api_sendchataction(self, params: dict[str, Any]) -> bool:
        self._chat(params)
        return True

    def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        fields = {"text": _message_text(params)}
        markup = _checked_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" in markup:
            fields["reply_markup"] = markup
        with self._condition:
            message = self._new_message(chat_id, self.bot_user, fields)
            reply_to = (params.get("reply_parameters") or {}).get("message_id")
            if reply_to in self._chats[chat_id]:
                message["reply_to_message"] = _without_reply(self._chats[chat_id][reply_to])
            return copy.deepcopy(message)

    def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        text = _message_text(params)
        markup = _checked_markup(params.get("reply_markup"))
        with self._condition:
            message = self._chats[chat_id].get(int(params.get("message_id") or 0))
            if message is None or message["from"]["id"] != self.bot_user["id"]:
                raise ApiError(400, "Bad Request: message to edit not found")
            if message["text"] == text and message.get("reply_markup") == markup:
                raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                    "content and reply markup are exactly the same as a current "
                                    "content and reply markup of the message")
            message["text"] = text
            message.pop("reply_markup", None)
            if markup is not None:
                message["reply_markup"] = markup
            message["edit_date"] = int(time.time())
            return copy.deepcopy(message)

    def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id"))
        with self._condition:
            if query_id in self.callback_answers:
                raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                    "or query ID is invalid")
            self.callback_answers[query_id] = params
        return True

    def _api_getfile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id"))
        with self._condition:
            if file_id not in self._files:
                raise ApiError(400, "Bad Request: invalid file_id")
            data, path = self._files[file_id]
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data),
                "file_path": path}

    # ----- HTTP -----

    def serve(self) -> str:
        """Start serving on 127.0.0.1 (a free port) in a thread; returns the API root URL."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                params = dict(parse_qsl(url.query))
                try:
                    params.update(_parse_body(self.headers.get("Content-Type") or "", body))
                except ApiError as error:
                    status, payload, content_type = _json_reply(
                        error.status,
                        {"ok": False, "error_code": error.status, "description": str(error)},
                    )
                else:
                    status, payload, content_type = api.route(
                        self.command, unquote(url.path), _decode_values(params)
                    )
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the bot hung up mid long poll while shutting down

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        host, port = self._server.server_address[:2]
        self.root_url = f"http://{host}:{port}"
        return self.root_url

    def close(self) -> None:
        """Wake any long poll and stop the HTTP server."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ----- internals -----

    def _download(self, file_path: str) -> tuple[int, bytes, str]:
        with self._condition:
            for data, path in self._files.values():
                if path == file_path:
                    self.downloads.append(path)
                    return 200, data, "application/octet-stream"
        return _json_reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    def _user_message(
        self, user_id: int, fields: dict[str, Any], reply_to: int | None = None
    ) -> dict[str, Any]:
        with self._condition:
            chat = self._chats.setdefault(user_id, {})
            if reply_to is not None:
                fields["reply_to_message"] = _without_reply(chat[reply_to])
            message = self._new_message(user_id, self._user(user_id), fields)
            self._push({"message": copy.deepcopy(message)})
            return copy.deepcopy(message)

    def _new_message(
        self, chat_id: int, sender: dict[str, Any], fields: dict[str, Any]
    ) -> dict[str, Any]:
        chat = self._chats.setdefault(chat_id, {})
        message_id = max(chat, default=0) + 1
        chat[message_id] = {"message_id": message_id, "date": int(time.time()),
                            "chat": {"id": chat_id, "type": "private",
                                     "first_name": f"User {chat_id}"},
                            "from": sender, **fields}
        return chat[message_id]

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        if self.webhook is None:
            self._updates.append(update)
            self._condition.notify_all()
            return
        threading.Thread(target=self._deliver, args=(dict(self.webhook), update)).start()

    def _deliver(self, webhook: dict[str, Any], update: dict[str, Any]) -> None:
        """POST one update to the webhook, as Telegram does, and record the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if webhook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook["secret_token"]
        request = urllib.request.Request(
            webhook["url"], data=json.dumps(update).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = 0
        with self._condition:
            self.webhook_statuses.append(status)

    def _chat(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        with self._condition:
            if not isinstance(chat_id, int) or chat_id not in self._chats:
                raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _store_file(self, data: bytes, folder: str) -> str:
        with self._condition:
            self._counter += 1
            file_id = f"file{self._counter}"
            self._files[file_id] = (data, f"{folder}/{file_id}")
        return file_id

    def _photo_size(
        self, data: bytes, width: int, height: int, file_size: int | None
    ) -> dict[str, Any]:
        file_id = self._store_file(data, "photos")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": width,
                "height": height, "file_size": file_size if file_size is not None else len(data)}

    @staticmethod
    def _user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}


class _TelegramHtml(HTMLParser):
    """Telegram's HTML parse mode: allowed tags only, properly nested; collects the plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise ApiError(400, f"Bad Request: can't parse entities: unsupported start tag {tag}")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            raise ApiError(400, f"Bad Request: can't parse entities: unmatched end tag {tag}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _message_text(params: dict[str, Any]) -> str:
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if str(params.get("parse_mode", "")).upper() == "HTML":
        parser = _TelegramHtml()
        parser.feed(text)
        parser.close()
        if parser.open:
            raise ApiError(400, f"Bad Request: can't parse entities: unclosed {parser.open[-1]}")
        text = "".join(parser.text)
    if len(text) > MAX_TEXT_CHARS:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def _checked_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None:
        return None
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if not button.get("text"):
                raise ApiError(400, "Bad Request: inline keyboard button text is empty")
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_BYTES:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _without_reply(message: dict[str, Any]) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in message.items()
            if key != "reply_to_message"}


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return json.loads(body)
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode()))
    if content_type.startswith("multipart/form-data"):
        header = f"Content-Type: {content_type}\r\n\r\n".encode()
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
        fields: dict[str, Any] = {}
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[name] = payload if part.get_filename() else payload.decode()
        return fields
    raise ApiError(400, f"Bad Request: unsupported content type {content_type}")


def _decode_values(params: dict[str, Any]) -> dict[str, Any]:
    decoded = {}
    for key, value in params.items():
        if isinstance(value, str) and key not in STRING_FIELDS:
            try:
                value = json.loads(value)
            except ValueError:
                pass
        decoded[key] = value
    return decoded


def _json_reply(status: int, body: dict[str, Any]) -> tuple[int, bytes, str]:
    return status, json.dumps(body).encode(), "application/json"
