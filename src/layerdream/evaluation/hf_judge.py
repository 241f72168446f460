"""The ``hf`` judge: a local transformers VLM (Qwen2.5-VL, Gemma 3, LLaVA, ...) answering the same
recognition prompts as the API judge, offline. Greedy decoding makes it deterministic, so it is
asked once per image and protocol (ten identical answers would fake a tighter interval); its answers
go through the same grader as the ``openai`` judge's.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..errors import UserError
from .prompts import PROMPT_VERSION, recognition_prompt
from .types import Answer, Grader, Judge, JudgeItem, Query


class HFJudge(Judge):
    deterministic = True
    prompt_version = PROMPT_VERSION

    def __init__(self, grader: Grader, model: str, device: str | None = None, dtype: str | None = None,
                 max_new_tokens: int = 16) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        from ..models.processors import load_processor

        kwargs: dict[str, Any] = {}
        if dtype:
            kwargs["dtype"] = getattr(torch, dtype)
        try:
            self.processor = load_processor(model)  # processors with a video slot load without torchvision
            self.model = AutoModelForImageTextToText.from_pretrained(model, **kwargs)
        except (OSError, ValueError, ImportError) as err:
            raise UserError(f"cannot load VLM {model!r} as an image-text-to-text model ({str(err).splitlines()[0]}); "
                            "pass a local folder or hub id with --judge-model") from None
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.grader = grader
        self.max_new_tokens = max_new_tokens
        self.id = f"hf:{model}"

    def prompt(self, item: JudgeItem, protocol: str) -> str:
        return recognition_prompt(protocol, item.category)

    def _inputs(self, image: Any, prompt: str) -> Any:
        if not getattr(self.processor, "chat_template", None):
            # no template (PaliGemma 2 pt/mix): the processor's own layout, "<image>" x N <bos> prompt "\n"
            inputs = self.processor(text=getattr(self.processor, "image_token", "") + prompt, images=image,
                                    return_tensors="pt")
            inputs.pop("labels", None)  # PaliGemma's processor adds training labels
            return inputs.to(self.device)
        # tokenize=True: rendering to text and calling the processor again would add a second <bos>
        messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                  return_dict=True, return_tensors="pt").to(self.device)

    def ask(self, image: Any, prompt: str) -> Answer:
        """One greedy answer to ``prompt`` about a PIL ``image``; a failure is an Answer with its error,
        never an exception (one bad image or prompt must not end the run). Also the lens judge's call."""
        import torch

        try:
            inputs = self._inputs(image, prompt)
            with torch.no_grad():
                ids = self.model.generate(**inputs, do_sample=False, max_new_tokens=self.max_new_tokens)
            new = ids[0, inputs["input_ids"].shape[1]:]
            text = self.processor.decode(new, skip_special_tokens=True).strip()
        except (RuntimeError, ValueError) as err:
            return Answer(None, f"hf: {type(err).__name__}: {str(err)[:300]}")
        return Answer(text, None if text else "empty: the model generated no text")

    def answer(self, queries: Sequence[Query], progress: bool = False) -> list[Answer]:
        from PIL import Image

        out = []
        iterator: Any = queries
        if progress:
            from ..progress import bar

            iterator = _counting(queries, bar(len(queries), "judge", unit="q"))
        for q in iterator:
            try:
                with Image.open(q.item.image_path) as img:
                    image = img.convert("RGB")
            except (RuntimeError, ValueError) as err:  # as before: an unreadable file is refused before judging
                out.append(Answer(None, f"hf: {type(err).__name__}: {str(err)[:300]}"))
                continue
            out.append(self.ask(image, q.prompt))
        return out


def _counting(items, progress_bar):
    """Iterate and tick the shared progress bar (tqdm on a terminal, lines in a log)."""
    try:
        for item in items:
            yield item
            progress_bar.update(1)
    finally:
        progress_bar.close()
