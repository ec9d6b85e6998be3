"""The LLM layer: one small protocol, and its implementation over the openai SDK.

``OpenAICompatible`` talks to any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
Ollama, a test double). It asks for JSON-schema output, falls back to JSON mode and then to
plain text when the endpoint refuses a response format (remembering what worked), retries
transient failures with tenacity (exponential backoff with jitter, honouring Retry-After),
turns every failure into one ``LLMError`` that names the endpoint and quotes what came back,
counts tokens, and can cache replies on disk so reruns are free and reproducible.
Extracting a JSON object from a reply (``extract_json``) lives here too.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import openai
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception

from orbot.errors import ConfigurationError, LLMError
from orbot.settings import Settings

__all__ = ["Usage", "LLMReply", "LLMClient", "OpenAICompatible", "ask_structured", "extract_json", "SETUP_HELP"]

MODES = ("json_schema", "json_object", "text")

SETUP_HELP = """\
No LLM endpoint is configured. orbot talks to any OpenAI-compatible endpoint; set one of:

  OpenAI:   export OPENAI_API_KEY=sk-...            ORBOT_MODEL defaults to gpt-4o-mini
  vLLM:     export ORBOT_BASE_URL=http://localhost:8000/v1 ORBOT_MODEL=Qwen/Qwen2.5-7B-Instruct
  Ollama:   export ORBOT_BASE_URL=http://localhost:11434/v1 ORBOT_MODEL=qwen2.5:7b

