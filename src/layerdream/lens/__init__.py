"""Lens readouts of image tokens beside synthesis (``layerdream lens``): the embedding lens, the logit
lens and the contextual lens (LatentLens), graded automatically where the image's content is known.

Modules: ``readouts`` (embedding and logit lens), ``corpus`` (the contextual lens's text), ``index``
(the cached, resumable, exactly searched contextual index; ``store`` its memory-mapped files),
``images`` (toy world, folder, sweep RUN), ``grading`` (automatic pass@k with a mismatched null),
``run`` (one forward per batch for all layers, tables, files), ``plots``.
"""
from .._lazy import lazy

__getattr__, __dir__ = lazy(__name__, {
    "LENSES": ".readouts", "embedding_lens": ".readouts", "logit_lens": ".readouts",
    "load_corpus": ".corpus", "Corpus": ".corpus",
    "build_index": ".index", "ContextualIndex": ".index", "default_text_layers": ".index",
    "read_images": ".run", "save": ".run", "LensOutcome": ".run",
})

__all__ = ["LENSES", "embedding_lens", "logit_lens", "load_corpus", "Corpus", "build_index", "ContextualIndex",
           "default_text_layers", "read_images", "save", "LensOutcome"]
