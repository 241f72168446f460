"""Progress reads well in a log: whole lines, not a carriage-return smear, and the final count."""
import io

from layerdream.progress import bar


def test_bar_in_a_log_writes_whole_lines():
    log = io.StringIO()
    b = bar(5, "sweep", unit="img", stream=log)
    for _ in range(5):
        b.update(1)
    b.close()
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    assert "sweep" in text and "5/5" in text.splitlines()[-1]


def test_disabled_bar_is_silent_but_usable():
    b = bar(3, "x", enabled=False)
    b.update(2)
    b.set_postfix(cos="0.1")
    b.close()
