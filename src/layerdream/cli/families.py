"""``layerdream families``: every image-text model type of the installed transformers, with its status
(supported / refused + reason / not yet supported / unclassified), class, image tokens and examples
(thin: ``layerdream.api.catalog``)."""
from __future__ import annotations

import argparse
import sys

EPILOG = """examples:
  layerdream families                       # the whole table
  layerdream families --status supported    # what --model accepts
  layerdream families --status refused --format csv > refused.csv"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("families", help="every image-text model type of the installed transformers: supported, refused "
                       "(why) or not yet", description=__doc__.splitlines()[0] + " " + " ".join(__doc__.splitlines()[1:]),
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--status", default=None, choices=["supported", "refused", "not-yet", "unclassified"],
                   help="only the types of this status (default: all)")
    p.add_argument("--format", default="text", choices=["text", "csv", "json"], help="text table (default), csv or json")
    p.set_defaults(func=cmd_families)


def _made_with() -> dict:
    """The classification is of one transformers release (a new one adds types): every output names it."""
    from ..io import versions

    v = versions()
    return {"layerdream": v["layerdream"], "transformers": v["transformers"]}


def cmd_families(args: argparse.Namespace) -> int:
    from ..api.catalog import family_rows
    from ..models.catalog import counts, render_text

    rows = family_rows(args.status)
    made_with = _made_with()
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps({"versions": made_with, "families": rows}, indent=1) + "\n")
    elif args.format == "csv":  # the versions as two columns, so that every row says which release it describes
        import csv

        rows = [{**row, **{f"{k}_version": v for k, v in made_with.items()}} for row in rows]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["model_type"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        print(render_text(rows))
        tally = ", ".join(f"{n} {status}" for status, n in counts().items())
        print(f"\n{tally} (of transformers {made_with['transformers']}'s image-text-to-text types; layerdream "
              f"{made_with['layerdream']}); details: `layerdream families --format csv`, README, docs/adding-a-model.md",
              file=sys.stderr)
    return 0
