"""The `ivig-cds` command: serve, ask, evidence check, mcp. A thin shell over the same core as HTTP."""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from plugin.config import get_settings
from plugin.core.errors import PluginError
from plugin.core.plugin import load_plugin
from plugin.core.profile import AUTOIMMUNE_CONDITIONS, BASELINE_SOURCES, IVIG_STARTS, PatientProfile

YES = {"yes", "true", "y", "1"}
NO = {"no", "false", "n", "0"}


def yes_no(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in YES | NO:
        return lowered in YES
    raise argparse.ArgumentTypeError(f"{text!r} is not yes or no")


def conditions(text: str) -> list[str]:
    """`none` is an empty list; otherwise a comma-separated list of condition names."""
    return [] if text.strip().lower() == "none" else [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivig-cds", description="Evidence on IVIG and live birth in RPL.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the HTTP API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    ask = commands.add_parser("ask", help="answer one patient profile; leave out what is not known")
    ask.add_argument("--prior-pregnancy-losses", type=int, metavar="N")
    ask.add_argument("--nk-cell-percent", type=float, metavar="PCT", help="peripheral-blood NK cells, 0-100")
    ask.add_argument(
        "--autoimmune",
        type=conditions,
        metavar="LIST",
        help=f"'none' or comma-separated: {', '.join(AUTOIMMUNE_CONDITIONS)}",
    )
    ask.add_argument("--th1-th2-ratio-elevated", type=yes_no, metavar="yes|no")
    ask.add_argument("--ivig-start", metavar="WHEN", help=f"one of: {', '.join(IVIG_STARTS)}")
    ask.add_argument("--baseline-live-birth-risk", type=float, metavar="P", help="between 0 and 1, exclusive")
    ask.add_argument(
        "--baseline-live-birth-source",
        metavar="ROW",
        help=f"a sourced baseline instead of --baseline-live-birth-risk: {', '.join(BASELINE_SOURCES)}",
    )
    ask.add_argument("--format", choices=["text", "markdown", "json"], default="text")

    evidence = commands.add_parser("evidence", help="evidence store commands")
    evidence_commands = evidence.add_subparsers(dest="evidence_command", required=True)
    evidence_commands.add_parser("check", help="load and verify the evidence store and decision tables")

    commands.add_parser("mcp", help="serve MCP over stdio for chat assistants (protocol on stdout, logs on stderr)")
    return parser


def profile_from(args: argparse.Namespace) -> dict[str, Any]:
    fields = {
        "prior_pregnancy_losses": args.prior_pregnancy_losses,
        "nk_cell_percent": args.nk_cell_percent,
        "autoimmune_conditions": args.autoimmune,
        "th1_th2_ratio_elevated": args.th1_th2_ratio_elevated,
        "ivig_start": args.ivig_start,
        "baseline_live_birth_risk": args.baseline_live_birth_risk,
        "baseline_live_birth_source": args.baseline_live_birth_source,
    }
    return {name: value for name, value in fields.items() if value is not None}


def ask(args: argparse.Namespace) -> int:
    try:
        profile = PatientProfile.model_validate(profile_from(args))
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            print(f"ivig-cds ask: {field}: {error['msg']} (got {error.get('input')!r})", file=sys.stderr)  # noqa: T201
        return 2
    result = load_plugin(get_settings()).respond(profile)
    if args.format == "json":
        output = json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False)
    else:
        output = result.rendered.markdown if args.format == "markdown" else result.rendered.text
    print(output)  # noqa: T201
    return 0


def evidence_check() -> int:
    plugin = load_plugin(get_settings())
    for analysis in plugin.store.analyses.values():
        print(f"{analysis.id}: {len(analysis.estimates)} estimates, {len(analysis.studies)} studies")  # noqa: T201
        for estimate in analysis.estimates:
            print(f"  {analysis.ref(estimate)}: RR {estimate.point:.2f} ({estimate.ci[0]:.2f}-{estimate.ci[1]:.2f})")  # noqa: T201
    for table in plugin.tables.values():
        print(f"{table.id}: {len(table.rows)} rows, hit policy {table.spec.hit_policy}, verified")  # noqa: T201
    print(f"evidence version {plugin.store.version}: OK")  # noqa: T201
    return 0


class DropQueryString(logging.Filter):
    """Access-log lines keep the path but not the query string, which can carry a patient's findings."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.args = (client, method, str(path).partition("?")[0], version, status)
        return True


def serve(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from plugin.app import create_app

    settings = get_settings()
    app = create_app(settings)  # loads the evidence first: a broken store never binds the port
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config.setdefault("filters", {})["drop_query"] = {"()": DropQueryString}
    log_config["handlers"]["access"]["filters"] = ["drop_query"]
    # The plugin's own messages go where uvicorn's go, at the configured level.
    log_config["loggers"]["plugin"] = {"handlers": ["default"], "level": settings.log_level.upper(), "propagate": False}
    uvicorn.run(app, host=args.host, port=args.port, log_config=log_config)
    return 0


def mcp() -> int:
    import logging

    from plugin.chat.mcp_server import build_server

    settings = get_settings()
    # stdout carries nothing but MCP messages, so every log line goes to stderr.
    logging.basicConfig(
        stream=sys.stderr, level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    build_server(load_plugin(settings)).run("stdio")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "ask":
            return ask(args)
        if args.command == "evidence":
            return evidence_check()
        if args.command == "mcp":
            return mcp()
        return serve(args)
    except PluginError as exc:
        print(f"ivig-cds: {exc}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    sys.exit(main())
