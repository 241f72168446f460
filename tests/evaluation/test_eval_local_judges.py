"""The local judges: clip and hf with tiny random-init models saved with save_pretrained (so the
from-folder loading path is what is tested), and toy with a test double of the classifier."""
from __future__ import annotations

import pytest
import torch

from layerdream.errors import UserError
from layerdream.evaluation.evaluate import evaluate, make_judge
from layerdream.evaluation.types import JudgeItem

WORDS = ["[PAD]", "[UNK]", "<s>", "</s>", "<image>", "USER:", "ASSISTANT:", "an", "image", "of", "dog", "cat",
         "frog", "bee", "spring", "(season)", "what", "is", "in", "the", "one", "word.", "animal"]


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]", bos_token="<s>",
                                   eos_token="</s>", model_max_length=16, extra_special_tokens={"image_token": "<image>"})


def _image_processor():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})


TEXT = dict(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            max_position_embeddings=16, pad_token_id=0, bos_token_id=2, eos_token_id=3)
VISION = dict(image_size=16, patch_size=8, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    path = tmp_path_factory.mktemp("tinyclip")
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=8)).save_pretrained(path)
    CLIPProcessor(image_processor=_image_processor(), tokenizer=_tokenizer()).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    path = tmp_path_factory.mktemp("tinyllava")
    template = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image> "
                "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}{% if add_generation_prompt %} ASSISTANT:{% endif %}")
    text = dict(model_type="llama", vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    cfg = LlavaConfig(vision_config=dict(model_type="clip_vision_model", **VISION), text_config=TEXT, image_token_id=4,
                      vision_feature_layer=-1)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    LlavaProcessor(image_processor=_image_processor(), tokenizer=_tokenizer(), patch_size=8, chat_template=template,
                   vision_feature_select_strategy="default", num_additional_image_tokens=1).save_pretrained(path)
    return str(path)


def test_clip_ranks_against_candidates(tiny_clip, images, tmp_path):
    judge = make_judge("clip", model=tiny_clip, device="cpu")
    cands = ["dog", "cat", "frog", "bee", "spring (season)"]
    cats = {"dog": "Animals", "cat": "Animals", "frog": "Animals", "bee": "Animals", "spring (season)": "Seasons"}
    items = [JudgeItem.from_path(images[c], concept, category=cats[concept], candidates=cands, key=c, candidate_categories=cats)
             for c, concept in [("red", "dog"), ("green", "cat"), ("blue", "spring (season)")]]
    verdicts = evaluate(judge, items, n_queries=10, cache_path=str(tmp_path / "c.sqlite"), progress=False)
    assert len(verdicts) == 3 * 2  # deterministic: one query per image and protocol
    for v in verdicts:
        assert v.error is None and v.answer in cands and v.score == int(v.rank == 1)
        assert 1 <= v.rank <= (4 if v.protocol == "lenient" and v.concept != "spring (season)" else 5)
        assert v.judge == f"clip:{tiny_clip}" and v.grader == "self"
    spring_lenient = next(v for v in verdicts if v.key == "blue" and v.protocol == "lenient")
    assert "5 candidates" in spring_lenient.prompt  # alone in its category: ranked against all, not trivially 1
    dog_lenient = next(v for v in verdicts if v.key == "red" and v.protocol == "lenient")
    assert "4 candidates" in dog_lenient.prompt
    again = evaluate(judge, items, cache_path=str(tmp_path / "c.sqlite"), progress=False)
    assert all(v.cached for v in again) and [v.rank for v in again] == [v.rank for v in verdicts]


def test_clip_needs_candidates(tiny_clip, images):
    judge = make_judge("clip", model=tiny_clip, device="cpu")
    with pytest.raises(UserError, match="candidates"):
        evaluate(judge, [JudgeItem.from_path(images["red"], "dog")], progress=False)


def test_clip_bad_model_is_user_error(tmp_path):
    with pytest.raises(UserError, match="--judge-model"):
        make_judge("clip", model=str(tmp_path / "nothing-here"))


def test_hf_judge_answers_and_is_graded(tiny_vlm, images):
    judge = make_judge("hf", model=tiny_vlm, device="cpu", max_new_tokens=3)
    items = [JudgeItem.from_path(images["red"], "dog", category="Animals", key="a"),
             JudgeItem.from_path(images["green"], "cat", category="Animals", key="b")]
    verdicts = evaluate(judge, items, n_queries=10, progress=False)
    assert len(verdicts) == 2 * 2  # greedy decoding is deterministic: asked once
    for v in verdicts:
        assert v.error is None and isinstance(v.answer, str) and v.answer
        assert v.score in (0, 1) and v.grader == "matcher" and v.judge.startswith("hf:")
    assert verdicts[1].prompt == "What animal is in the image if you had to guess? One word."
    again = evaluate(judge, items, n_queries=10, progress=False)
    assert [v.answer for v in again] == [v.answer for v in verdicts]


class FakeToyClassifier:
    """Test double with the toyworld judge interface: mean red > 0.5 -> "red", else "blue"; shape always "circle"."""

    categories = {"colour": ["red", "blue"], "shape": ["circle", "square"]}

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, images: torch.Tensor) -> list[dict[str, str]]:
        assert images.shape[1:] == (3, 64, 64) and 0 <= images.min() and images.max() <= 1
        self.calls += 1
        return [{"colour": "red" if img[0].mean() > 0.5 else "blue", "shape": "circle"} for img in images]


