"""Step 3.7: a ViT (2-D RoPE, layer scale; patch 14) -> two stride-2 convolutions -> linear projector -> a
sliding/full-attention MoE text model with 1-D positions.

The processor is the real ``Step3p7Processor``. Its image processor, ``Step3p7ImageProcessor``, is torchvision-
only in transformers 5.24 and torchvision does not import here, so the image slot holds
:class:`Step3p7ImageProcessorTwin`: the crop planner is the installed class's own pure-Python code
(``_plan_patches`` and ``_is_extreme_aspect``, compiled from its source file, which cannot be imported); what is
rewritten is the global-view path (square-pad extreme shapes, resize to the planned size then to the global
square, fused float32 rescale + normalise with CLIP mean/std). The resizes are torch's antialiased bilinear on
the uint8 image, rounded, standing in for torchvision's; a square already at the global size is left as it is
(the battery's comparison at the input size never resizes). Local crops are not reproduced: the twin refuses
them. Tiny geometry: a 224-px global view (16 x 16 ViT patches -> 4 x 4 = 16 tokens; 728 px / 13 x 13 on the
release). Text model: 2 blocks, both MoE (4 routed experts top-2 + a shared expert), sliding then full
attention. The template is a reduced Step one (``<|BOT|>user`` ... ``<|EOT|>``) whose image is ``<im_patch>``.
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np

from families import save_checkpoint

FAMILY = "step3p7"
CLASS = "Step3p7ForConditionalGeneration"
GLOBAL = 224
EXPERTS, TOP_K = 4, 2
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|BOT|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<im_patch>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|EOT|>{% endfor %}{% if add_generation_prompt %}<|BOT|>assistant\n{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "big", "small"]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|BOT|>", "<|EOT|>", "<im_patch>", "<im_start>", "<im_end>",
            "<patch_start>", "<patch_end>", "<patch_newline>"]


def installed_planner() -> dict:
    """``_is_extreme_aspect`` and ``_plan_patches`` of the installed ``Step3p7ImageProcessor``, compiled from
    image_processing_step3p7.py (the module imports torchvision at the top, so it cannot be imported here)."""
    package = Path(importlib.util.find_spec("transformers.models.step3p7").submodule_search_locations[0])
    tree = ast.parse((package / "image_processing_step3p7.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Step3p7ImageProcessor")
    methods = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name in ("_is_extreme_aspect", "_plan_patches")]
    holder = ast.ClassDef(name="Planner", bases=[], keywords=[], body=methods, decorator_list=[], type_params=[])
    scope: dict = {}
    exec(compile(ast.fix_missing_locations(ast.Module(body=[holder], type_ignores=[])), str(package / "x.py"), "exec"), scope)
    return {name: scope["Planner"].__dict__[name] for name in ("_is_extreme_aspect", "_plan_patches")}


def _base():
    from transformers.image_processing_utils import BaseImageProcessor

    return BaseImageProcessor


def _kwargs():
    from transformers.processing_utils import ImagesKwargs

    class Step3p7TwinKwargs(ImagesKwargs, total=False):
        patch_size: int
        max_image_size: int

    return Step3p7TwinKwargs


_PLANNER = None


class Step3p7ImageProcessorTwin(_base()):
    """``Step3p7ImageProcessor`` (transformers 5.24, torchvision backend), global-view path, for tests where
    torchvision cannot be imported; its class defaults unless told otherwise."""

    model_input_names = ["pixel_values", "pixel_values_local", "num_local_patches"]
    valid_kwargs = _kwargs()
    vision_patch_size = 14
    downsampler_stride = 4

    def __init__(self, size=None, patch_size=504, max_image_size=3024, image_mean=CLIP_MEAN, image_std=CLIP_STD,
                 rescale_factor=1 / 255, resample=2, **kwargs):
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.size = dict(size or {"height": 728, "width": 728})
        self.patch_size, self.max_image_size = patch_size, max_image_size
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.rescale_factor, self.resample = rescale_factor, resample

    def _planner(self):
        global _PLANNER
        if _PLANNER is None:
            _PLANNER = installed_planner()
        return _PLANNER

    def _is_extreme_aspect(self, width, height):
        return self._planner()["_is_extreme_aspect"](width, height)

    def _plan_patches(self, width, height, image_size, patch_size):
        return self._planner()["_plan_patches"](self, width, height, image_size, patch_size)

    def get_number_of_image_patches(self, height, width, images_kwargs=None):
        nx, ny = self._plan_patches(width, height, self.size["height"], self.patch_size)[3:5]
        return nx * ny

    @staticmethod
    def _resize(x, h, w):
        import torch
        import torch.nn.functional as F

        if tuple(x.shape[-2:]) == (h, w):
            return x
        y = F.interpolate(x.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        return y.round().clamp(0, 255).to(torch.uint8)

    def preprocess(self, images, return_tensors=None, do_rescale=True, do_normalize=True, **kwargs):
        import torch
        import torch.nn.functional as F
        from transformers import BatchFeature

        images = images if isinstance(images, (list, tuple)) else [images]
        images = [im for sub in images for im in (sub if isinstance(sub, (list, tuple)) else [sub])]
        side = self.size["height"]
        views = []
        for image in images:
            x = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None]
            h, w = x.shape[-2:]
            (gw, gh), _, window, _, _, square_pad = self._plan_patches(w, h, side, self.patch_size)
            if window:
                raise NotImplementedError("the test twin reproduces the global view only (no local crops)")
            if square_pad:
                s = max(h, w)
                x = F.pad(x, (0, s - w, 0, s - h))
            views.append(self._resize(self._resize(x, gh, gw), side, side))
        x = torch.cat(views).float()
        if do_rescale and do_normalize:  # fused as the torchvision backend does: (k - 255 mean) / (255 std)
            x = (x - torch.tensor(self.image_mean).view(1, 3, 1, 1) / self.rescale_factor) / (
                torch.tensor(self.image_std).view(1, 3, 1, 1) / self.rescale_factor)
        elif do_rescale:
            x = x * self.rescale_factor
        return BatchFeature({"pixel_values": x, "num_local_patches": [0] * len(images)}, tensor_type=return_tensors)


def register_twin() -> None:
    from transformers import AutoImageProcessor, Step3p7Config

    AutoImageProcessor.register(Step3p7Config, image_processor_classes={"torchvision": Step3p7ImageProcessorTwin,
                                                                         "pil": Step3p7ImageProcessorTwin}, exist_ok=True)


def build_processor(**image_kwargs):
    from transformers import Step3p7Processor

    from layerdream.models.tiny import build_word_tokenizer

    register_twin()
    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="<s>", eos_token="<|EOT|>", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[4:], special_tokens=True)
    image_processor = Step3p7ImageProcessorTwin(**({"size": {"height": GLOBAL, "width": GLOBAL}} | image_kwargs))
    return Step3p7Processor(image_processor=image_processor, tokenizer=tok, chat_template=CHAT_TEMPLATE)


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Step3p7Config, Step3p7ForConditionalGeneration

    processor = build_processor()
    ids = processor.tokenizer.convert_tokens_to_ids
    config = Step3p7Config(
        vision_config=dict(hidden_size=16, mlp_ratio=2.0, num_hidden_layers=2, num_attention_heads=2, image_size=GLOBAL,
                           patch_size=14, max_position_embeddings=(GLOBAL // 14) ** 2),
        text_config=dict(vocab_size=len(processor.tokenizer), hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                         share_expert_dim=16, num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                         head_dim=16, n_routed_experts=EXPERTS, num_experts_per_tok=TOP_K,
                         mlp_layer_types=["sparse"] * layers,
                         layer_types=(["sliding_attention", "full_attention"] * layers)[:layers], sliding_window=64,
                         max_position_embeddings=512, pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"),
                         eos_token_id=ids("<|EOT|>")),
        image_token_id=ids("<im_patch>"),
    )
    torch.manual_seed(seed)
    return Step3p7ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
