"""``layerdream report RUN``: a static HTML report, or the tables as CSV / JSON (thin: ``layerdream.api.report``)."""
from __future__ import annotations

import argparse
import sys


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
    from ..api import report

    written = report(args.run, out=args.out, format=args.format, embed=args.embed, verdicts=args.judge_id)
    if isinstance(written, str):  # csv/json without --out
        sys.stdout.write(written)
    elif args.format == "html":
        print(f"layerdream report: wrote {written}", file=sys.stderr)
    return 0