def test_toy_judge_adapter(images):
    clf = FakeToyClassifier()
    judge = make_judge("toy", classifier=clf)
    items = [JudgeItem.from_path(images["red"], "red", key="r"), JudgeItem.from_path(images["blue"], "red", key="b"),
             JudgeItem.from_path(images["blue"], "blue", key="bb"), JudgeItem.from_path(images["red"], "square", key="s")]
    verdicts = evaluate(judge, items, n_queries=10, progress=False)
    assert len(verdicts) == 4 * 2 and clf.calls == 1
    got = {(v.key, v.protocol): (v.answer, v.score) for v in verdicts}
    assert got[("r", "stringent")] == ("red", 1) and got[("b", "lenient")] == ("blue", 0)
    assert got[("bb", "stringent")] == ("blue", 1) and got[("s", "stringent")] == ("circle", 0)
    with pytest.raises(UserError, match="toy concepts"):
        evaluate(judge, [JudgeItem.from_path(images["red"], "dog")], progress=False)


def test_toy_judge_real_classifier_if_shipped(images):
    try:
        judge = make_judge("toy")
    except (UserError, ImportError, FileNotFoundError) as err:
        pytest.skip(f"toyworld judge not available yet: {err}")
    concept = next(iter(judge.classifier.categories.values()))[0]
    verdicts = evaluate(judge, [JudgeItem.from_path(images["red"], concept)], progress=False)
    assert len(verdicts) == 2 and all(v.score in (0, 1) and v.error is None for v in verdicts)


def test_clip_ties_count_against_the_concept(tiny_clip, images):
    judge = make_judge("clip", model=tiny_clip, device="cpu")
    with torch.no_grad():  # a broken model: every text embedding identical
        for p in judge.model.text_projection.parameters():
            p.zero_()
        judge.model.text_projection.weight[:, 0] = 1.0
        judge.model.text_model.final_layer_norm.weight.zero_()
        judge.model.text_model.final_layer_norm.bias.fill_(1.0)
    cands = ["bee", "cat", "dog"]
    items = [JudgeItem.from_path(images["red"], c, candidates=cands, key=c) for c in cands]
    verdicts = evaluate(judge, items, protocols=("stringent",), progress=False)
    assert [v.rank for v in verdicts] == [3, 3, 3] and all(v.score == 0 for v in verdicts)


@pytest.fixture(scope="module")
def tiny_siglip(tmp_path_factory):
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    path = tmp_path_factory.mktemp("tinysiglip")
    torch.manual_seed(0)
    SiglipModel(SiglipConfig(text_config=TEXT, vision_config=VISION)).save_pretrained(path)
    SiglipProcessor(image_processor=SiglipImageProcessor(size={"height": 16, "width": 16}),
                    tokenizer=_tokenizer()).save_pretrained(path)
    return str(path)


def test_siglip_ranks_with_max_length_padding(tiny_siglip, images):
    judge = make_judge("clip", model=tiny_siglip, device="cpu")
    assert judge.siglip  # SigLIP was trained on max_length-padded text; the judge pads that way
    cands = ["bee", "cat", "dog"]
    verdicts = evaluate(judge, [JudgeItem.from_path(images["red"], "dog", candidates=cands)], progress=False)
    assert len(verdicts) == 2 and all(1 <= v.rank <= 3 and v.answer in cands and v.error is None for v in verdicts)


def test_offline_judges_keep_the_matcher_and_say_so(tiny_vlm):
    from layerdream.evaluation import make_judge
    from layerdream.evaluation.grading import grader_label

    with pytest.raises(UserError, match="--grader-model"):
        make_judge("hf", model=tiny_vlm, device="cpu", grader="rubric")
    judge = make_judge("hf", model=tiny_vlm, device="cpu")
    assert judge.grader_id == "matcher"
    assert "not the paper's rubric grader" in grader_label(judge.grader_id)
    assert grader_label("llm:gpt-5-mini@https://api.openai.com/v1").startswith("the paper's rubric")
