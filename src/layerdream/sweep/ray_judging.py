"""Judging as a Ray stage: ``layerdream judge RUN --ray [ADDRESS]``.

The judge's *answers* are what costs: a local VLM judge (``hf``, ``clip``) on many GPUs, or many
clients against one served endpoint. :class:`RayJudge` is a :class:`~layerdream.evaluation.types.Judge`
whose ``answer`` sends chunks of queries to Ray actors, each holding its own copy of the judge (built
once, in the actor, from the same recipe as the driver's), at most one chunk per actor in flight: the
bounded concurrency against the endpoint is ``workers`` × the judge's own ``--judge-concurrency``.
Everything else stays in the driver, unchanged: the answer cache, grading, and storing verdicts in the
RUN (one writer). Images travel as bytes, so workers on other nodes need no shared file system.
"""
from __future__ import annotations

import hashlib
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ..evaluation.types import Answer, Judge, JudgeItem, Query

CHUNK = 16  # queries per task: large enough to keep a worker busy, small enough to spread the work


class _JudgeWorker:
    """Inside an actor: the judge built once; answers chunks of queries whose images come as bytes."""

    def __init__(self, factory: Callable[[], Judge]):
        self.judge = factory()
        self.folder = Path(tempfile.mkdtemp(prefix="layerdream-judge-"))

    def answer(self, chunk: list[tuple[Query, bytes]]) -> list[Answer]:
        queries = []
        for query, data in chunk:
            path = self.folder / f"{query.item.image_sha256 or hashlib.sha256(data).hexdigest()}.png"
            if not path.exists():
                path.write_bytes(data)
            queries.append(replace(query, item=replace(query.item, image_path=str(path))))
        return self.judge.answer(queries)


class RayJudge(Judge):
    """The driver's judge (its id, prompts, grader, determinism) with its answers computed on Ray."""

    def __init__(self, local: Judge, factory: Callable[[], Judge], runner: Any, chunk: int = CHUNK):
        self.local, self.factory, self.runner, self.chunk = local, factory, runner, chunk
        self.id, self.deterministic = local.id, local.deterministic
        self.prompt_version, self.grader = local.prompt_version, local.grader
        self._actors: list | None = None
        self._started_ray = False

    def prompt(self, item: JudgeItem, protocol: str) -> str:
        return self.local.prompt(item, protocol)

    def _workers(self, ray, n_chunks: int) -> list:
        if self._actors is None:
            self._started_ray = self.runner._connect(ray)
            use_gpu, per_gpu, per_cpu, n = self.runner._layout(ray, n_chunks)
            actor = ray.remote(num_gpus=per_gpu if use_gpu else 0, num_cpus=per_cpu, max_restarts=2,
                               max_task_retries=2)(_JudgeWorker)
            self._actors = [actor.remote(self.factory) for _ in range(max(1, n))]
        return self._actors

    def answer(self, queries: Sequence[Query], progress: bool = False) -> list[Answer]:
        from .ray_runner import import_ray

        ray = import_ray()
        chunks = [list(range(i, min(i + self.chunk, len(queries)))) for i in range(0, len(queries), self.chunk)]
        if not chunks:
            return []
        actors = self._workers(ray, len(chunks))
        images: dict[str, bytes] = {}
        answers: list[Answer | None] = [None] * len(queries)
        inflight: dict[Any, tuple[int, list[int]]] = {}
        todo = list(reversed(chunks))

        def submit(worker: int) -> None:
            if todo:
                idx = todo.pop()
                payload = []
                for i in idx:
                    path = queries[i].item.image_path
                    if path not in images:
                        images[path] = Path(path).read_bytes()
                    payload.append((queries[i], images[path]))
                inflight[actors[worker].answer.remote(payload)] = (worker, idx)

        for worker in range(len(actors)):
            submit(worker)
        while inflight:
            [ref], _ = ray.wait(list(inflight), num_returns=1)
            worker, idx = inflight.pop(ref)
            try:
                got = ray.get(ref)
            except Exception as err:  # noqa: BLE001 - a lost chunk is a set of failed queries, asked again next time
                first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
                got = [Answer(None, f"ray: {type(err).__name__}: {first}") for _ in idx]
            for i, answer in zip(idx, got):
                answers[i] = answer
            submit(worker)
        return [a if a is not None else Answer(None, "ray: no answer") for a in answers]

    def close(self) -> None:
        if self._actors:
            from .ray_runner import import_ray

            ray = import_ray()
            for actor in self._actors:
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001 - already gone
                    pass
            self._actors = None
            if self._started_ray:
                ray.shutdown()
        self.local.close()


__all__ = ["RayJudge"]
