"""The openai judge and LLM grader against a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import json
import time

import pytest

from layerdream.errors import UserError
from layerdream.evaluation.evaluate import evaluate, make_judge
from layerdream.evaluation.types import JudgeItem

SECRET = "sk-test-SECRET-do-not-leak-4242"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("LD_TEST_KEY", SECRET)


def _judge(server, **kw):
    opts = dict(model="fake-vlm", base_url=server.url, api_key_env="LD_TEST_KEY", concurrency=4, timeout=0.4,
                max_retries=2, backoff=0.01)
    opts.update(kw)
    return make_judge("openai", **opts)


def _item(images, colour, concept="dog", category="Animals"):
    return JudgeItem.from_path(images[colour], concept, category=category, key=f"job-{colour}")


def test_right_verdicts_and_request_shape(server, images):
    judge = _judge(server)
    verdicts = evaluate(judge, [_item(images, "red"), _item(images, "green")], n_queries=3, progress=False)
    assert len(verdicts) == 2 * 2 * 3
    by_key = {(v.key, v.protocol, v.query_index): v for v in verdicts}
    assert all(by_key[("job-red", p, i)].score == 1 for p in ("stringent", "lenient") for i in range(3))
    assert all(by_key[("job-green", p, i)].score == 0 for p in ("stringent", "lenient") for i in range(3))
    v = by_key[("job-red", "lenient", 0)]
    assert v.answer == "Dogs." and v.error is None and v.prompt_version
    assert v.grader == f"llm:fake-vlm@{server.url}"  # the paper's rubric, graded by the judge's own model
    assert v.prompt == "What animal is in the image if you had to guess? One word."
    assert by_key[("job-red", "stringent", 2)].prompt == "What is in the image? One word."
    req = next(r for r in server.requests if not isinstance(r["messages"][0]["content"], str))
    assert "max_tokens" not in req and "temperature" not in req and "max_completion_tokens" not in req
    part = next(p for p in req["messages"][0]["content"] if p["type"] == "image_url")
    assert part["image_url"]["url"].startswith("data:image/png;base64,")
    assert server.auth[0] == f"Bearer {SECRET}"
    assert SECRET not in repr(judge) and SECRET not in judge.id


def test_settings_are_sent_only_when_set(server, images):
    judge = _judge(server, max_completion_tokens=64, temperature=0.0)
    evaluate(judge, [_item(images, "red")], protocols=("stringent",), n_queries=1, progress=False)
    assert server.requests[0]["max_completion_tokens"] == 64 and server.requests[0]["temperature"] == 0.0
    assert "max_tokens" not in server.requests[0]


def test_failures_are_recorded_not_raised_and_key_never_written(server, images, tmp_path, capsys, caplog):
    judge = _judge(server, max_retries=1)
    items = [_item(images, c) for c in ("red", "blue", "white", "black", "gray", "yellow")]
    cache = tmp_path / "cache.sqlite"
    t0 = time.perf_counter()
    verdicts = evaluate(judge, items, protocols=("stringent",), n_queries=2, cache_path=str(cache), progress=False)
    assert time.perf_counter() - t0 < 10
    by = {v.key: [x for x in verdicts if x.key == v.key] for v in verdicts}
    assert [v.score for v in by["job-red"]] == [1, 1]
    for key, kind in [("job-blue", "server"), ("job-white", "timeout"), ("job-gray", "rate_limit")]:
        assert all(v.score is None and v.error.startswith(kind) for v in by[key]), by[key]
        assert all(v.retries == 1 and "after 1 retries" in v.error for v in by[key])
    assert all(v.score is None and v.error.startswith("malformed") and "after 1 retries" in v.error for v in by["job-black"])
    assert all(v.score is None and v.error.startswith("empty") and "finish_reason=length" in v.error for v in by["job-yellow"])
    assert all(v.retries == 0 for v in by["job-yellow"])  # finish_reason=length: the same request would fail again
    assert judge.retry_count == 2 * 4  # blue, white, gray, black (malformed 200): one retry each, two queries each
    assert "***" in by["job-blue"][0].error  # the echoed Authorization header was redacted
    out = tmp_path / "verdicts.json"
    out.write_text(json.dumps([v.to_dict() for v in verdicts]))
    captured = capsys.readouterr()
    for blob in (out.read_bytes(), cache.read_bytes(), captured.out.encode(), captured.err.encode(), caplog.text.encode()):
        assert SECRET.encode() not in blob
    for extra in tmp_path.glob("cache.sqlite*"):
        assert SECRET.encode() not in extra.read_bytes()


def test_malformed_and_empty_200s_are_retried_for_judge_and_grader(server, images):
    """Behind a proxy that spoils one reply in five, every query still ends with a verdict (issue 19 item 13)."""
    server.flaky = 3  # requests 3, 6, 9, ...: truncated JSON, an empty answer, a grader reply cut before "Result: d"
    judge = _judge(server, concurrency=1, max_retries=2, grader_model="fake-grader")
    verdicts = evaluate(judge, [_item(images, "red"), _item(images, "green")], n_queries=3, progress=False)
    assert [v.error for v in verdicts if v.error] == []
    assert {v.key: {v.score} for v in verdicts} == {"job-red": {1}, "job-green": {0}}
    graded = [r for r in server.requests if isinstance(r["messages"][0]["content"], str)]
    bad = len(server.requests) // 3
    assert bad >= 4 and judge.retry_count + judge.grader.retry_count == bad  # each bad reply retried once, counted
    assert sum(v.retries for v in verdicts) >= 1 and len(graded) > 4  # the grader was asked again too


def test_429_then_success_counts_retries(server, images):
    server.fail_first = 3
    judge = _judge(server, concurrency=1, max_retries=5)
    verdicts = evaluate(judge, [_item(images, "red")], protocols=("stringent",), n_queries=2, progress=False)
    assert [v.score for v in verdicts] == [1, 1]
    assert judge.retry_count == 3 and sum(v.retries for v in verdicts) == 3


def test_cache_makes_second_run_free(server, images, tmp_path):
    cache = str(tmp_path / "c.sqlite")
    items = [_item(images, "red"), _item(images, "blue")]
    first = evaluate(_judge(server, max_retries=0), items, n_queries=2, cache_path=cache, progress=False)
    n = server.count()
    second = evaluate(_judge(server, max_retries=0), items[:1], n_queries=2, cache_path=cache, progress=False)
    assert server.count() == n  # the successes were cached: no request at all
    assert [v.score for v in second] == [v.score for v in first if v.key == "job-red"]
    assert all(v.cached for v in second)
    evaluate(_judge(server, max_retries=0), items, n_queries=2, cache_path=cache, progress=False)
    assert server.count() == n + 4  # failures are not cached: blue is asked again (2 protocols x 2 queries)


def test_an_llm_judge_is_graded_with_the_papers_rubric_by_default(server, images):
    """"Chessboard" is chess to the paper's rubric grader and not to the string matcher: the default must be the rubric."""
    item = _item(images, "purple", concept="chess", category="Sports")
    [v] = evaluate(_judge(server), [item], protocols=("stringent",), n_queries=1, progress=False)
    assert v.answer == "Chessboard" and v.score == 1 and v.grader == f"llm:fake-vlm@{server.url}"
    graded = [r for r in server.requests if isinstance(r["messages"][0]["content"], str)]
    assert len(graded) == 1 and graded[0]["model"] == "fake-vlm" and "Chessboard" in graded[0]["messages"][0]["content"]
    [m] = evaluate(_judge(server, grader="matcher"), [item], protocols=("stringent",), n_queries=1, progress=False)
    assert m.answer == "Chessboard" and m.score == 0 and m.grader == "matcher"
    with pytest.raises(UserError, match="drop --grader-model"):
        _judge(server, grader="matcher", grader_model="gpt-5-mini")


