"""The `ivig-cds` argument parser: help with examples and defaults, and errors that name the flag as typed and
never repeat the value (a value on this command line may be a patient's finding).

argparse's own messages quote the value (`invalid float value: '140'`, `invalid choice: 'x'`) and name a
subcommand slot by its internal destination; `Parser` says what is allowed instead, and every slot has a
metavar a person would recognise.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from plugin import __version__
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, BASELINE_SOURCES, IVIG_STARTS, RPL_TYPES
from plugin.core.stats.pooling_inputs import COLUMNS, METHODS

YES = {"yes", "true", "y", "1"}
NO = {"no", "false", "n", "0"}
# A profile field -> the flag that sets it, where they differ beyond `_` -> `-`.
FLAG_FOR_FIELD = {"autoimmune_conditions": "--autoimmune"}
WHAT_TYPES_TAKE: dict[Callable[..., Any], str] = {int: "must be a whole number", float: "must be a number"}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks, and shows each default that is not 'not given'."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            action.default not in (None, False, argparse.SUPPRESS)
            and "%(default)" not in text
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """argparse with messages that name what is allowed, never the value typed."""

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        convert = self._registry_get("type", action.type, action.type)
        try:
            return convert(arg_string)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(action, str(exc)) from None
        except (TypeError, ValueError):
            raise argparse.ArgumentError(action, WHAT_TYPES_TAKE.get(convert, "is not valid")) from None

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            raise argparse.ArgumentError(action, f"must be one of {', '.join(map(str, action.choices))}")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            flags = [arg.split("=", 1)[0] for arg in extra if arg.startswith("-")]
            others = len(extra) - len(flags)
            counted = f"{others} other argument{'s' if others > 1 else ''}" if others else ""
            named = " and ".join(part for part in (", ".join(flags), counted) if part)
            self.error(f"unrecognized arguments: {named} (see --help)")
        return parsed

    def error(self, message: str) -> NoReturn:
        self.print_usage()
        self.exit(2, f"{self.prog}: error: {message}\n")


def yes_no(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in YES | NO:
        return lowered in YES
    raise argparse.ArgumentTypeError("must be yes or no")


def conditions(text: str) -> list[str]:
    """`none` is an empty list; otherwise a comma-separated list of condition names."""
    return [] if text.strip().lower() == "none" else [part.strip() for part in text.split(",") if part.strip()]


def port(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError("must be a port number, 0 to 65535")
    return number


def positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError("must be a whole number, 1 or more")
    return number


def date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date, YYYY-MM-DD") from None


def flag_for(field: str) -> str:
    """The `ask` flag that sets a profile field (`autoimmune_conditions.0` -> `--autoimmune`)."""
    name = field.split(".", 1)[0]
    return FLAG_FOR_FIELD.get(name, "--" + name.replace("_", "-"))


ASK_EXAMPLES = """\
examples:
  ivig-cds ask --prior-pregnancy-losses 3 --nk-cell-percent 14 --autoimmune none \\
      --th1-th2-ratio-elevated no --ivig-start after_pregnancy_confirmed
  ivig-cds ask --nk-cell-percent 18 --baseline-live-birth-source lund2012_baseline --format json

Leave out what is not known: unknown is never read as "no"."""

SERVE_EXAMPLES = """\
examples:
  ivig-cds serve                                  # http://127.0.0.1:8000, docs at /docs
  ivig-cds serve --host 0.0.0.0 --port 8080 --workers 4