(OPENAI_BASE_URL works in place of ORBOT_BASE_URL; a local server needs no key, or takes ORBOT_LLM_API_KEY.)
Everything without an LLM works now: orbot solve-formulation, orbot codegen, orbot schema."""

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
CONNECT_TIMEOUT = 10.0  # seconds to open a connection (the reply itself may take ORBOT_LLM_TIMEOUT)
CONNECT_RETRY_WAIT = 0.5  # seconds before the one retry a failed connection gets


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens

    def to_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens}


@dataclass
class LLMReply:
    content: str
    finish_reason: str | None
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    mode: str = "json_schema"
    requests: int = 1  # HTTP requests made for this reply, retries and format fallbacks included
    cached: bool = False


class LLMClient(Protocol):
    """What the agent needs from an LLM."""

    model: str

    def complete(self, messages: list[dict[str, str]], *, schema: dict | None = None,
                 temperature: float | None = None, sample: int = 0) -> LLMReply: ...


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                        openai.InternalServerError)):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in (408, 409) or exc.status_code >= 500)


class _Exhausted(Exception):
    """An SDK error that retrying did not cure, with the requests it took."""

    def __init__(self, error: openai.APIError, tries: int):
        self.error, self.tries = error, tries
        super().__init__(str(error))


class OpenAICompatible:
    """An ``LLMClient`` over the openai SDK; the SDK's own retries are off so every try is counted here.

    Every failure becomes one ``LLMError`` naming the endpoint, with a ``kind`` (see orbot.errors)."""

    def __init__(self, settings: Settings, model: str | None = None):
        base_url = settings.base_url
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        if not base_url and not api_key:
            raise ConfigurationError(SETUP_HELP)
        chosen = model or settings.model or (DEFAULT_OPENAI_MODEL if not base_url else None)
        if not chosen:
            raise ConfigurationError("ORBOT_MODEL is not set: name the model your endpoint serves.\n\n" + SETUP_HELP)
        self.model: str = chosen
        self.settings = settings
        # a server that does not accept a connection in seconds is not there; only the reply may take long
        self._connect_timeout = min(settings.llm_timeout, CONNECT_TIMEOUT)
        self._client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url, max_retries=0,
                                     timeout=openai.Timeout(settings.llm_timeout, connect=self._connect_timeout))
        self.endpoint = str(self._client.base_url).rstrip("/")
        self._secret = api_key
        self._mode = MODES[0]
        self._token_parameter = "max_tokens"  # reasoning models want max_completion_tokens instead
        self._send_temperature = True  # and some accept only their default temperature
        self._lock = threading.Lock()
        self._cache = Path(settings.cache_dir) if settings.cache_dir else None

    def complete(self, messages: list[dict[str, str]], *, schema: dict | None = None,
                 temperature: float | None = None, sample: int = 0) -> LLMReply:
        temperature = self.settings.temperature if temperature is None else temperature
        key = self._cache_key(messages, schema, temperature, sample)
        cached = self._read_cache(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        requests = 0
        mode = self._mode if schema is not None else "text"
        while True:
            try:
                http, tries = self._create(messages, mode, schema, temperature)
                requests += tries
                break
            except _Exhausted as failed:
                requests += failed.tries
                exc = failed.error
                if not isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)):
                    raise self._failure(exc, requests) from None
                if self._adapt(str(exc)):
                    continue  # a parameter this model does not take: sent differently from now on
                said = _said(exc.response.text)
                if _LENGTH_ERROR.search(str(exc)):
                    raise self._error("rejected", f"{self.endpoint} rejected the request's size: {said}; lower "
                                      "ORBOT_MAX_TOKENS (the reply budget) or use a model with a longer context",
                                      requests, said) from None
                if mode == "text":
                    raise self._failure(exc, requests) from None
                mode = MODES[MODES.index(mode) + 1]  # the endpoint refused this response format
                with self._lock:
                    if MODES.index(mode) > MODES.index(self._mode):
                        self._mode = mode
        content, finish_reason, usage = self._read_completion(http, requests)
        reply = LLMReply(content=content, finish_reason=finish_reason, usage=usage,
                         seconds=time.perf_counter() - started, mode=mode, requests=requests)
        self._write_cache(key, reply)
        return reply

    def _adapt(self, message: str) -> bool:
        """Follow a 400 that names a parameter the model refuses; True if something changed."""
        lowered = message.lower()
        with self._lock:
            if "max_completion_tokens" in lowered and self._token_parameter == "max_tokens":
                self._token_parameter = "max_completion_tokens"
                return True
            if "temperature" in lowered and ("unsupported" in lowered or "does not support" in lowered) \
                    and self._send_temperature:
                self._send_temperature = False
                return True
        return False

    def _create(self, messages: list[dict[str, str]], mode: str, schema: dict | None,
                temperature: float) -> tuple[Any, int]:
        """The raw HTTP response of one successful request, and the requests it took."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages,
                                  self._token_parameter: self.settings.max_tokens}
        if self._send_temperature:
            kwargs["temperature"] = temperature
        if mode == "json_schema":
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "formulation", "schema": schema, "strict": False}}
        elif mode == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        retrying = Retrying(retry=retry_if_exception(_transient), wait=self._wait, stop=self._stop, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    # raw: the body is read here, so a reply that is not a chat completion can be shown as it came
                    raw = self._client.chat.completions.with_raw_response.create(**kwargs)
        except openai.APIError as exc:
            raise _Exhausted(exc, retrying.statistics.get("attempt_number", 1)) from None
        return raw.http_response, retrying.statistics.get("attempt_number", 1)

    def _stop(self, state: RetryCallState) -> bool:
        """ORBOT_LLM_RETRIES retries; a failed connection gets one quick retry, a failed TLS handshake none."""
        budget = self.settings.llm_retries + 1
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and _connect_failure(exc):
            budget = min(budget, 1 if _cause(exc, ssl.SSLError) else 2)
        return state.attempt_number >= budget

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server says (capped at a minute), else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        base = self.settings.llm_backoff
        if exc is not None and _connect_failure(exc):
            return min(base, CONNECT_RETRY_WAIT)
        response = getattr(exc, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        if header is not None:
            try:
                return min(max(float(header), 0.0), 60.0)
            except ValueError:
                pass
        return min(base * 2 ** (state.attempt_number - 1), 30.0 * base) + random.uniform(0, base)

    # --- what went wrong ------------------------------------------------------------------------
    def _read_completion(self, http: Any, requests: int) -> tuple[str, str | None, Usage]:
        """Content, finish reason and usage of a 200 reply; an LLMError quoting it if it is no chat completion."""
        data = _parse(http.text)
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(choices, list) or not all(
                isinstance(c, dict) and isinstance(c.get("message"), dict)
                and isinstance(c["message"].get("content"), (str, type(None))) for c in choices):
            content_type = http.headers.get("content-type", "no content-type")
            raise self._error("bad_reply", f"{self.endpoint} does not speak chat-completions: it answered HTTP "
                              f"{http.status_code} ({content_type}): {_start(http.text)}; check ORBOT_BASE_URL (an "
                              "OpenAI-compatible server's URL usually ends in /v1)", requests, _start(http.text))
        choice = choices[0] if choices else {"message": {}}
        usage = data.get("usage")
        tokens = (usage.get("prompt_tokens"), usage.get("completion_tokens")) if isinstance(usage, dict) else (0, 0)
        return (choice["message"].get("content") or "", choice.get("finish_reason"),
                Usage(*(t if isinstance(t, int) else 0 for t in tokens)))

    def _failure(self, exc: openai.APIError, requests: int) -> LLMError:
        """One SDK error after its retries, translated: what failed, where, what came back, what to check."""
        where = self.endpoint
        tried = f" after {requests} tries" if requests > 1 else ""
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            said = _said(exc.response.text)
            kind, hint = _STATUS.get(status) or (("server", "") if status >= 500 else ("rejected", ""))
            if kind == "auth":
                hint = ("check the key in ORBOT_LLM_API_KEY (or OPENAI_API_KEY)" if self._secret else
                        "no key is set: put one in ORBOT_LLM_API_KEY (or OPENAI_API_KEY)")
            return self._error(kind, f"{where} answered HTTP {status}{tried}: {said}" + (f"; {hint}" if hint else ""),
                               requests, said)
        reason = _reason(exc)
        if _cause(exc, ssl.SSLError):
            return self._error("unreachable", f"cannot reach {where}: the TLS handshake failed: {reason} (an "
                               "https URL for a plain-http server, or a certificate this machine does not trust)",
                               requests)
        if _connect_failure(exc):
            if isinstance(exc, openai.APITimeoutError):
                reason = f"no connection within {self._connect_timeout:g} s"
            return self._error("unreachable", f"cannot reach {where}: {reason}; is the server running, and is "
                               "ORBOT_BASE_URL right?", requests)
        if isinstance(exc, openai.APITimeoutError):
            return self._error("timeout", f"{where} sent no reply within {self.settings.llm_timeout:g} s "
                               f"(ORBOT_LLM_TIMEOUT){tried}", requests)
        if isinstance(exc, openai.APIConnectionError):
            return self._error("server", f"{where} dropped the connection: {reason}", requests)
        return self._error("bad_reply", f"{where} gave a reply that could not be read: {_start(str(exc))}", requests)

    def _error(self, kind: str, message: str, requests: int, said: str | None = None) -> LLMError:
        """An LLMError with the key, should an endpoint echo it, blanked out."""
        if self._secret and len(self._secret) >= 4:
            message = message.replace(self._secret, "***")
            said = said.replace(self._secret, "***") if said is not None else None
        return LLMError(message, kind=kind, endpoint=self.endpoint, attempts=requests, last_reply=said)

    # --- cache ----------------------------------------------------------------------------------
    def _cache_key(self, messages: list, schema: dict | None, temperature: float, sample: int) -> str:
        blob = json.dumps({"model": self.model, "base_url": self.settings.base_url, "messages": messages,
                           "schema": schema, "temperature": temperature, "max_tokens": self.settings.max_tokens,
                           "sample": sample}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _read_cache(self, key: str) -> LLMReply | None:
        if self._cache is None:
            return None
        path = self._cache / f"{key}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return LLMReply(content=data["content"], finish_reason=data["finish_reason"],
                        usage=Usage(**data["usage"]), seconds=0.0, mode=data["mode"], requests=0, cached=True)

    def _write_cache(self, key: str, reply: LLMReply) -> None:
        if self._cache is None or reply.finish_reason == "length":
            return
        self._cache.mkdir(parents=True, exist_ok=True)
        path = self._cache / f"{key}.json"
        temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps({"content": reply.content, "finish_reason": reply.finish_reason,
                                         "usage": {"prompt_tokens": reply.usage.prompt_tokens,
                                                   "completion_tokens": reply.usage.completion_tokens},
                                         "mode": reply.mode}))
        temporary.replace(path)  # atomic: concurrent runs never read half a file


# HTTP statuses with a kind other than the default (5xx: server; 4xx: rejected) or worth a hint
_STATUS: dict[int, tuple[str, str]] = {
    401: ("auth", ""), 403: ("auth", ""),
    404: ("rejected", "check ORBOT_BASE_URL (an OpenAI-compatible server's URL usually ends in /v1) and ORBOT_MODEL"),
    408: ("timeout", ""), 504: ("timeout", "the endpoint's gateway gave up waiting; try again, or a smaller model"),
    429: ("rejected", "a rate limit or an exhausted quota; try again later, or lower ORBOT_SAMPLES"),
}


def _start(text: str, limit: int = 200) -> str:
    """The start of what came back, on one line: enough to recognise a proxy's page or another API."""
    line = " ".join(text.split())
    if not line:
        return "(an empty body)"
    return line if len(line) <= limit else line[:limit] + "..."


def _parse(body: str) -> Any:
    """A body's JSON value, or None when it is not JSON (a proxy's page, say)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _said(body: str) -> str:
    """An error body's own message (OpenAI's {"error": {"message": ...}}), else the start of the body."""
    data = _parse(body)
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return _start(message if isinstance(message, str) and message else body)


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _cause(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(link, kind) for link in _chain(exc))


def _connect_failure(exc: BaseException) -> bool:
    """No connection was made (refused, unknown host, TLS, connect timeout): nothing reached the server."""
    # by class name: the SDK may run over httpx or httpx2, which both name their connect errors so
    return any(type(link).__name__ in ("ConnectError", "ConnectTimeout") or isinstance(link, ssl.SSLError)
               for link in _chain(exc))


def _reason(exc: BaseException) -> str:
    """The innermost message of a connection error ("[Errno 111] Connection refused"), not the SDK's wrapper."""
    messages = [str(link) for link in _chain(exc)[1:] if str(link)]
    return _start(messages[-1] if messages else str(exc))


