"""LLM-judge grading of readouts (LatentLens's protocol) against a local fake OpenAI-compatible server:
the marked image and candidates reach the judge, JSON answers are parsed, malformed ones retried and
then recorded as failures (never as "no"), and a rerun is answered from the verdict cache."""
from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from PIL import Image

from layerdream.cli import main
from layerdream.lens import judging as J

torch.set_num_threads(1)


class Fake:
    def __init__(self):
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                parts = body["messages"][0]["content"]
                text = next(p["text"] for p in parts if p["type"] == "text")
                url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
                image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
                assert image.size == (2 * J.VIEW + 8, J.VIEW)
                cands = [line.split(". ", 1)[1] for line in text.splitlines() if line[:1].isdigit() and ". " in line]
                if "bad" in cands:
                    content = "I think so."  # no JSON: retried, then a recorded failure
                else:
                    ok = any(c in ("red", "sky", "blue") for c in cands)
                    content = "```json\n" + json.dumps({"interpretable": ok, "concrete_words": [c for c in cands if c == "red"],
                                                        "abstract_words": [], "global_words": [], "reasoning": "fake"}) + "\n```"
                blob = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                                   "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                                "finish_reason": "stop"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def fake():
    f = Fake()
    yield f
    f.close()


def test_marked_image_boxes_the_patch():
    img = torch.zeros(3, 64, 64)
    png = Image.open(io.BytesIO(J.marked_png(img, 1, 2, (4, 4)))).convert("RGB")
    side = J.VIEW // 4
    assert png.getpixel((2 * side + 1, 1 * side + side // 2)) == (255, 0, 0)  # the box's left edge
    assert png.getpixel((side // 2, side // 2)) == (0, 0, 0)


def test_parse():
    assert J.parse('x {"interpretable": true, "reasoning": "r"} y')["interpretable"] is True
    assert J.parse('{"interpretable": "yes"}') is None and J.parse("no json") is None and J.parse(None) is None


def test_judge_readouts_with_cache_and_failures(fake, tmp_path):
    from layerdream.evaluation.chat import ChatClient

    client = ChatClient(model="fake", base_url=fake.url, max_retries=1, backoff=0.0)
    img = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    readouts = [J.Readout("a", img, 1, 5, 1, 1, "logit", ["is", "red", "a"]),
                J.Readout("a", img, 2, 5, 1, 1, "logit", ["is", "on", "a"]),
                J.Readout("a", img, 2, 6, 1, 2, "logit", ["bad", "on", "a"])]
    cache = str(tmp_path / "cache.sqlite")
    rows = J.judge_readouts(client, readouts, (4, 4), cache, progress=False)
    assert [r["interpretable"] for r in rows] == [1, 0, None]
    assert rows[0]["concrete_words"] == "red" and rows[2]["error"] and len(fake.requests) == 4  # the bad one retried once
    table = {(t["lens"], t["layer"]): t for t in J.judged_table(rows)}
    assert table[("logit", 2)]["n"] == 1 and table[("logit", 2)]["errors"] == 1
    again = J.judge_readouts(client, readouts, (4, 4), cache, progress=False)
    assert [r["cached"] for r in again] == [True, True, False] and len(fake.requests) == 6  # only the failure is asked again


def test_cli_judges_a_sample(fake, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["lens", "--device", "cpu", "--index-dir", str(tmp_path / "c"), "--corpus-limit", "100", "--n-images", "2",
               "--layer", "1", "--lens", "logit", "--no-measures", "--quiet", "--out", str(out),
               "--judge", "openai", "--judge-model", "fake", "--judge-base-url", fake.url, "--judge-sample", "3"])
    assert rc == 0
    assert len(fake.requests) == 3 and (out / "lens_judged.csv").is_file() and (out / "lens_judged_table.csv").is_file()
    assert "judge says interpretable" in capsys.readouterr().out
    assert main(["lens", "--quiet", "--judge-model", "fake"]) == 2  # a judge option without --judge openai


class FakeLocal:
    """A local judge double (``HFJudge``'s interface: ``id``, ``ask(image, prompt)``): yes when "sky" is first."""

    id = "hf:fake"

    def __init__(self):
        self.asked = []

    def ask(self, image, prompt):
        from layerdream.evaluation.types import Answer

        self.asked.append(image.size)
        if "bad" in prompt:
            return Answer("a sentence, no JSON")
        return Answer(json.dumps({"interpretable": "1. sky" in prompt, "concrete_words": [], "reasoning": "r"}))


def test_local_judge_is_cached_and_its_failures_recorded(tmp_path):
    local = FakeLocal()
    img = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    readouts = [J.Readout("a", img, 1, 5, 1, 1, "logit", ["sky", "is", "a"]),
                J.Readout("a", img, 1, 6, 1, 2, "logit", ["is", "sky", "a"]),
                J.Readout("a", img, 1, 7, 1, 3, "logit", ["bad", "on", "a"])]
    cache = str(tmp_path / "cache.sqlite")
    rows = J.judge_readouts(local, readouts, (4, 4), cache, progress=False)
    assert [r["interpretable"] for r in rows] == [1, 0, None] and rows[2]["error"]
    assert local.asked == [(2 * J.VIEW + 8, J.VIEW)] * 3 and {r["judge"] for r in rows} == {"hf:fake"}
    again = J.judge_readouts(local, readouts, (4, 4), cache, progress=False)
    assert [r["cached"] for r in again] == [True, True, False] and len(local.asked) == 4  # only the failure again


def test_cli_hf_judge_on_a_tiny_vlm(tiny_folder, tmp_path, capsys):
    """The real local judge: the tiny Gemma 3 reads the marked image and answers (random weights: no JSON,
    so every readout is a recorded failure, never a "no")."""
    import csv

    out = tmp_path / "o"
    argv = ["lens", "--model", str(tiny_folder), "--device", "cpu", "--n-images", "1", "--layer", "1", "--lens", "logit",
            "--no-measures", "--quiet", "--out", str(out), "--judge", "hf", "--judge-model", str(tiny_folder),
            "--judge-sample", "2", "--judge-max-new-tokens", "4", "--human-sample", "1"]
    assert main(argv) == 0
    with open(out / "lens_judged.csv") as fh:
        rows = list(csv.DictReader(fh))
    with open(out / "lens_human" / "items.csv") as fh:  # for people: a part of the judge's sample
        items = list(csv.DictReader(fh))
    assert len(items) == 1 and items[0]["key"] in {f"{r['image']}|{r['layer']}|{r['token']}|{r['lens']}" for r in rows}
    assert (out / "lens_human" / items[0]["png"]).is_file()
    assert len(rows) == 2 and all(r["judge"] == f"hf:{tiny_folder}" for r in rows)
    assert all(r["interpretable"] == "" and r["error"] for r in rows)
    cfg = json.loads((out / "lens.json").read_text())
    assert cfg["judge"]["kind"] == "hf" and cfg["judge"]["max_new_tokens"] == 4
    assert "2 failed" in capsys.readouterr().out
    assert main(["lens", "--quiet", "--judge", "hf"]) == 2  # no --judge-model
    assert main(["lens", "--quiet", "--judge", "hf", "--judge-model", "x", "--judge-base-url", "http://h/v1"]) == 2
    assert main(["lens", "--quiet", "--judge-max-new-tokens", "5"]) == 2
