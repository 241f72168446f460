"""Bad input to the Python API -> one ld.UserError naming the argument, before any work: one row per bad call.

docs/python-api.md promises ``ld.UserError`` for every fixable problem; these calls used to raise a raw
TypeError/AttributeError/ValueError from deep inside (or, for the last rows, nothing at all). Each row is
(call, fragment of the message); ``vlm`` is the session's tiny Gemma 3 (32 px, 3 layers), ``tmp`` the
test's folder (holding a file ``afile``). To cover the next bad call, add one line to ``ROWS``.
"""
from __future__ import annotations

import logging

import pytest
import torch

import layerdream as ld
from layerdream.synthesis.result import SynthesisResult

torch.set_num_threads(1)


def _pil(size=40, colour=(200, 0, 0)):
    from PIL import Image

    return Image.new("RGB", (size, size), colour)


def _result() -> SynthesisResult:
    return SynthesisResult(label="red", layer=1, seed=0, model="tiny", image=torch.rand(3, 8, 8), trajectory=[],
                           cosine_initial=0.0, cosine_final=0.5, seconds=0.0, config={})


ROWS = [
    # issue 24 item 7: raw TypeError / AttributeError / ValueError before
    # review of the issue 19/21 surfaces: raw TypeError / RuntimeError (after every forward) / ValueError before
    ("lens k='5'", lambda vlm, tmp: ld.lens(vlm, k="5", progress=False), "--top-k (k) must be a whole number"),
    ("lens n_perm=-1", lambda vlm, tmp: ld.lens(vlm, n_perm=-1, progress=False), "--n-perm must be a whole number"),
    ("lens seed='a'", lambda vlm, tmp: ld.lens(vlm, seed="a", progress=False), "--seed must be a whole number"),
    ("sweep ablation=5", lambda vlm, tmp: ld.sweep(vlm, {"c": ["red"]}, out=tmp / "run", ablation=5),
     "ablation must be a name such as 'weighting'"),
    ("synthesize steps='10'", lambda vlm, tmp: ld.synthesize(vlm, "red", steps="10", progress=False), "steps must be a whole number"),
    ("synthesize steps=2.5", lambda vlm, tmp: ld.synthesize(vlm, "red", steps=2.5, progress=False), "steps must be a whole number"),
    ("synthesize concepts=None", lambda vlm, tmp: ld.synthesize(vlm, None, progress=False), "give at least one concept"),
    ("synthesize concepts=[1, 2]", lambda vlm, tmp: ld.synthesize(vlm, [1, 2], progress=False), "concepts must be words or phrases"),
    ("synthesize lr='fast'", lambda vlm, tmp: ld.synthesize(vlm, "red", lr="fast", progress=False), "lr must be a number"),
    ("synthesize copies=2.0", lambda vlm, tmp: ld.synthesize(vlm, "red", copies=2.0, progress=False), "copies must be a whole number"),
    ("synthesize unknown option", lambda vlm, tmp: ld.synthesize(vlm, "red", learning_rate=0.1, progress=False),
     "unknown synthesis option 'learning_rate'"),
    ("synthesize a str model", lambda vlm, tmp: ld.synthesize("toy-aligned", "red"), "vlm = ld.load('toy-aligned')"),
    ("synthesize a None model", lambda vlm, tmp: ld.synthesize(None, "red"), "the first argument must be a loaded model"),
    ("concept_vector a list", lambda vlm, tmp: ld.concept_vector(vlm, ["red"], 1), "concept_vector takes one concept"),
    ("image_representation a (3,H,W) of another size", lambda vlm, tmp: ld.image_representation(vlm, torch.rand(3, 40, 40), 1),
     "takes 32x32"),
    ("image_representation a str", lambda vlm, tmp: ld.image_representation(vlm, "red.png", 1), "images: a PIL image"),
    ("load(None)", lambda vlm, tmp: ld.load(None), "model must be a toy name, a hub id or a checkpoint folder"),
    ("load(123)", lambda vlm, tmp: ld.load(123), "got 123 (int)"),
    ("open_run(None)", lambda vlm, tmp: ld.open_run(None), "the RUN folder must be a path"),
    ("sweep out=None", lambda vlm, tmp: ld.sweep(vlm, {"c": ["red"]}, out=None), "out (the RUN folder) must be a path"),
    ("sweep model=None", lambda vlm, tmp: ld.sweep(None, {"c": ["red"]}, out=tmp / "run"), "the first argument must be a loaded model"),
    ("judge(None)", lambda vlm, tmp: ld.judge(None, "toy"), "the RUN folder must be a path"),
    ("report(None)", lambda vlm, tmp: ld.report(None), "the RUN folder must be a path"),
    ("SynthesisResult.save under a file", lambda vlm, tmp: _result().save(tmp / "afile" / "sub"), "cannot write to out_dir"),
    # issue 24 item 19: accepted before, and wrong
    ("image_representation 0-255 pixels", lambda vlm, tmp: ld.image_representation(vlm, torch.rand(1, 3, 32, 32) * 255, 1),
     "divide by 255"),
    ("image_representation NaN", lambda vlm, tmp: ld.image_representation(vlm, torch.full((1, 3, 32, 32), float("nan")), 1),
     "NaN"),
    ("image_representation uint8", lambda vlm, tmp: ld.image_representation(vlm, torch.zeros(1, 3, 32, 32, dtype=torch.uint8), 1),
     "images.float() / 255"),
    ("synthesize layers=[True]", lambda vlm, tmp: ld.synthesize(vlm, "red", layers=[True], progress=False),
     "True (bool)"),
    ("concept_vector layer=True", lambda vlm, tmp: ld.concept_vector(vlm, "red", True), "True (bool)"),
    ("synthesize a concept also negative", lambda vlm, tmp: ld.synthesize(vlm, "red", negatives=["red"], progress=False),
     "negative 'red' is also a concept"),
]