_LENGTH_ERROR = re.compile(r"context.length|maximum context|too many tokens|context window|token limit|"
                           r"reduce the length", re.I)
_FORMULATION_KEYS = {"variables", "objective", "constraints", "sets", "parameters", "formulation"}
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.S)


def extract_json(text: str) -> dict:
    """The formulation object in a reply: the whole reply, a fenced block, or the first {...} in prose.

    Raises ValueError saying what was wrong, for the feedback to the LLM."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("the reply was empty")
    candidates = [stripped] + [block.strip() for block in _FENCE.findall(text)]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    position = stripped.find("{")
    first_error = None
    for _ in range(20):  # a few starts only: a long truncated reply must not cost quadratic time
        if position == -1:
            break
        try:
            value, _ = decoder.raw_decode(stripped, position)
            if isinstance(value, dict) and _FORMULATION_KEYS & value.keys():
                return value
        except (ValueError, RecursionError) as exc:
            first_error = first_error or exc
        position = stripped.find("{", position + 1)
    if first_error is not None:
        raise ValueError(f"the reply is not valid JSON: {first_error}")
    raise ValueError("the reply contains no JSON object")


_Reply = TypeVar("_Reply", bound=BaseModel)


@lru_cache(maxsize=16)
def _reply_schema(model: type[BaseModel]) -> dict:
    return model.model_json_schema()


def ask_structured(llm: LLMClient, messages: list[dict[str, str]], model: type[_Reply], *, temperature: float,
                   sample: int = 0) -> tuple[_Reply | None, LLMReply | None, str | None]:
    """One call whose reply must be a ``model``: (the parsed reply, the raw reply, an error). Never raises."""
    try:
        reply = llm.complete(messages, schema=_reply_schema(model), temperature=temperature, sample=sample)
    except LLMError as exc:
        return None, None, str(exc)
    try:
        return model.model_validate(extract_json(reply.content)), reply, None
    except (ValueError, ValidationError) as exc:
        return None, reply, f"the reply could not be read: {str(exc).splitlines()[0]}"
