"""Effective number of tokens (exp of the attention weights' entropy) that synthesised images rest on,
by tau and weighting, on the shipped toy-aligned (4 x 4 tokens; paper preset, layer 1, 60 steps).

    PYTHONPATH=src OMP_NUM_THREADS=1 python scripts/effective_tokens.py     # ~3.5 min on one core
"""
import layerdream as ld

CONCEPTS = ["red", "circle", "sky", "winter"]


def main() -> None:
    vlm = ld.load("toy-aligned")
    print(f"toy-aligned: grid {vlm.grid}, layer 1 of {vlm.num_layers}; concepts {CONCEPTS}")
    for tau in (0.005, 0.126, 0.5):
        for weighting in ("paper", "noprior", "mean"):
            rs = ld.synthesize(vlm, CONCEPTS, layers=1, preset="paper", steps=60, tau=tau, weighting=weighting,
                               progress=False)
            print(f"tau {tau:<6} {weighting:<8} effective tokens "
                  + " ".join(f"{r.effective_tokens:.2f}" for r in rs) + f" of {rs[0].image_tokens}; final cosine "
                  + " ".join(f"{r.cosine_final:.2f}" for r in rs))


if __name__ == "__main__":
    main()
