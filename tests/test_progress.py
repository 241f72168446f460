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


def test_a_command_leaves_the_callers_logging_as_it_found_it(tmp_path, caplog, capsys):
    """`main()` prints library notices as `layerdream: note:` lines only while it runs: afterwards the
    `layerdream` logger propagates again (a permanent propagate=False hid every later notice from caplog,
    so test files passed alone and failed after a CLI test) and holds no handler bound to a closed stream."""
    import logging

    from layerdream.cli import main

    log = logging.getLogger("layerdream")
    handlers, propagate = list(log.handlers), log.propagate
    assert main(["report", str(tmp_path / "no-such-run")]) == 2
    assert log.propagate == propagate and log.handlers == handlers
    with caplog.at_level(logging.WARNING, logger="layerdream"):
        logging.getLogger("layerdream.test").warning("a notice after a command")
    assert "a notice after a command" in caplog.text
