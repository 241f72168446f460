"""A training step that raises KeyboardInterrupt on its n-th call (the resume tests of every toy stage)."""
from layerdream.toyworld import vision


def interrupt_at_step(monkeypatch, n: int = 3):
    """Patch ``vision.optimiser_step`` (every toy stage steps through it) to stop at step ``n``;
    returns the real step, to put back before the resumed run."""
    real_step, calls = vision.optimiser_step, []

    def interrupting_step(*a, **k):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        real_step(*a, **k)

    monkeypatch.setattr(vision, "optimiser_step", interrupting_step)
    return real_step
