"""The ``openai`` judge (GPT-5 in the paper) and the LLM grader (GPT-5-mini in the paper).

Both speak the chat-completions API through :class:`~.chat.ChatClient`, so any compatible server
works: OpenAI, vLLM (``vllm serve``), Ollama (``/v1``), llama.cpp, LM Studio. Images travel as base64
PNG data URLs, the one image format every one of those servers accepts.
"""
from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any, Sequence

from .chat import ChatClient, public_url
from .prompts import PROMPT_VERSION, RUBRIC_VERSION, recognition_prompt, rubric_prompt
from .types import Answer, Grade, Grader, Judge, JudgeItem, Query

_RESULT = re.compile(r"result\s*[:=]?\s*[*_`\"']*\s*([01])\b", re.IGNORECASE)


def png_data_url(path: str | Path) -> str:
    """The image as a ``data:image/png;base64,...`` URL; non-PNG files are converted to PNG."""
    data = Path(path).read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        from PIL import Image

        buf = io.BytesIO()
        with Image.open(io.BytesIO(data)) as img:
            img.convert("RGB").save(buf, format="PNG")
        data = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def parse_result(text: str | None) -> int | None:
    """The score from the grader's reply: the *last* "Result: d" (the rubric asks for it at the end;
    the reasoning before it may quote "Result: 0" while weighing options). None if there is none."""
    if not text:
        return None
    found = _RESULT.findall(text)
    return int(found[-1]) if found else None


def _needs_result(text: str) -> str | None:
    """``accept`` for the grader's replies: a rubric reply must end in "Result: 0/1"."""
    return None if parse_result(text) is not None else f"no 'Result: 0/1' in the grader's reply {text[:80]!r}"


class OpenAIJudge(Judge):
    """Asks a chat-completions VLM the recognition question; answers are graded by ``grader``."""

    deterministic = False
    prompt_version = PROMPT_VERSION

    def __init__(self, grader: Grader, image_detail: str | None = None, **client_options: Any) -> None:
        self.client = ChatClient(role="judge", flag_prefix="--judge", **client_options)
        self.grader = grader
        self.image_detail = image_detail
        self.id = f"openai:{self.client.model}@{public_url(self.client.base_url)}"

    def __repr__(self) -> str:
        return f"OpenAIJudge({self.id!r})"

    def prompt(self, item: JudgeItem, protocol: str) -> str:
        return recognition_prompt(protocol, item.category)

    def _messages(self, url: str, prompt: str) -> list[dict[str, Any]]:
        image: dict[str, Any] = {"url": url}
        if self.image_detail:
            image["detail"] = self.image_detail
        return [{"role": "user", "content": [{"type": "image_url", "image_url": image}, {"type": "text", "text": prompt}]}]

    def answer(self, queries: Sequence[Query], progress: bool = False) -> list[Answer]:
        urls: dict[str, str] = {}  # encode each image once, not once per query
        for q in queries:
            if q.item.image_path not in urls:
                urls[q.item.image_path] = png_data_url(q.item.image_path)
        results = self.client.complete([self._messages(urls[q.item.image_path], q.prompt) for q in queries], progress)
        return [Answer(text=r.text, error=r.error, retries=r.retries) for r in results]

    @property
    def retry_count(self) -> int:
        return self.client.retry_count


class LLMGrader(Grader):
    """Scores an answer with the rubric of method.md c.3 and parses the final "Result: d"."""

    version = RUBRIC_VERSION

    def __init__(self, **client_options: Any) -> None:
        self.client = ChatClient(role="grader", flag_prefix="--grader", **client_options)
        self.id = f"llm:{self.client.model}@{public_url(self.client.base_url)}"

    def __repr__(self) -> str:
        return f"LLMGrader({self.id!r})"

    def grade(self, tasks: Sequence[tuple[str, str, str]], progress: bool = False) -> list[Grade]:
        """One Grade per (request, response, concept). A reply without a final "Result: d" (truncated,
        or the grader wandered off) is asked again like a malformed reply, within the retry budget."""
        messages = [[{"role": "user", "content": rubric_prompt(req, resp, concept)}] for req, resp, concept in tasks]
        out = []
        for res in self.client.complete(messages, progress, accept=_needs_result):
            score = parse_result(res.text) if res.text else None
            if score is not None:
                out.append(Grade(score, None, res.text, res.retries))
            elif res.text is not None and res.kind in ("malformed", "empty", "length"):
                out.append(Grade(None, f"grader: no 'Result: 0/1' in reply {str(res.text)[:80]!r}"
                                       + (f" (after {res.retries} retries)" if res.retries else ""), res.text, res.retries))
            else:
                out.append(Grade(None, f"grader {res.error}", res.text, res.retries))
        return out

    @property
    def retry_count(self) -> int:
        return self.client.retry_count
