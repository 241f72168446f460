"""The contextual index: exact chunked search = brute force (across layers), the cache is reused and
invalidated by model, corpus and layers, an interrupted build resumes, bad caches and corpora are one line."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from layerdream.errors import UserError
from layerdream.lens import index as I
from layerdream.lens import store
from layerdream.lens.corpus import Corpus, load_corpus

torch.set_num_threads(1)

SENTENCES = ("the red dog is on the grass", "a blue cat with a big circle", "the small green dog shows the sky",
             "spring is a season", "the image shows a red circle", "a cat and a dog on the sky",
             "big red and small blue", "the dog (rex) is on the grass")
CORPUS = Corpus("test", SENTENCES)


@pytest.fixture()
def cache(tmp_path):
    return tmp_path / "cache"


def test_chunked_search_equals_brute_force_across_layers(tiny_vlm, cache):
    idx = I.build_index(tiny_vlm, CORPUS, [1, 2, 3], cache_dir=cache, progress=False, chunk_sentences=3)
    assert len(idx) > 20 and idx.layers == [1, 2, 3]
    g = torch.Generator().manual_seed(0)
    q = torch.randn(7, tiny_vlm.hidden_size, generator=g)
    got = idx.search(q, k=6, block=5)  # blocks of 5 rows: many merges inside and across layers
    keys = torch.cat([idx.keys[layer].float() for layer in idx.layers])
    layer_of = torch.cat([torch.full((idx.keys[layer].shape[0],), layer) for layer in idx.layers])
    row_of = torch.cat([torch.arange(idx.keys[layer].shape[0]) for layer in idx.layers])
    s, i = (F.normalize(q, dim=-1) @ keys.T).topk(6, dim=1)
    assert torch.allclose(got.scores, s, atol=1e-6)
    assert torch.equal(got.layers, layer_of[i]) and torch.equal(got.entries, row_of[i])
    assert set(got.layers.flatten().tolist()) > {1}  # neighbours really come from several layers
    one = idx.search(q, k=6, layers=[2])
    assert set(one.layers.flatten().tolist()) == {2}


def test_index_rows_are_the_token_states_in_context(tiny_vlm, cache):
    idx = I.build_index(tiny_vlm, CORPUS, [2], cache_dir=cache, progress=False)
    e = 3
    sentence = idx.context(e)
    ids, positions, spans = I.encode_sentence(tiny_vlm, sentence, "chat")
    inputs = tiny_vlm.adapter.text_inputs(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
    with torch.no_grad():
        h = tiny_vlm.residual(2, **inputs)[0]
    j = [sp for sp in spans].index((int(idx.start[e]), int(idx.end[e])))
    assert torch.allclose(idx.keys[2][e].float(), F.normalize(h[positions[j]], dim=-1), atol=2e-3)  # fp16
    assert idx.word(7 if len(idx) > 7 else 0)


def test_files_are_safetensors(tiny_vlm, cache):
    from safetensors import safe_open

    idx = I.build_index(tiny_vlm, CORPUS, [1], cache_dir=cache, progress=False)
    with safe_open(str(idx.folder / "layer_1.safetensors"), "pt") as fh:
        keys = fh.get_tensor("keys")
    assert keys.dtype == torch.float16 and torch.equal(keys, idx.keys[1])


def _count_builds(monkeypatch):
    calls = []
    original = I._chunk_states

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(I, "_chunk_states", counting)
    return calls


def test_cache_is_reused_and_invalidated(tiny_vlm, tmp_path, cache, monkeypatch):
    from tinymodels import make_tiny_folder

    import layerdream as ld

    calls = _count_builds(monkeypatch)
    a = I.build_index(tiny_vlm, CORPUS, [1, 2], cache_dir=cache, progress=False)
    n = len(calls)
    assert n >= 1
    again = I.build_index(tiny_vlm, CORPUS, [1, 2], cache_dir=cache, progress=False)
    assert len(calls) == n and again.folder == a.folder  # reused: no forward at all
    other_layers = I.build_index(tiny_vlm, CORPUS, [1, 3], cache_dir=cache, progress=False)
    other_corpus = I.build_index(tiny_vlm, Corpus("test", SENTENCES[:-1]), [1, 2], cache_dir=cache, progress=False)
    other = ld.load(str(make_tiny_folder(tmp_path / "other", seed=1)), device="cpu")
    other_model = I.build_index(other, CORPUS, [1, 2], cache_dir=cache, progress=False)
    folders = {a.folder, other_layers.folder, other_corpus.folder, other_model.folder}
    assert len(folders) == 4 and len(calls) == n + 3
    rebuilt = I.build_index(tiny_vlm, CORPUS, [1, 2], cache_dir=cache, progress=False, rebuild=True)
    assert len(calls) == n + 4 and torch.equal(rebuilt.keys[1], a.keys[1])


def test_interrupted_build_resumes(tiny_vlm, cache, tmp_path, monkeypatch):
    full = I.build_index(tiny_vlm, CORPUS, [1, 3], cache_dir=tmp_path / "ref", progress=False, chunk_sentences=2)
    written = []
    original = store.write_tensors

    def dies_on_the_third(path, tensors, metadata=None):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(path)
        return original(path, tensors, metadata)

    monkeypatch.setattr(store, "write_tensors", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        I.build_index(tiny_vlm, CORPUS, [1, 3], cache_dir=cache, progress=False, chunk_sentences=2)
    monkeypatch.setattr(store, "write_tensors", original)
    calls = _count_builds(monkeypatch)
    resumed = I.build_index(tiny_vlm, CORPUS, [1, 3], cache_dir=cache, progress=False, chunk_sentences=2)
    assert len(calls) == 2  # 4 chunks of 2 sentences, 2 were on disk
    assert torch.equal(resumed.keys[3], full.keys[3]) and torch.equal(resumed.token, full.token)
    assert not list(resumed.folder.glob("chunk_*")) and not list(resumed.folder.glob(".*tmp*"))


def test_cap_per_token(tiny_vlm, cache):
    idx = I.build_index(tiny_vlm, CORPUS, [1], cache_dir=cache, progress=False, cap=2, chunk_sentences=3)
    counts = torch.bincount(idx.token)
    assert int(counts.max()) == 2


def test_corrupt_cache_is_one_line(tiny_vlm, cache):
    idx = I.build_index(tiny_vlm, CORPUS, [1], cache_dir=cache, progress=False)
    path = idx.folder / "layer_1.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UserError, match="corrupt.*--rebuild-index"):
        I.build_index(tiny_vlm, CORPUS, [1], cache_dir=cache, progress=False)
    assert len(I.build_index(tiny_vlm, CORPUS, [1], cache_dir=cache, progress=False, rebuild=True)) == len(idx)


def test_bad_corpora(tiny_vlm, tmp_path, cache):
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n")
    with pytest.raises(UserError, match="empty"):
        load_corpus(empty)
    with pytest.raises(UserError, match="no such file"):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(UserError, match="vocabulary"):  # every sentence has a word the tiny tokenizer lacks
        I.build_index(tiny_vlm, Corpus("x", ("zebra xylophone", "quantum")), [1], cache_dir=cache, progress=False)
    with pytest.raises(UserError, match="out of range"):
        I.build_index(tiny_vlm, CORPUS, [9], cache_dir=cache, progress=False)


def test_default_corpus_and_layers():
    c = load_corpus("concepts")
    assert len(c) > 500 and any("red" in s for s in c.sentences) and any("giraffe" in s for s in c.sentences)
    assert load_corpus("concepts").digest == c.digest
    assert len(load_corpus("concepts", limit=10)) == 10
    assert I.default_text_layers(4) == [1, 2, 3, 4]
    assert I.default_text_layers(18) == [1, 2, 4, 8, 16, 17]
    assert I.default_text_layers(34) == [1, 2, 4, 8, 16, 24, 32, 33]


def test_word_of_a_token_whose_span_starts_at_the_space():
    """SentencePiece tokenizers (Gemma) give "▁red" the span of " red": the word is "red", not "a red"."""
    idx = I.ContextualIndex.__new__(I.ContextualIndex)
    idx.sentences = ["a red triangle, on sand."]
    idx.sentence = torch.tensor([0, 0, 0, 0])
    idx.start = torch.tensor([1, 5, 9, 18])   # " red", "tri", "angle,", " sand"
    idx.end = torch.tensor([5, 9, 15, 23])
    assert [idx.word(e) for e in range(4)] == ["red", "triangle", "triangle", "sand"]
    assert idx.token_text(0) == "red"


@pytest.mark.parametrize("fmt", ["chat", "raw"])
def test_a_corpus_sentence_is_tokenised_as_a_concept_is(tiny_vlm, fmt):
    """The contextual index and concept vectors share one tokenisation (concepts.encode_in_prompt): the
    same prompt, one BOS, the same token positions, so a word in the corpus is the word of a concept vector."""
    from layerdream.concepts import token_positions

    for text in ("red", "a red circle"):
        ids, positions, spans = I.encode_sentence(tiny_vlm, text, fmt)
        assert (ids, positions) == tuple(map(list, token_positions(tiny_vlm, text, fmt)))
        assert spans[0][0] == 0 and spans[-1][1] == len(text)
