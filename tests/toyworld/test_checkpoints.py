"""The shipped toy checkpoints load like hub checkpoints, and training computed what the product computes."""
import json

import pytest
import torch

from layerdream.toyworld import TOY_MODELS, checkpoint_path, world

SHIPPED = [m for m in TOY_MODELS if (checkpoint_path(m) / "config.json").exists()]
pytestmark = pytest.mark.skipif(not SHIPPED, reason="toy checkpoints not shipped")


@pytest.mark.parametrize("name", SHIPPED)
def test_loads_with_from_pretrained_and_autoprocessor(name):
    from transformers import AutoProcessor, Gemma3ForConditionalGeneration

    folder = checkpoint_path(name)
    model = Gemma3ForConditionalGeneration.from_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    assert processor.tokenizer.chat_template
    msgs = [{"role": "user", "content": [{"type": "image"}]}]
    prompt = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    img = (world.sample(1, 0)[0][0].permute(1, 2, 0) * 255).byte().numpy()
    enc = processor(text=prompt, images=[img], return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, use_cache=False)
    assert out.logits.shape[1] == enc["input_ids"].shape[1]
    words = (folder / "baseline_words.txt").read_text().split()
    vocab = processor.tokenizer.get_vocab()
    assert len(words) >= 20 and all(w in vocab for w in words) and not set(words) & set(world.CONCEPTS)
    info = json.loads((folder / "toyworld.json").read_text())
    assert info["name"] == name and "training" in info and "seed" in info
    assert info["aligned_layers"] == ([1, 2] if name == "toy-aligned" else [])


def test_total_size_within_budget():
    total = sum(f.stat().st_size for m in (*SHIPPED, "judge") for f in checkpoint_path(m).rglob("*") if f.is_file())
    assert total <= 25 * 2**20


@pytest.mark.skipif("toy-aligned" not in SHIPPED, reason="toy-aligned not shipped")
def test_training_targets_equal_the_product_definition():
    """The alignment loss used concept vectors and image representations exactly as the product does."""
    import layerdream as ld
    from layerdream.toyworld import lm

    vlm = ld.load("toy-aligned", device="cpu")
    rows = lm.Rows(vlm.processor.tokenizer, vlm.processor)
    ours = lm.concept_targets(vlm.model, rows, [1, 2])
    images, _, _ = world.sample(4, seed=5)
    gray = torch.full((1, 3, 64, 64), 0.5)
    b = rows.batch([[]] * 5, [])
    b["img_pos"] = rows.img_pos
    with torch.no_grad():
        _, hs = lm.forward(vlm.model, b, lm.image_features(vlm.model, torch.cat([images, gray])))
    for layer in (1, 2):
        product = ld.concept_vectors(vlm, world.CONCEPTS, layer)
        assert torch.allclose(ours[layer], product, atol=1e-4)
        rep = ld.image_representation(vlm, images, layer, aggregation="mean")
        mine = lm.centred_image_reps(hs, rows.img_pos, 4, 4, layer)
        assert torch.allclose(mine, rep, atol=1e-3, rtol=1e-3)
