"""A procedural 64 px world: a coloured shape on a background, in a season, with captions.

Why procedural: the factors of every image are known exactly, so a judge can be trained to read them
back and a toy VLM can be trained (or refused) alignment between the words and the pixels.

Design choices that the feasibility study found to matter (docs/toyworld.md):
* objects are large (radius 14-22, centre in [22, 42]) so one object covers several image tokens;
* every category is present in every image (no "absent" concept the judge could default to);
* the season is a global overlay, like the paper's seasons: it colours the whole picture.

Everything is drawn in batched torch ops from one ``torch.Generator``, so ``sample(n, seed)`` is
deterministic for a seed and fast enough to generate training batches on the fly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import UserError

IMAGE_SIZE = 64

CATEGORIES: dict[str, list[str]] = {
    "colour": ["red", "orange", "yellow", "green", "blue", "purple", "white"],
    "shape": ["circle", "square", "triangle", "cross"],
    "background": ["sky", "grass", "night", "sand", "brick"],
    "season": ["spring", "summer", "autumn", "winter"],
}
CONCEPTS: list[str] = [c for names in CATEGORIES.values() for c in names]
_CATEGORY_OF = {c: cat for cat, names in CATEGORIES.items() for c in names}

# RGB in [0, 1]; the object colour is jittered around these.
COLOUR_RGB = {
    "red": (0.86, 0.12, 0.12), "orange": (0.98, 0.55, 0.08), "yellow": (0.95, 0.88, 0.15),
    "green": (0.35, 0.85, 0.30), "blue": (0.12, 0.25, 0.90), "purple": (0.58, 0.22, 0.82),
    "white": (0.96, 0.96, 0.96),
}

# Caption templates in several word orders ({c} colour, {s} shape, {b} background, {t} season).
TEMPLATES = [
    "a {c} {s} on {b} in {t}",
    "{b} with a {c} {s} in {t}",
    "in {t} , a {c} {s} on {b}",
    "the background is {b} . the {s} is {c} . it is {t}",
    "{t} scene : {c} {s} , {b}",
    "a {s} , {c} , on {b} , {t}",
]
# Words of the language baseline: unrelated nouns (from the paper's Appendix C list) that the toy
# LM sees only in text-only sentences. They are the model's own vocabulary but never concept words.
BASELINE_WORDS = [
    "desk", "jacket", "gondola", "bicycle", "chair", "orchestra", "pottery", "jewelry", "quilt",
    "bamboo", "archive", "fossil", "flour", "traffic", "bubble", "honey", "magnet", "ribbon",
    "puzzle", "diamond", "vinegar", "marble", "scroll", "cake", "tower", "table", "wool", "hammer",
    "needle", "bacon", "anchor", "parchment", "statue", "fabric", "pasta", "piano", "rice", "time",
]
TEXT_TEMPLATES = [
    "the {n} is on the {m}", "i see a {n} and a {m}", "a {n} is not a {m}", "the {n} is {c}",
    "a {c} {n} in {t}", "{c} is a colour", "a {s} is a shape", "{t} is a season",
    "{b} is a background", "the {n} is near the {s}",
]
FUNCTION_WORDS = ["a", "on", "in", "with", "the", "background", "is", "it", "scene", "i", "see",
                  "and", "not", "colour", "shape", "season", "near", ".", ",", ":"]
VOCAB: list[str] = [*CONCEPTS, *FUNCTION_WORDS, *BASELINE_WORDS]


def concept_category(concept: str) -> str:
    """Category of a world concept ("red" -> "colour"); UserError for words outside the world."""
    try:
        return _CATEGORY_OF[concept.strip().lower()]
    except KeyError:
        raise UserError(f"{concept!r} is not a toy-world concept; choose one of {', '.join(CONCEPTS)}") from None


def _grid(n: int):
    ys = torch.arange(IMAGE_SIZE, dtype=torch.float32).view(1, IMAGE_SIZE, 1).expand(n, IMAGE_SIZE, IMAGE_SIZE)
    xs = torch.arange(IMAGE_SIZE, dtype=torch.float32).view(1, 1, IMAGE_SIZE).expand(n, IMAGE_SIZE, IMAGE_SIZE)
    return ys, xs


def _dots(n: int, density: float, size: int, g: torch.Generator) -> torch.Tensor:
    """(n,1,H,W) mask of small square blobs: sparse Bernoulli seeds dilated by max-pooling."""
    seeds = (torch.rand(n, 1, IMAGE_SIZE, IMAGE_SIZE, generator=g) < density).float()
    return F.max_pool2d(seeds, size, stride=1, padding=size // 2)[..., :IMAGE_SIZE, :IMAGE_SIZE]


def _backgrounds(kind: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(n,3,H,W) backgrounds; all kinds are drawn for all images (cheap) and then selected."""
    n = kind.shape[0]
    H = IMAGE_SIZE
    ys, xs = _grid(n)
    t = (ys / (H - 1)).unsqueeze(1)
    sky = torch.tensor([0.35, 0.58, 0.92]).view(1, 3, 1, 1) * (1 - t) + torch.tensor([0.80, 0.90, 0.98]).view(1, 3, 1, 1) * t
    blades = torch.rand(n, 1, 8, H, generator=g).repeat_interleave(8, dim=2)
    grass = torch.tensor([0.13, 0.45, 0.12]).view(1, 3, 1, 1) * (0.65 + 0.7 * blades)
    stars = (torch.rand(n, 1, H, H, generator=g) < 0.012).float()
    night = torch.tensor([0.04, 0.05, 0.20]).view(1, 3, 1, 1) * (1 - stars) + 0.95 * stars
    speck = torch.randn(n, 1, H, H, generator=g) * 0.07
    sand = torch.tensor([0.87, 0.76, 0.50]).view(1, 3, 1, 1) + speck
    row = (ys // 8).long()
    col = ((xs + 8 * (row % 2)) // 16).long()
    brick_id = (row * 5 + col) % 23
    shade = (0.85 + 0.3 * torch.rand(n, 23, generator=g)).gather(1, brick_id.view(n, -1)).view(n, 1, H, H)
    mortar = (((ys % 8) < 1.5) | (((xs + 8 * (row % 2)) % 16) < 1.5)).float().unsqueeze(1)
    brick = torch.tensor([0.62, 0.25, 0.18]).view(1, 3, 1, 1) * shade * (1 - mortar) + 0.78 * mortar
    stack = torch.stack([sky.expand(n, 3, H, H), grass.expand(n, 3, H, H), night, sand.expand(n, 3, H, H), brick], 1)
    return stack[torch.arange(n), kind]


def _shape_masks(kind: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(n,1,H,W) masks with a one-pixel soft edge (so edges are not aliased stair-steps)."""
    n = kind.shape[0]
    ys, xs = _grid(n)
    dy = ys - cy.view(n, 1, 1)
    dx = xs - cx.view(n, 1, 1)
    rr = r.view(n, 1, 1)
    circle = rr - torch.sqrt(dx**2 + dy**2)
    square = 0.82 * rr - torch.maximum(dx.abs(), dy.abs())
    top, bottom = -rr, 0.75 * rr
    frac = ((dy - top) / (bottom - top)).clamp(min=0)
    triangle = torch.minimum(torch.minimum(dy - top, bottom - dy), frac * 1.05 * rr - dx.abs())
    arm = 0.32 * rr
    cross = torch.maximum(torch.minimum(arm - dx.abs(), rr - dy.abs()), torch.minimum(arm - dy.abs(), rr - dx.abs()))
    sdf = torch.stack([circle, square, triangle, cross], 1)[torch.arange(n), kind]
    return (sdf + 0.5).clamp(0, 1).unsqueeze(1)


def _season(img: torch.Tensor, kind: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Apply the global season overlay: blossoms, a sun, falling leaves, or snow."""
    n = img.shape[0]
    ys, xs = _grid(n)
    out = img.clone()
    v = lambda *c: torch.tensor(c).view(1, 3, 1, 1)  # noqa: E731
    # spring: pale-green/pink tint and pink blossoms
    m = _dots(n, 0.010, 3, g)
    spring = (0.85 * img + 0.15 * v(0.95, 0.85, 0.90)) * (1 - m) + m * v(1.0, 0.55, 0.80)
    # summer: warm light and a sun in a top corner
    sx = torch.where(torch.rand(n, generator=g) < 0.5, 8.0, 55.0) + torch.rand(n, generator=g) * 2
    sy = 7.0 + torch.rand(n, generator=g) * 3
    d = torch.sqrt((xs - sx.view(n, 1, 1)) ** 2 + (ys - sy.view(n, 1, 1)) ** 2).unsqueeze(1)
    sun = (8.5 - d).clamp(0, 1)
    glow = torch.exp(-d / 14) * 0.35
    summer = (img * v(1.10, 1.02, 0.80) + glow * v(1.0, 0.8, 0.2)) * (1 - sun) + sun * v(1.0, 0.90, 0.20)
    # autumn: orange tint and brown-orange leaves
    m = _dots(n, 0.008, 4, g)
    leaf = v(0.80, 0.38, 0.08) * (0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=g))
    autumn = (0.78 * img + 0.22 * v(0.85, 0.45, 0.10)) * (1 - m) + m * leaf
    # winter: cold pale tint and white snowflakes
    m = _dots(n, 0.025, 2, g)
    winter = (0.65 * img + 0.35 * v(0.85, 0.90, 1.00)) * (1 - m) + m * 1.0
    stack = torch.stack([spring, summer, autumn, winter], 1)
    return stack[torch.arange(n), kind]


def render(factors: list[dict], seed: int = 0) -> torch.Tensor:
    """Draw images for given factor dicts (keys: the four categories, plus optional cx, cy, radius)."""
    g = torch.Generator().manual_seed(int(seed))
    n = len(factors)
    idx = {cat: torch.tensor([CATEGORIES[cat].index(f[cat]) for f in factors]) for cat in CATEGORIES}
    cx = torch.tensor([float(f.get("cx", 32.0)) for f in factors])
    cy = torch.tensor([float(f.get("cy", 32.0)) for f in factors])
    r = torch.tensor([float(f.get("radius", 18.0)) for f in factors])
    img = _backgrounds(idx["background"], g)
    base = torch.stack([torch.tensor(COLOUR_RGB[c]) for c in CATEGORIES["colour"]])[idx["colour"]]
    rgb = (base + 0.06 * torch.randn(n, 3, generator=g)).view(n, 3, 1, 1)
    shade = 1 + 0.05 * torch.randn(n, 1, IMAGE_SIZE, IMAGE_SIZE, generator=g)
    mask = _shape_masks(idx["shape"], cy, cx, r)
    img = img * (1 - mask) + rgb * shade * mask
    img = _season(img, idx["season"], g)
    img = img + 0.02 * torch.randn(img.shape, generator=g)
    return img.clamp(0, 1)


def sample_factors(n: int, seed: int) -> list[dict]:
    """``n`` random factor dicts (one concept per category, object position and size)."""
    if n < 0:
        raise UserError(f"number of samples must be >= 0, got {n}")
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for _ in range(n):
        f = {cat: names[int(torch.randint(len(names), (1,), generator=g))] for cat, names in CATEGORIES.items()}
        pos = torch.rand(3, generator=g)
        f.update(cx=22 + 20 * float(pos[0]), cy=22 + 20 * float(pos[1]), radius=14 + 8 * float(pos[2]))
        f["template"] = int(torch.randint(len(TEMPLATES), (1,), generator=g))
        out.append(f)
    return out


def caption(f: dict, template: int | None = None) -> str:
    t = TEMPLATES[f.get("template", 0) if template is None else template]
    return t.format(c=f["colour"], s=f["shape"], b=f["background"], t=f["season"])


def sample(n: int, seed: int) -> tuple[torch.Tensor, list[dict], list[str]]:
    """``(images (n,3,64,64) in [0,1], factor dicts, captions)``, deterministic for ``seed``."""
    factors = sample_factors(n, seed)
    images = render(factors, seed=int(seed) + 7_919) if n else torch.zeros(0, 3, IMAGE_SIZE, IMAGE_SIZE)
    return images, factors, [caption(f) for f in factors]


def text_sentences(n: int, seed: int) -> list[str]:
    """Text-only sentences: captions without images, facts about concepts, and baseline-word sentences.

    The baseline words appear only here, so the toy LM has real (not random) representations for the
    language baseline, as a pre-trained LLM has for the paper's 100 words.
    """
    g = torch.Generator().manual_seed(int(seed) + 104_729)
    pick = lambda xs: xs[int(torch.randint(len(xs), (1,), generator=g))]  # noqa: E731
    out = []
    for _ in range(n):
        if float(torch.rand(1, generator=g)) < 0.4:
            f = {cat: pick(names) for cat, names in CATEGORIES.items()}
            out.append(caption(f, int(torch.randint(len(TEMPLATES), (1,), generator=g))))
        else:
            out.append(pick(TEXT_TEMPLATES).format(
                n=pick(BASELINE_WORDS), m=pick(BASELINE_WORDS), c=pick(CATEGORIES["colour"]),
                s=pick(CATEGORIES["shape"]), b=pick(CATEGORIES["background"]), t=pick(CATEGORIES["season"])))
    return out


def object_masks(factors: list[dict]) -> torch.Tensor:
    """(n,1,64,64) coverage of the object in each image (for per-token training targets)."""
    n = len(factors)
    kind = torch.tensor([CATEGORIES["shape"].index(f["shape"]) for f in factors])
    cx = torch.tensor([float(f.get("cx", 32.0)) for f in factors])
    cy = torch.tensor([float(f.get("cy", 32.0)) for f in factors])
    r = torch.tensor([float(f.get("radius", 18.0)) for f in factors])
    return _shape_masks(kind, cy, cx, r)


_POOLS: dict[tuple[int, int], tuple[torch.Tensor, list[dict]]] = {}


def pool(n: int, seed: int) -> tuple[torch.Tensor, list[dict]]:
    """A cached pool of ``n`` samples (images as uint8) for training: drawing costs as much as a
    training step on 2 cores, so each process draws once and stages sample batches from the pool."""
    key = (int(n), int(seed))
    if key not in _POOLS:
        chunks, factors = [], []
        for i in range(0, n, 256):
            images, f, _ = sample(min(256, n - i), seed * 100_003 + i)
            chunks.append((images * 255).round().to(torch.uint8))
            factors += f
        _POOLS[key] = (torch.cat(chunks), factors)
    return _POOLS[key]


def pool_batch(p: tuple[torch.Tensor, list[dict]], batch: int, g: torch.Generator) -> tuple[torch.Tensor, list[dict]]:
    """A random batch (float images in [0, 1], factor dicts) from a pool."""
    idx = torch.randint(len(p[1]), (batch,), generator=g)
    return p[0][idx].float() / 255, [p[1][int(i)] for i in idx]


def grid_with_captions(images, captions, cols: int = 4, scale: int = 3):
    """A PIL grid: each image enlarged ``scale`` times with its caption wrapped underneath."""
    import textwrap

    from PIL import Image, ImageDraw

    n = images.shape[0]
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    side = images.shape[-1] * scale
    cap_h = 40
    canvas = Image.new("RGB", (cols * (side + 8) + 8, rows * (side + cap_h + 8) + 8), "white")
    draw = ImageDraw.Draw(canvas)
    arr = (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = 8 + c * (side + 8), 8 + r * (side + cap_h + 8)
        canvas.paste(Image.fromarray(arr[i]).resize((side, side), Image.NEAREST), (x, y))
        text = "\n".join(textwrap.wrap(captions[i], width=side // 6)[:3])
        draw.text((x, y + side + 2), text, fill="black")
    return canvas
