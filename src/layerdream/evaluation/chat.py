"""A small, careful client for OpenAI-compatible chat-completions endpoints (OpenAI, vLLM, Ollama,
llama.cpp, LM Studio), shared by the ``openai`` judge and the LLM grader.

Why our own retry loop instead of the SDK's (``max_retries=0`` there): we must *count* retries,
turn the final failure into a recorded error with its reason instead of an exception that would kill a
sweep of thousands of queries, and tell "the judge is down" (one clear UserError after a first probe)
apart from "some requests failed" (recorded, the run goes on).

The API key lives only in this object's memory: it is read from an environment variable, never put in
an id, a log line, an error message (errors are redacted) or any file.
"""
from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable, Coroutine, Sequence, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..errors import UserError

T = TypeVar("T")
DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass
class ChatResult:
    text: str | None
    error: str | None = None
    retries: int = 0
    kind: str = "ok"  # ok | empty | malformed | connection | timeout | status:<code> | rate_limit | server


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when the caller already has an event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def public_url(url: str) -> str:
    """The URL without credentials or query string, safe for ids, logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class ChatClient:
    """Bounded-concurrency chat completions with retries on 429/5xx/timeouts/connection errors, and on
    a 200 whose body is malformed (no JSON, no choices), empty, or rejected by the caller's ``accept``.

    A flaky proxy that truncates one body in five is a transient fault like a 502; not retrying it
    failed 275 of 480 queries (issue 19 item 13). Retries are bounded by ``max_retries`` and counted
    (``retry_count``, and per result). Not retried: an empty answer with ``finish_reason=length``
    (the same request would spend the same tokens again; the error says to raise the limit).
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_completion_tokens: int | None = None,
        temperature: float | None = None,
        reasoning_effort: str | None = None,
        extra_body: dict[str, Any] | None = None,
        role: str = "judge",
        flag_prefix: str = "--judge",
    ) -> None:
        import os

        if not model:
            raise UserError(f"the {role} needs a model name; pass {flag_prefix}-model (e.g. gpt-5, or the name your server serves)")
        self.model = model
        self.base_url = base_url or DEFAULT_BASE_URL
        self.api_key_env = api_key_env
        key = os.environ.get(api_key_env) or None
        if key is None and public_url(self.base_url) == DEFAULT_BASE_URL:
            raise UserError(f"no API key for the {role}: set {api_key_env} (or name another variable with {flag_prefix}-api-key-env)")
        # Local servers (vLLM, Ollama) accept any key; the SDK insists on one.
        self._api_key = key or "not-needed"
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        self.max_completion_tokens = max_completion_tokens
        self.temperature = temperature
        self.reasoning_effort = reasoning_effort
        self.extra_body = extra_body
        self.role = role
        self.flag_prefix = flag_prefix
        self.retry_count = 0  # total over the client's life, for the run summary

    def __repr__(self) -> str:  # never show the key
        return f"ChatClient(model={self.model!r}, base_url={public_url(self.base_url)!r})"

    def settings(self) -> dict[str, Any]:
        """What was sent besides the messages (method.md f #15: log the GPT-5 settings)."""
        return {
            "model": self.model, "base_url": public_url(self.base_url), "max_completion_tokens": self.max_completion_tokens,
            "temperature": self.temperature, "reasoning_effort": self.reasoning_effort, "timeout": self.timeout,
            "max_retries": self.max_retries,
        }

    def _redact(self, text: str) -> str:
        if self._api_key and self._api_key != "not-needed":
            text = text.replace(self._api_key, "***")
        return text[:500]

    def _request_kwargs(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        # GPT-5 rejects max_tokens and any temperature but 1: send only what the user set.
        if self.max_completion_tokens is not None:
            kwargs["max_completion_tokens"] = int(self.max_completion_tokens)
        if self.temperature is not None:
            kwargs["temperature"] = float(self.temperature)
        if self.reasoning_effort is not None:
            kwargs["reasoning_effort"] = self.reasoning_effort
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        return kwargs

    def _classify(self, err: BaseException) -> tuple[str, bool, float | None]:
        """(kind, retryable, server-requested delay)."""
        import openai

        if isinstance(err, openai.APITimeoutError):
            return "timeout", True, None
        if isinstance(err, openai.APIConnectionError):
            return "connection", True, None
        if isinstance(err, openai.APIStatusError):
            code = err.status_code
            delay = None
            try:
                delay = float(err.response.headers.get("retry-after", ""))
            except (TypeError, ValueError):
                pass
            if code == 429:
                return "rate_limit", True, delay
            if code >= 500:
                return "server", True, delay
            return f"status:{code}", False, None
        # a 200 the SDK could not decode (truncated JSON, a proxy's HTML page): transient, like a 5xx
        return "malformed", True, None

    async def _one(self, client: Any, sem: asyncio.Semaphore, messages: list[dict[str, Any]], retry_connection: bool,
                   accept: Callable[[str], str | None] | None = None) -> ChatResult:
        retries = 0
        while True:
            async with sem:
                try:
                    response = await client.chat.completions.create(**self._request_kwargs(messages))
                except Exception as err:  # noqa: BLE001 - every failure becomes a recorded reason
                    kind, retryable, delay = self._classify(err)
                    reason = f"{kind}: {type(err).__name__}: {self._redact(str(err))}"
                else:
                    result = self._parse(response, retries)
                    if result.error is None and accept is not None:
                        problem = accept(result.text or "")
                        if problem:
                            result = ChatResult(result.text, f"malformed: {problem}", retries, "malformed")
                    if result.kind not in ("malformed", "empty"):
                        return result
                    kind, retryable, delay, reason = result.kind, True, None, result.error or result.kind
                    if retries >= self.max_retries:
                        if retries:
                            result.error = f"{result.error} (after {retries} retries)"
                        return result
            if kind == "connection" and not retry_connection:
                retryable = False
            if not retryable or retries >= self.max_retries:
                note = f" (after {retries} retries)" if retries else ""
                return ChatResult(None, reason + note, retries, kind)
            wait = self.backoff * (2**retries) * (1 + 0.25 * random.random())
            if delay is not None:
                wait = max(wait, min(delay, 60.0))
            retries += 1
            self.retry_count += 1
            await asyncio.sleep(min(wait, 120.0))

    def _parse(self, response: Any, retries: int) -> ChatResult:
        """A 200 can still be garbage (no choices, null content, reasoning ate all tokens)."""
        try:
            choice = response.choices[0]
            content = choice.message.content
            finish = getattr(choice, "finish_reason", None)
        except Exception as err:  # noqa: BLE001
            return ChatResult(None, f"malformed: response without choices/message ({type(err).__name__})", retries, "malformed")
        if not isinstance(content, str) or not content.strip():
            hint = " (raise --judge-max-tokens: reasoning models spend them before answering)" if finish == "length" else ""
            kind = "length" if finish == "length" else "empty"  # "length": the same request would fail the same way
            return ChatResult("" if content is None else str(content), f"empty: no answer text, finish_reason={finish}{hint}", retries, kind)
        return ChatResult(content.strip(), None, retries)

    async def _run(self, message_lists: Sequence[list[dict[str, Any]]], progress: bool,
                   accept: Callable[[str], str | None] | None = None) -> list[ChatResult]:
        import openai

        client = openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key, timeout=self.timeout, max_retries=0)
        sem = asyncio.Semaphore(self.concurrency)
        results: list[ChatResult | None] = [None] * len(message_lists)
        try:
            # Probe: the first few requests alone, connection errors not retried, so a server that is
            # not there is reported in a second instead of after thousands of failed requests.
            n_probe = min(self.concurrency, len(message_lists))
            probe = await asyncio.gather(*(self._one(client, sem, m, False, accept) for m in message_lists[:n_probe]))
            self._check_probe(probe)
            for i, res in enumerate(probe):
                if res.kind != "connection":
                    results[i] = res
            todo = [i for i, r in enumerate(results) if r is None]
            bar = _progress_bar(len(message_lists), progress, self.role)
            bar.update(len(message_lists) - len(todo))

            async def job(i: int) -> None:
                results[i] = await self._one(client, sem, message_lists[i], True, accept)
                bar.update(1)

            await asyncio.gather(*(job(i) for i in todo))
            bar.close()
        finally:
            await client.close()
        return [r if r is not None else ChatResult(None, "internal: no result", 0, "malformed") for r in results]

    def _check_probe(self, probe: list[ChatResult]) -> None:
        if not probe:
            return
        kinds = {r.kind for r in probe}
        if len(kinds) != 1:
            return
        kind = kinds.pop()
        url = public_url(self.base_url)
        if kind == "connection":
            raise UserError(
                f"the {self.role} at {url} is unreachable ({len(probe)} probe requests failed to connect); "
                f"start the server or pass the right {self.flag_prefix}-base-url"
            )
        if kind in ("status:401", "status:403"):
            raise UserError(
                f"the {self.role} at {url} rejected the API key ({kind[7:]}); put a valid key in ${self.api_key_env} "
                f"or name another variable with {self.flag_prefix}-api-key-env"
            )
        if kind == "status:404":
            raise UserError(f"the {self.role} at {url} does not know model {self.model!r} (404); pass the served name with {self.flag_prefix}-model")
        if kind.startswith("status:"):
            raise UserError(
                f"the {self.role} at {url} refused every probe request ({kind[7:]}): {probe[0].error}; "
                f"check {self.flag_prefix}-max-tokens/-temperature/-reasoning-effort for this model"
            )

    def complete(self, message_lists: Sequence[list[dict[str, Any]]], progress: bool = False,
                 accept: Callable[[str], str | None] | None = None) -> list[ChatResult]:
        """One ChatResult per message list, in order; never raises for individual failures.

        ``accept(text)`` returns why a reply is unusable (e.g. the grader's "no 'Result: d'"), or None;
        an unusable reply is retried like a malformed one and, if it stays unusable, kept with its text.
        """
        if not message_lists:
            return []
        return run_sync(self._run(list(message_lists), progress, accept))


def _progress_bar(total: int, enabled: bool, desc: str) -> Any:
    from ..progress import bar

    return bar(total, desc, unit="q", enabled=enabled)
