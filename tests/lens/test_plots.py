"""The lens figures as a reader sees them: no label cut off at the figure's edge, no title over another."""
from __future__ import annotations

import pytest

from layerdream.lens import plots


def _rows(kinds=("images", "noise"), layers=(1, 2, 3, 4), text_layers=(1, 2, 3, 4)):
    return [{"images": k, "layer": v, "text_layer": t, "share": 1.0 / len(text_layers)}
            for k in kinds for v in layers for t in text_layers]


def _texts_fit(fig):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    box = fig.bbox
    sup = fig._suptitle.get_window_extent(r)
    for ax in fig.axes:
        for text in (ax.xaxis.label, ax.yaxis.label, ax.title):
            if not text.get_text():
                continue
            e = text.get_window_extent(r)
            assert box.x0 - 1 <= e.x0 and e.x1 <= box.x1 + 1 and box.y0 - 1 <= e.y0 and e.y1 <= box.y1 + 1, text.get_text()
            if text is ax.title:
                assert not sup.overlaps(e), f"the suptitle covers the panel title {text.get_text()!r}"


@pytest.mark.parametrize("n_layers", [4, 18])
def test_sources_heatmap_keeps_every_label_inside_and_apart(tmp_path, monkeypatch, n_layers):
    """Before: the suptitle sat on the panel titles and 'text layer of the neighbour' was cut off below."""
    import layerdream.io as lio

    seen = []
    real = lio.atomic_save_figure

    def check(fig, path, dpi=110):
        _texts_fit(fig)
        seen.append(path)
        return real(fig, path, dpi=dpi)

    monkeypatch.setattr(lio, "atomic_save_figure", check)
    layers = tuple(range(1, n_layers + 1))
    out = plots.sources(_rows(layers=layers, text_layers=(1, 2, 4, 8, 16)[: 4 if n_layers == 4 else 5]),
                        tmp_path / "s.png")
    assert seen == [out] and out.stat().st_size > 0
