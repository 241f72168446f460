"""``layerdream report RUN``: a static HTML report, or the tables as CSV / JSON."""
from __future__ import annotations

import argparse
import sys

from ..errors import UserError

EPILOG = """examples:
  layerdream report runs/toy                      # writes runs/toy/report.html
  layerdream report runs/toy --embed --out toy.html   # one portable file (images as base64)
  layerdream report runs/toy --format csv > toy.csv"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="HTML report (gallery, recognition tables, Figure-3 plots) of a sweep RUN",
                       description=__doc__.splitlines()[0], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="a folder made by `layerdream sweep`")
    p.add_argument("--format", default="html", choices=["html", "csv", "json"], help="html (default), or export the tables")
    p.add_argument("--judge", dest="judge_id", default=None, help=argparse.SUPPRESS)  # old name of --verdicts
    p.add_argument("--verdicts", dest="judge_id", default=None, metavar="JUDGE_ID",
                   help="which judge's verdicts: a stored id (toy:shipped, openai:gpt-5@https://api.openai.com/v1, as `layerdream "
                        "judge` prints) or its unambiguous start (toy, openai:gpt-5); default: the most recent")
    p.add_argument("--out", default=None, help="output file (html: default RUN/report.html; csv/json: default stdout); "
                   "an existing file is replaced only if it is an earlier report")
    p.add_argument("--embed", action="store_true", help="embed images as base64: one portable file, larger")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from ..io import atomic_write_bytes
    from ..sweep.store import Store
    from .build import check_out, export, load, write_html

    Store.open_existing(args.run, readonly=True).close()  # a bad RUN is named first
    out = check_out(args.out, args.format, args.embed, args.run)  # where it goes, checked before any work
    data = load(args.run, args.judge_id)
    if args.format == "html":
        path = write_html(data, out, embed=args.embed)
        print(f"layerdream report: wrote {path}", file=sys.stderr)
        return 0
    blob = export(data, args.format)
    if out is not None:
        try:
            atomic_write_bytes(out, blob)
        except OSError as err:
            raise UserError(f"cannot write --out {str(out)!r} ({err.strerror or err})") from None
    else:
        sys.stdout.write(blob.decode())
    return 0
