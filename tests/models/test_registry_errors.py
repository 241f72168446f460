"""The one-line errors of ``load`` for a hub id that cannot be reached."""
from __future__ import annotations

import pytest

from layerdream.errors import UserError
from layerdream.models.registry import ALL_TOY_MODELS, load


def test_unreachable_hub_id_names_the_toy_models(monkeypatch):
    """It used to print the placeholder ``({', '.join(ALL_TOY_MODELS)})`` itself (issue 19 item 15)."""
    import transformers

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", offline)
    with pytest.raises(UserError) as err:
        load("someorg/some-vlm", device="cpu")
    message = str(err.value)
    assert "{" not in message and "ALL_TOY_MODELS" not in message
    assert f"a toy model ({', '.join(ALL_TOY_MODELS)})" in message
