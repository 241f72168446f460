"""Same seed, same image: bit-identical at 1 and 2 CPU threads, twice over, and under --deterministic.

The model is a tiny real Gemma 3 at the toy models' geometry (64 px, 8-px patches, 4x4 tokens): at
this size the former ops (the CPU bilinear upsample kernel, an accumulating ``index_put_``) gave
different images at 1 and 2 threads, and different gradients from one 2-thread run to the next.
"""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

import layerdream as ld
from layerdream.errors import UserError
from layerdream.synthesis import augment, determinism
from layerdream.synthesis.param import MultiResolutionImage, interpolation_matrix, resize
from layerdream.synthesis.determinism import at_threads

WORDS = ["red", "blue", "the", "a", "of", "is", "on", "with", "and", "big", "small"]


@pytest.fixture(scope="module")
def tiny64(tmp_path_factory):
    from layerdream.models.tiny import build_tiny_gemma3, save_tiny_gemma3

    folder = tmp_path_factory.mktemp("tiny-gemma3-64")
    model, _, processor = build_tiny_gemma3(WORDS, image_size=64, patch_size=8, mm_tokens_per_image=16,
                                            text={"num_hidden_layers": 2}, seed=1)
    save_tiny_gemma3(folder, model, processor)
    (folder / "baseline_words.txt").write_text("\n".join(WORDS[2:]) + "\n")
    return ld.load(str(folder), device="cpu")


def test_same_image_at_one_and_two_threads_and_twice_at_two(tiny64):
    def run():
        return ld.synthesize(tiny64, ["red", "blue"], layers=1, seeds=0, steps=8, preset="fast", progress=False)

    one, two, again = at_threads(1, run), at_threads(2, run), at_threads(2, run)
    for a, b, c in zip(one, two, again):
        assert torch.equal(a.image, b.image), (a.label, a.seed, (a.image - b.image).abs().max().item())
        assert torch.equal(b.image, c.image), (b.label, b.seed, (b.image - c.image).abs().max().item())
        assert a.trajectory == b.trajectory == c.trajectory
        assert a.to_pil().tobytes() == b.to_pil().tobytes()  # the PNG's pixels, not only the floats
    assert not torch.equal(one[0].image, one[1].image)  # red and blue differ: the check is not vacuous


def test_parameterisation_and_augmentation_gradients_at_half_the_paper_geometry():
    """224 canvas, 23 scales, K = 8, shifts ±28 (the paper's 448 halved, to stay fast): here the old
    crop backward gave a different gradient on every 2-thread run."""
    canvas, shift, copies = 224, 28, 8
    resolutions = list(range(4, 225, 10))
    gen = torch.Generator().manual_seed(0)
    thetas = [torch.randn(1, 3, r, r, generator=gen) for r in resolutions]
    offsets, eps = augment.draw(gen, copies, canvas, shift, 0.1, torch.device("cpu"))
    upstream = torch.randn(copies, 3, canvas, canvas, generator=gen)

    def grads():
        image = MultiResolutionImage(1, canvas, resolutions)
        with torch.no_grad():
            for p, t in zip(image.parameters(), thetas):
                p.copy_(t)
        out = augment.shift_and_noise(image(), offsets, eps, shift)
        out.backward(upstream)
        return [out.detach()] + [p.grad for p in image.parameters()]

    one, two, again = at_threads(1, grads), at_threads(2, grads), at_threads(2, grads)
    for a, b, c in zip(one, two, again):
        assert torch.equal(a, b) and torch.equal(b, c)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("n_in,n_out", [(1, 16), (2, 16), (5, 64), (64, 72), (428, 448), (32, 64), (64, 40)])
def test_resize_is_f_interpolate(mode, n_in, n_out):
    """Same geometry as F.interpolate(align_corners=False): equal to float64 rounding."""
    x = torch.randn(2, 3, n_in, n_in, dtype=torch.float64, generator=torch.Generator().manual_seed(n_in))
    ref_mode = "nearest" if n_in == 1 else mode  # DAS holds a 1x1 component constant
    extra = {} if ref_mode == "nearest" else {"align_corners": False}
    torch.testing.assert_close(resize(x, n_out, mode), F.interpolate(x, size=(n_out, n_out), mode=ref_mode, **extra),
                               atol=1e-12, rtol=0)
    m = interpolation_matrix(n_in, n_out, mode, dtype=torch.float64)
    torch.testing.assert_close(m.sum(1), torch.ones(n_out, dtype=torch.float64))  # rows are partitions of unity


def test_resize_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="bilinear"):
        interpolation_matrix(4, 8, "nearest-exact")