@pytest.mark.parametrize("call,fragment", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_call_is_one_user_error(tiny_vlm, tmp_path, call, fragment):
    (tmp_path / "afile").write_text("not a folder\n")
    with pytest.raises(ld.UserError) as info:
        call(tiny_vlm, tmp_path)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written


def test_image_representation_takes_pil_images_as_the_documented_call(tiny_vlm):
    """A list of PIL images (any size) is resized to the model's input, as `layerdream align` does; a
    (3,H,W) tensor is one image."""
    from layerdream.representation import as_pixels

    pil = [_pil(40), _pil(32, (0, 0, 200))]
    rep = ld.image_representation(tiny_vlm, pil, 1)
    assert rep.shape == (2, tiny_vlm.hidden_size) and torch.isfinite(rep).all()
    pixels = as_pixels(tiny_vlm, pil)
    assert pixels.shape == (2, 3, 32, 32) and 0 <= pixels.min() and pixels.max() <= 1
    assert torch.equal(rep, ld.image_representation(tiny_vlm, pixels, 1))
    assert torch.equal(ld.image_representation(tiny_vlm, pixels[1], 1), rep[1:])  # (3,H,W)
    assert torch.equal(ld.image_representation(tiny_vlm, pil[1], 1), rep[1:])  # one PIL image


class _Notes(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_repeated_concept_is_made_once_and_said(tiny_vlm):
    notes, log = _Notes(), logging.getLogger("layerdream")
    log.addHandler(notes)
    try:
        results = ld.synthesize(tiny_vlm, ["red", "red", " red"], layers=[1, 1], steps=1, progress=False)
    finally:
        log.removeHandler(notes)
    assert [(r.label, r.layer) for r in results] == [("red", 1)]
    assert any("concept 'red' given more than once" in line for line in notes.lines), notes.lines
    assert any("layer 1 given more than once" in line for line in notes.lines), notes.lines