def test_llm_grader_parses_last_result_and_dedupes(server, images, tmp_path):
    judge = _judge(server, grader_model="fake-grader")
    verdicts = evaluate(judge, [_item(images, "red"), _item(images, "green")], n_queries=5, progress=False)
    assert {v.key: v.score for v in verdicts} == {"job-red": 1, "job-green": 0}
    assert all(v.grader.startswith("llm:fake-grader@") for v in verdicts)
    graded = [r for r in server.requests if isinstance(r["messages"][0]["content"], str)]
    assert len(graded) == 4  # unique (prompt, answer, concept): 2 images x 2 protocols, not 20
    assert graded[0]["model"] == "fake-grader"


def test_grader_failure_is_an_error_not_a_zero(server, images, free_port):
    judge = _judge(server, grader_model="g", grader_base_url=f"http://127.0.0.1:{free_port}/v1")
    with pytest.raises(UserError, match="grader"):
        evaluate(judge, [_item(images, "red")], protocols=("stringent",), n_queries=1, progress=False)


def test_judge_down_is_one_user_error(images, free_port):
    judge = make_judge("openai", model="m", base_url=f"http://127.0.0.1:{free_port}/v1", api_key_env="LD_TEST_KEY",
                       timeout=2, max_retries=3, backoff=0.01)
    t0 = time.perf_counter()
    with pytest.raises(UserError) as err:
        evaluate(judge, [_item(images, "red")], n_queries=3, progress=False)
    msg = str(err.value)
    assert f"127.0.0.1:{free_port}" in msg and "--judge-base-url" in msg and "\n" not in msg
    assert SECRET not in msg
    assert time.perf_counter() - t0 < 5