def test_crop_backward_is_the_gather_adjoint():
    """The copy-by-copy backward equals autograd through a plain gather (float64)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 16, 16, dtype=torch.float64, generator=gen)
    offsets = torch.tensor([[0, 4], [4, 4], [2, 0], [0, 4], [1, 3]])  # repeated offsets overlap fully
    upstream = torch.randn(10, 3, 16, 16, dtype=torch.float64, generator=gen)

    ours = images.clone().requires_grad_()
    augment.shift_and_noise(ours, offsets, None, 2).backward(upstream)

    plain = images.clone().requires_grad_()
    big = resize(plain, 20)
    base = torch.arange(16)
    rows, cols = offsets[:, 0:1] + base, offsets[:, 1:2] + base
    crops = big[:, :, rows[:, :, None], cols[:, None, :]].permute(0, 2, 1, 3, 4).reshape(10, 3, 16, 16)
    crops.backward(upstream)
    torch.testing.assert_close(ours.grad, plain.grad, atol=1e-12, rtol=0)


def test_deterministic_sets_and_restores(monkeypatch):
    monkeypatch.delenv(determinism.CUBLAS_VARIABLE, raising=False)
    assert not torch.are_deterministic_algorithms_enabled()
    with determinism.deterministic():
        assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert determinism.record()["deterministic"] is True
        import os

        assert os.environ[determinism.CUBLAS_VARIABLE] == ":4096:8"
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
    with determinism.deterministic(False):
        assert not torch.are_deterministic_algorithms_enabled()
    assert determinism.record() == {"threads": torch.get_num_threads(), "mkl_cbwr": os.environ.get("MKL_CBWR"),
                                    "deterministic": False}


_PROBE = '''
import os, sys
import torch
import layerdream  # sets MKL_CBWR=AUTO,STRICT unless set (before MKL's first call)
if sys.argv[1] == "unset":
    os.environ.pop("MKL_CBWR")  # what a process without it does
import torch.nn.functional as F
from layerdream.synthesis.determinism import at_threads
g = torch.Generator().manual_seed(0)
a, b = torch.randn(64, 4096, generator=g), torch.randn(4096, 64, generator=g)
q, k, v = (torch.randn(1, 8, 512, 72, generator=g) for _ in range(3))
def attention():
    qq = q.clone().requires_grad_()
    F.scaled_dot_product_attention(qq, k, v).sum().backward()
    return qq.grad
same = [torch.equal(at_threads(1, f), at_threads(2, f)) for f in (lambda: a @ b, attention)]
print(os.environ.get("MKL_CBWR"), *same)
'''


def test_mkl_products_and_cpu_attention_are_thread_count_independent_after_import(tmp_path):
    """MKL's gemm splits a long sum by thread count (issue 24.16: toy-gemma-aligned's PNGs were 150/255
    apart at 1 and 2 threads, from block 1's o_proj/down_proj); ``import layerdream`` turns on MKL's strict
    reproducibility mode, which makes gemm, and the CPU flash attention built on it, thread-count independent."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"} | {"OMP_NUM_THREADS": "2"}
    run = lambda mode: subprocess.run([sys.executable, "-c", _PROBE, mode], env=env, capture_output=True,  # noqa: E731
                                      text=True, check=True).stdout.split()
    assert run("default") == ["AUTO,STRICT", "True", "True"]
    control = run("unset")
    if control[1:] == ["True", "True"]:
        pytest.skip("this machine's MKL does not split these sums by thread count: nothing to show")
    assert control[0] == "None"
    assert determinism.mkl_thread_independent()  # and in this test process


def test_deterministic_keeps_a_chosen_workspace_and_refuses_a_wrong_one(monkeypatch):
    monkeypatch.setenv(determinism.CUBLAS_VARIABLE, ":16:8")
    determinism.prepare()
    import os

    assert os.environ[determinism.CUBLAS_VARIABLE] == ":16:8"
    monkeypatch.setenv(determinism.CUBLAS_VARIABLE, ":0:0")
    with pytest.raises(UserError, match="CUBLAS_WORKSPACE_CONFIG"):
        with determinism.deterministic():
            pass
    assert not torch.are_deterministic_algorithms_enabled()


def test_synthesis_runs_under_deterministic_algorithms_and_gives_the_same_image(tiny64, monkeypatch):
    monkeypatch.delenv(determinism.CUBLAS_VARIABLE, raising=False)
    plain = ld.synthesize(tiny64, "red", layers=2, seeds=3, steps=6, preset="fast", progress=False)[0]
    with determinism.deterministic():  # strict: an op without a deterministic implementation would raise
        strict = ld.synthesize(tiny64, "red", layers=2, seeds=3, steps=6, preset="fast", progress=False)[0]
    assert torch.equal(plain.image, strict.image)


def test_benchmark_says_one_line_without_a_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark measures instead")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks import deterministic as bench

    bench.gpu_part(steps=1, repeats=1)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "skipped, no CUDA device" in out
