"""`layerdream annotate`: one line and exit 2 for every fixable problem, and the real command end to end."""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from layerdream.annotate.server import is_loopback, link
from layerdream.cli import main
from layerdream.errors import UserError


def _one_line_error(capsys, *words: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("layerdream") and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def test_missing_web_extra_is_one_line(run, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "starlette" else real(name, *a))
    assert main(["annotate", str(run)]) == 2
    _one_line_error(capsys, "pip install 'layerdream[annotate]'", "starlette")


@pytest.mark.parametrize("argv,words", [
    (["--choices"], ["--protocol lenient"]),
    (["--grader", "rubric"], ["--grader-model"]),
    (["--grader-model", "gpt-5-mini"], ["--grader matcher grades offline"]),
])
def test_bad_flags_are_one_line(run, capsys, argv, words):
    pytest.importorskip("uvicorn")
    assert main(["annotate", str(run), *argv]) == 2
    _one_line_error(capsys, *words)


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_bad_port_is_one_line(run, capsys, port):
    with pytest.raises(SystemExit) as exit_:
        main(["annotate", str(run), "--port", port])
    assert exit_.value.code == 2
    _one_line_error(capsys, "--port")


def test_not_a_run_is_one_line(tmp_path, capsys):
    pytest.importorskip("uvicorn")
    assert main(["annotate", str(tmp_path / "nothing")]) == 2
    _one_line_error(capsys, "does not exist")
    assert not (tmp_path / "nothing").exists()


def test_a_busy_port_is_one_line(run, capsys):
    pytest.importorskip("uvicorn")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        assert main(["annotate", str(run), "--port", str(busy.getsockname()[1])]) == 2
    _one_line_error(capsys, "cannot listen", "--port")


def test_hosts_and_links():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("lab-box")
    assert link("127.0.0.1", 8765, None) == "http://127.0.0.1:8765/"
    assert link("10.0.0.7", 9000, "abc") == "http://10.0.0.7:9000/?token=abc"
    assert link("::1", 80, None) == "http://[::1]:80/"


def test_a_wildcard_host_prints_an_address_colleagues_can_reach(monkeypatch):
    """`--host 0.0.0.0` printed http://localhost:... (getfqdn() names loopback on many machines; issue 24.18)."""
    from layerdream.annotate import server

    class Udp:  # the default route's interface is 10.1.2.3 (no real network needed)
        def __init__(self, *a):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *a):
            pass

        def connect(self, address):
            pass

        def getsockname(self):
            return ("10.1.2.3", 40000)

    class NoNetwork(Udp):  # a machine with loopback only
        def connect(self, address):
            raise OSError("Network is unreachable")

    monkeypatch.setattr(server.socket, "getfqdn", lambda *a: "localhost")
    monkeypatch.setattr(server.socket, "socket", Udp)
    assert link("0.0.0.0", 8765, "abc") == "http://10.1.2.3:8765/?token=abc"
    monkeypatch.setattr(server.socket, "socket", NoNetwork)
    monkeypatch.setattr(server.socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.9.8.7", 0))])
    assert link("0.0.0.0", 8765, None) == "http://10.9.8.7:8765/"  # what the hostname resolves to, if not loopback
    monkeypatch.setattr(server.socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("127.0.1.1", 0))])
    with pytest.raises(UserError, match="no network address but loopback"):
        link("0.0.0.0", 8765, "abc")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2"])  # 127.0.0.2: its link answered 400 (issue 24.23)
def test_the_command_serves_until_ctrl_c(run, host):
    pytest.importorskip("uvicorn")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "layerdream.cli", "annotate", str(run), "--port", str(port), "--quiet",
                             "--host", host],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        lines = []
        deadline = time.monotonic() + 60
        while not any("open http" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, (lines, proc.stderr.read() if proc.poll() is not None else "")
            lines.append(proc.stdout.readline())
        url = next(line for line in lines if "open http" in line).split()[1]
        assert url == f"http://{host}:{port}/" and "36 images" in lines[0] and "matcher" in lines[0]
        for _ in range(50):  # the socket is bound before the line is printed; uvicorn may need a moment to serve
            try:
                with urllib.request.urlopen(url, timeout=10) as reply:
                    assert reply.status == 200 and b'id="name-form"' in reply.read()
                break
            except ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("the server never answered")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert "layerdream report" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