def test_missing_key_for_openai_is_a_user_error(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(UserError, match="NO_SUCH_KEY_VAR"):
        make_judge("openai", model="gpt-5", api_key_env="NO_SUCH_KEY_VAR")


def test_judge_image_cli_end_to_end(server, images, tmp_path, capsys):
    from layerdream.cli import main

    cache = tmp_path / "cli.sqlite"
    rc = main(["judge-image", images["red"], "--concept", "dog", "--category", "Animals", "--judge", "openai",
               "--judge-model", "fake-vlm", "--judge-base-url", server.url, "--judge-api-key-env", "LD_TEST_KEY",
               "--n-queries", "2", "--protocol", "lenient", "--cache", str(cache)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert [(d["protocol"], d["query_index"], d["score"]) for d in lines] == [("lenient", 0, 1), ("lenient", 1, 1)]
    assert SECRET not in out.out + out.err and SECRET.encode() not in cache.read_bytes()


@pytest.mark.parametrize("judge_url,grader_url,expected", [
    (None, None, "gpt-5-mini"),  # OpenAI's own endpoint: the paper's grader
    ("https://api.openai.com/v1/", None, "gpt-5-mini"),
    ("http://127.0.0.1:8000/v1", None, "judge-model"),  # a local server: gpt-5-mini is most likely not there
    ("http://127.0.0.1:8000/v1", "https://api.openai.com/v1", "gpt-5-mini"),  # grader sent to OpenAI
])
def test_default_rubric_grader_is_gpt5_mini_on_openais_endpoint(judge_url, grader_url, expected):
    """Issue 19 item 6: the paper graded with GPT-5-mini; the summary says which rule chose the grader."""
    opts = {"base_url": judge_url} if judge_url else {}
    if grader_url:
        opts["grader_base_url"] = grader_url
    judge = make_judge("openai", model="judge-model", api_key_env="LD_TEST_KEY", **opts)
    assert judge.grader.client.model == expected
    assert judge.grader_id.startswith(f"llm:{expected}@")
    assert ("OpenAI's endpoint" in judge.grader_description) and expected in judge.grader_description
    named = make_judge("openai", model="judge-model", api_key_env="LD_TEST_KEY", grader_model="my-grader", **opts)
    assert named.grader.client.model == "my-grader" and named.grader_description == "the paper's rubric, graded by " \
        + named.grader_id[4:]


def test_the_judge_summary_says_which_rule_chose_the_grader(server, images, tmp_path):
    """The `layerdream judge` line names the grader and, for a default, the rule (issue 19 item 6)."""
    import layerdream as ld
    from layerdream.api import make_judge as api_make_judge
    from layerdream.sweep.conceptsets import load_concept_set
    from layerdream.sweep.sweeper import SweepSpec, run_sweep

    (tmp_path / "c.yaml").write_text("categories:\n  Animals: [dog, cat]\n")
    red = images["red"]

    class Result:
        cosine_initial, cosine_final, seconds, trajectory, config = 0.0, 0.5, 0.0, [], {}

        def to_pil(self):
            from PIL import Image

            return Image.open(red).convert("RGB")

    spec = SweepSpec(model="fake", concepts=load_concept_set(str(tmp_path / "c.yaml")), layers=[1], seeds=[0],
                     controls=False)
    run_sweep(spec, tmp_path / "run", execute=lambda batch: [(j, Result()) for j in batch], progress=False, log=lambda m: None)
    judge = api_make_judge("openai", model="fake-vlm", base_url=server.url, api_key_env="LD_TEST_KEY")
    summary = ld.api.judge_run_with(tmp_path / "run", judge, n_queries=1, progress=False).summary()
    assert "graded by fake-vlm@" in summary and "default off OpenAI's endpoint: the judge's own model" in summary
    on_openai = api_make_judge("openai", model="gpt-5", base_url=server.url, api_key_env="LD_TEST_KEY",
                               grader_base_url="https://api.openai.com/v1")
    assert on_openai.grader.client.model == "gpt-5-mini"  # --grader-base-url alone: the default model there
