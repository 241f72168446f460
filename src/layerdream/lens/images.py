"""Where the lens's images come from: the toy world (default, labels known), a folder of the user's
images, or a sweep RUN (its synthesised images, labelled with the concept each was made for).

Every source is read and checked before a model is loaded, so a folder without images or an
unreadable file is one line, not a traceback after a minute of loading.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import UserError
from ..io import slugify

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass
class LensImages:
    """Images (N,3,H,W) in [0,1] with an id, a group (for tables) and a label set per image
    (empty: content unknown, not graded automatically); ``categories`` maps every known concept to its
    category, ``synonyms`` to its synonyms."""

    images: torch.Tensor
    ids: list[str]
    groups: list[str]
    labels: list[set[str]]
    source: str
    categories: dict[str, str] = field(default_factory=dict)
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: the photo files behind ``images`` (a folder source): at read time each is resized to the model's
    #: input as the family's own processor resizes it (``FamilyAdapter.load_photo``, as ``align`` does)
    paths: list[Path] | None = None

    @property
    def labelled(self) -> bool:
        return any(self.labels)


def from_toyworld(n: int = 64, seed: int = 0) -> LensImages:
    from ..toyworld.world import CATEGORIES, sample

    if n < 1:
        raise UserError(f"--n-images must be at least 1, got {n}")
    images, factors, _ = sample(n, seed)
    return LensImages(images, [f"toy:{seed}:{i}" for i in range(n)], ["toyworld"] * n,
                      [{f[cat] for cat in CATEGORIES} for f in factors], f"toyworld.sample({n}, seed={seed})",
                      {c: cat for cat, names in CATEGORIES.items() for c in names})


def _read(path: Path) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB")).copy()
    except (OSError, SyntaxError, ValueError) as err:
        raise UserError(f"cannot read image {str(path)!r} ({type(err).__name__}); remove or replace it") from None
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255


def scan_folder(folder: str | Path, categories: dict[str, str]) -> list[tuple[Path, str | None]]:
    """(file, concept or None): images in subfolders named after a concept (or its slug) are labelled,
    images directly in the folder are not; other subfolders are ignored. Checked before the model loads."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--images {str(folder)!r} is not a folder; give a folder of images (optionally one subfolder per concept)")
    by_name = {**{slugify(c): c for c in categories}, **{c: c for c in categories}}
    found: list[tuple[Path, str | None]] = [(p, None) for p in sorted(folder.iterdir())
                                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        concept = by_name.get(sub.name) or by_name.get(slugify(sub.name))
        if concept is not None:
            found += [(p, concept) for p in sorted(sub.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise UserError(f"--images {str(folder)!r}: no images found (.png, .jpg, .jpeg, .webp, .bmp, directly in it or in "
                        "subfolders named after concepts)")
    from PIL import Image

    for path, _ in found:
        try:
            with Image.open(path) as img:
                img.verify()
        except (OSError, SyntaxError, ValueError) as err:
            raise UserError(f"cannot read image {str(path)!r} ({type(err).__name__}); remove or replace it") from None
    return found


def from_folder(folder: str | Path, categories: dict[str, str], synonyms: dict[str, tuple[str, ...]] | None = None) -> LensImages:
    found = scan_folder(folder, categories)
    images = [_read(p) for p, _ in found]
    return LensImages(_stack(images), [str(p.relative_to(folder)) for p, _ in found], ["folder"] * len(found),
                      [{c} if c else set() for _, c in found], f"folder {folder}", dict(categories), dict(synonyms or {}),
                      [p for p, _ in found])


def from_run(run: str | Path, kinds: Sequence[str] = ("concept", "random", "shuffled")) -> LensImages:
    """A sweep RUN's images (read-only): each labelled with the concept it is judged as; grouped by kind
    and synthesis layer ("concept@L2"), so the table reads a layer-2 image at every lens layer."""
    from ..sweep.judging import run_concepts
    from ..sweep.store import Store, image_problem

    run = Path(run)
    store = Store.open_existing(run, readonly=True)
    try:
        results = [r for r in store.results() if r["kind"] in kinds]
        concepts = run_concepts(store)
    finally:
        store.close()
    if not results:
        raise UserError(f"RUN {str(run)!r} has no images yet; run its sweep first")
    bad = [(r["image_path"], problem) for r in results if (problem := image_problem(run, r)) is not None]
    if bad:  # never a file outside RUN, nor one that is not the image the sweep recorded
        raise UserError(f"RUN {str(run)!r}: {len(bad)} recorded image(s) are not the sweep's, e.g. {bad[0][0]!r} "
                        f"({bad[0][1]}); re-run the same `layerdream sweep` to remake them")
    images = [_read(run / r["image_path"]) for r in results]
    cats = {c.name: c.category for c in concepts.concepts}
    syn = {c.name: tuple(c.synonyms) for c in concepts.concepts}
    return LensImages(_stack(images), [r["key"] for r in results], [f"{r['kind']}@L{r['layer']}" for r in results],
                      [{r["concept"]} for r in results], f"RUN {run}", cats, syn)


def _stack(images: list[torch.Tensor]) -> torch.Tensor:
    """Images of different sizes are each resized later to the model's input; here only equal sizes stack."""
    sizes = {tuple(t.shape[-2:]) for t in images}
    if len(sizes) == 1:
        return torch.stack(images)
    side = max(max(s) for s in sizes)
    return torch.stack([resize(t[None], side)[0] for t in images])


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    import torch.nn.functional as F

    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def model_inputs(vlm: Any, data: LensImages, start: int, stop: int) -> torch.Tensor:
    """Images ``start:stop`` at the model's input size. Photos from a folder go through the family's own
    resize (``load_photo``: e.g. Gemma 3's processor, BILINEAR), so the lens reads what the model reads;
    toy-world and RUN images (made at or for the input size) only get an antialiased resize if needed."""
    load = getattr(getattr(vlm, "adapter", None), "load_photo", None)
    if data.paths is not None and load is not None:
        from PIL import Image

        photos = []
        for path in data.paths[start:stop]:
            with Image.open(path) as img:
                photos.append(load(img))
        return torch.stack(photos)
    return resize(data.images[start:stop], vlm.image_size)


def describe(data: LensImages) -> dict[str, Any]:
    return {"source": data.source, "n_images": len(data.ids), "labelled": sum(bool(lab) for lab in data.labels),
            "groups": sorted(set(data.groups))}
