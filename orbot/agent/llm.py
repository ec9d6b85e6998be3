"""The LLM layer: one small protocol, and its implementation over the openai SDK.

``OpenAICompatible`` talks to any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
Ollama, a test double). It asks for JSON-schema output, falls back to JSON mode and then to
plain text when the endpoint refuses a response format (remembering what worked), retries
transient failures with tenacity (exponential backoff with jitter, honouring Retry-After),
counts tokens, and can cache replies on disk so reruns are free and reproducible.
Extracting a JSON object from a reply (``extract_json``) lives here too.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import openai
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

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


class OpenAICompatible:
    """An ``LLMClient`` over the openai SDK; the SDK's own retries are off so every try is counted here."""

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
        self._client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url,
                                     timeout=settings.llm_timeout, max_retries=0)
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
                response, tries = self._create(messages, mode, schema, temperature)
                requests += tries
                break
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                requests += 1
                if self._adapt(str(exc)):
                    continue  # a parameter this model does not take: sent differently from now on
                if _LENGTH_ERROR.search(str(exc)):
                    raise LLMError(f"the endpoint rejected the request's size: {_short(exc)}; lower ORBOT_MAX_TOKENS "
                                   "(the reply budget) or use a model with a longer context",
                                   attempts=requests) from None
                if mode == "text":
                    raise LLMError(f"the endpoint rejected the request: {_short(exc)}", attempts=requests) from None
                mode = MODES[MODES.index(mode) + 1]  # the endpoint refused this response format
                with self._lock:
                    if MODES.index(mode) > MODES.index(self._mode):
                        self._mode = mode
            except openai.APIError as exc:
                raise LLMError(f"LLM request failed: {_short(exc)}", attempts=requests + 1) from None
        choice = response.choices[0] if response.choices else None
        content = (choice.message.content or "") if choice is not None else ""
        usage = Usage(getattr(response.usage, "prompt_tokens", 0) or 0,
                      getattr(response.usage, "completion_tokens", 0) or 0) if response.usage else Usage()
        reply = LLMReply(content=content, finish_reason=choice.finish_reason if choice else None, usage=usage,
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
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages,
                                  self._token_parameter: self.settings.max_tokens}
        if self._send_temperature:
            kwargs["temperature"] = temperature
        if mode == "json_schema":
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "formulation", "schema": schema, "strict": False}}
        elif mode == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        retrying = Retrying(retry=retry_if_exception(_transient), wait=self._wait,
                            stop=stop_after_attempt(self.settings.llm_retries + 1), reraise=True)
        for attempt in retrying:
            with attempt:
                response = self._client.chat.completions.create(**kwargs)
        return response, retrying.statistics.get("attempt_number", 1)

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server says (capped at a minute), else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        response = getattr(exc, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        if header is not None:
            try:
                return min(max(float(header), 0.0), 60.0)
            except ValueError:
                pass
        base = self.settings.llm_backoff
        return min(base * 2 ** (state.attempt_number - 1), 30.0 * base) + random.uniform(0, base)

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


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


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