Settings come from IVIG_CDS_* environment variables (docs/configuration.md); run `ivig-cds db upgrade` first."""


def build_parser() -> Parser:
    parser = Parser(
        prog="ivig-cds",
        description="What the evidence says about IVIG and live birth for a woman with recurrent pregnancy loss and "
        "an immune finding. Non-randomized evidence; decision support, not a prescription.",
        epilog="Run `ivig-cds COMMAND --help` for a command's flags and examples.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ivig-cds {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)

    def command(parent: Any, name: str, summary: str, **kwargs: Any) -> Parser:
        made: Parser = parent.add_parser(
            name, help=summary, description=summary, formatter_class=HelpFormatter, **kwargs
        )
        return made

    serve = command(commands, "serve", "serve every HTTP door with uvicorn", epilog=SERVE_EXAMPLES)
    serve.add_argument("--host", default="127.0.0.1", metavar="ADDRESS", help="address to listen on")
    serve.add_argument("--port", type=port, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers", type=positive, default=1, metavar="N", help="worker processes (they share the database)"
    )

    ask = command(commands, "ask", "answer one patient profile and print the answer", epilog=ASK_EXAMPLES)
    ask.add_argument("--prior-pregnancy-losses", type=int, metavar="N", help="number of previous pregnancy losses")
    ask.add_argument("--nk-cell-percent", type=float, metavar="PCT", help="peripheral-blood NK cells, 0 to 100")
    ask.add_argument(
        "--autoimmune",
        type=conditions,
        metavar="LIST",
        help=f"'none', or comma-separated: {', '.join(AUTOIMMUNE_CONDITIONS)}",
    )
    ask.add_argument("--th1-th2-ratio-elevated", type=yes_no, metavar="yes|no", help="elevated Th1/Th2 ratio")
    ask.add_argument("--ivig-start", metavar="WHEN", help=f"when IVIG would start: {', '.join(IVIG_STARTS)}")
    ask.add_argument(
        "--rpl-type",
        metavar="TYPE",
        help=f"{' or '.join(RPL_TYPES)} RPL (no live birth before the losses, or losses after one); chooses the "
        "randomized subgroups shown",
    )
    ask.add_argument(
        "--baseline-live-birth-risk",
        type=float,
        metavar="P",
        help="assumed chance of live birth without IVIG, between 0 and 1 (adds absolute effects)",
    )
    ask.add_argument(
        "--baseline-live-birth-source",
        metavar="ROW",
        help=f"a sourced baseline instead of a number: {', '.join(BASELINE_SOURCES)}",
    )
    ask.add_argument("--format", choices=["text", "markdown", "json"], default="text", help="output format")
    ask.add_argument(
        "--detail",
        choices=["evidence", "full"],
        default="evidence",
        help="evidence: the answer at a glance and the evidence on one screen; full: also the certainty reasons, "
        "every source quoted and why this answer (json is always full)",
    )

    evidence = command(
        commands,
        "evidence",
        "check, release and compare evidence stores, or re-pool study data",
        epilog="examples:\n  ivig-cds evidence check\n"
        "  ivig-cds evidence release evidence/ --label 2026.12 --notes CHANGES.md\n"
        "  ivig-cds evidence diff old-release/ evidence/\n"
        "  ivig-cds evidence pool studies.csv --method reml --hksj",
    )
    evidence_commands = evidence.add_subparsers(title="commands", dest="evidence_command", metavar="COMMAND")
    evidence_commands.required = True
    command(evidence_commands, "check", "load and verify the evidence store and every decision table")
    release = command(
        evidence_commands,
        "release",
        "check an edited store as serve would, then write its manifest (release.toml)",
        epilog="The manifest holds the label, the day, how current the sources are, your notes and the SHA-256 of "
        "every file; a file changed afterwards is refused at load.\n\n"
        "example:\n  ivig-cds evidence release evidence/ --label 2027.01 --notes CHANGES.md",
    )
    release.add_argument("directory", type=Path, metavar="DIR", help="the evidence store to release")
    release.add_argument("--label", required=True, metavar="L", help="the release's label, e.g. 2027.01 or 2027.01.1")
    release.add_argument(
        "--notes", required=True, type=Path, metavar="FILE", help="the curators' notes: what changed, and why"
    )
    release.add_argument("--released-on", type=date, metavar="YYYY-MM-DD", help="the release day (default: today, UTC)")
    diff = command(
        evidence_commands,
        "diff",
        "answer the whole profile grid with two releases and report which answers change",
        epilog="Exit status: 0 when no answer changes, 1 when some do, 2 when a release cannot be loaded.\n\n"
        "example:\n  ivig-cds evidence diff old-release/ evidence/ --format json > diff.json",
    )
    diff.add_argument("old", type=Path, metavar="OLD", help="the release serving now")
    diff.add_argument("new", type=Path, metavar="NEW", help="the release proposed")
    diff.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    pool = command(
        evidence_commands,
        "pool",
        "re-pool study counts on the risk-ratio scale and print the result as JSON",
        epilog=f"The CSV has the columns {','.join(COLUMNS)}.\n\n"
        "example:\n  ivig-cds evidence pool studies.csv --method mh",
    )
    pool.add_argument("file", type=Path, metavar="FILE.csv", help="study counts, one study per row")
    pool.add_argument(
        "--method",
        choices=METHODS,
        required=True,
        help="mh: Mantel-Haenszel common effect; iv: inverse-variance common effect; dl, reml: random effects",
    )
    pool.add_argument("--hksj", action="store_true", help="Hartung-Knapp(-Sidik-Jonkman) CI with t on k-1 df")

    db = command(
        commands,
        "db",
        "manage the database shared by every replica (IVIG_CDS_DATABASE_URL)",
        epilog="examples:\n  ivig-cds db upgrade\n  IVIG_CDS_RETENTION_DAYS=90 ivig-cds db purge",
    )
    db_commands = db.add_subparsers(title="commands", dest="db_command", metavar="COMMAND")
    db_commands.required = True
    command(db_commands, "upgrade", "create the schema or bring it up to date (safe to run again)")
    command(db_commands, "purge", "remove spent tokens, and cards and feedback past IVIG_CDS_RETENTION_DAYS")

    command(commands, "mcp", "serve MCP over stdio for chat assistants (protocol on stdout, logs on stderr)")
    return parser
