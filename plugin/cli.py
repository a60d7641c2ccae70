"""The `ivig-cds` command: serve, ask, evidence check, evidence pool, db upgrade, db purge, mcp. A thin shell over the
same core as HTTP."""

from __future__ import annotations

import argparse
import json
import logging.config
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from plugin.config import get_settings
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, BASELINE_SOURCES, IVIG_STARTS, RPL_TYPES, PatientProfile
from plugin.core.stats.pooling_inputs import COLUMNS, METHODS
from plugin.errors import PluginError, PoolingError, ProfileError, StudyDataError
from plugin.storage.errors import StorageUnavailableError

if TYPE_CHECKING:  # each command imports what it needs (stdio `mcp` answers `initialize` sooner for it)
    from plugin.core.stats.meta_analysis import MetaAnalysis
    from plugin.core.stats.study_csv import StudyCounts
    from plugin.storage.store import Storage

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
    serve.add_argument("--workers", type=int, default=1, help="worker processes (they share the database)")

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
    ask.add_argument(
        "--rpl-type", metavar="TYPE", help=f"one of: {', '.join(RPL_TYPES)} (no live birth before, or after one)"
    )
    ask.add_argument("--baseline-live-birth-risk", type=float, metavar="P", help="between 0 and 1, exclusive")
    ask.add_argument(
        "--baseline-live-birth-source",
        metavar="ROW",
        help=f"a sourced baseline instead of --baseline-live-birth-risk: {', '.join(BASELINE_SOURCES)}",
    )
    ask.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    ask.add_argument(
        "--detail",
        choices=["evidence", "full"],
        default="evidence",
        help="evidence (default): at a glance and the evidence on one screen; full: also the certainty reasons, "
        "every source quoted and why this answer (json is always full)",
    )

    evidence = commands.add_parser("evidence", help="evidence store commands")
    evidence_commands = evidence.add_subparsers(dest="evidence_command", required=True)
    evidence_commands.add_parser("check", help="load and verify the evidence store and decision tables")
    pool = evidence_commands.add_parser(
        "pool", help=f"re-pool study counts on the risk-ratio scale; the CSV has columns {','.join(COLUMNS)}"
    )
    pool.add_argument("file", type=Path, metavar="FILE.csv")
    pool.add_argument(
        "--method",
        choices=METHODS,
        required=True,
        help="mh: Mantel-Haenszel common effect; iv: inverse-variance common effect; dl, reml: random effects",
    )
    pool.add_argument("--hksj", action="store_true", help="Hartung-Knapp(-Sidik-Jonkman) CI with t on k-1 df")

    db = commands.add_parser("db", help="the database shared by every replica (IVIG_CDS_DATABASE_URL)")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="create the schema or bring it up to date (safe to run again)")
    db_commands.add_parser("purge", help="remove spent tokens, and cards and feedback past IVIG_CDS_RETENTION_DAYS")

    commands.add_parser("mcp", help="serve MCP over stdio for chat assistants (protocol on stdout, logs on stderr)")
    return parser


def profile_from(args: argparse.Namespace) -> dict[str, Any]:
    fields = {
        "prior_pregnancy_losses": args.prior_pregnancy_losses,
        "nk_cell_percent": args.nk_cell_percent,
        "autoimmune_conditions": args.autoimmune,
        "th1_th2_ratio_elevated": args.th1_th2_ratio_elevated,
        "ivig_start": args.ivig_start,
        "rpl_type": args.rpl_type,
        "baseline_live_birth_risk": args.baseline_live_birth_risk,
        "baseline_live_birth_source": args.baseline_live_birth_source,
    }
    return {name: value for name, value in fields.items() if value is not None}


def ask(args: argparse.Namespace) -> int:
    try:
        profile = PatientProfile.model_validate(profile_from(args))
    except ValidationError as exc:
        from plugin.chat.arguments import error_lines  # the same lines a chat assistant gets: no value repeated

        for line in error_lines(exc, PatientProfile):
            print(f"ivig-cds ask: {line}", file=sys.stderr)  # noqa: T201
        return 2
    from plugin.core.answer.plugin import load_plugin
    from plugin.core.answer.render import wrap_text

    plugin = load_plugin(get_settings())
    try:
        if args.format == "json":
            output = json.dumps(plugin.respond(profile).model_dump(mode="json"), indent=2, ensure_ascii=False)
        else:
            output = plugin.renderer.render(plugin.answer(profile), args.format, args.detail)
            output = wrap_text(output) if args.format == "text" else output
    except ProfileError as exc:  # e.g. a sourced baseline measured in women she is not among
        flag = "--" + str(exc.details.get("field", "")).replace("_", "-")
        print(f"ivig-cds ask: {flag}: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    print(output.rstrip("\n"))  # noqa: T201
    return 0


def evidence_check() -> int:
    from plugin.app import preflight
    from plugin.core.answer.plugin import load_plugin

    settings = get_settings().model_copy(update={"proof_dir": None})  # a check proves every table, always
    plugin = load_plugin(settings)
    preflight(plugin, settings)  # every status rendered in every channel, as `serve` does before binding
    for analysis in plugin.store.analyses.values():
        print(f"{analysis.id}: {len(analysis.estimates)} estimates, {len(analysis.studies)} studies")  # noqa: T201
        for estimate in analysis.estimates:
            print(f"  {analysis.ref(estimate)}: RR {estimate.point:.2f} ({estimate.ci[0]:.2f}-{estimate.ci[1]:.2f})")  # noqa: T201
    for table in plugin.tables.values():
        print(f"{table.id}: {len(table.rows)} rows, hit policy {table.spec.hit_policy}, verified")  # noqa: T201
    print(f"evidence version {plugin.store.version}: OK")  # noqa: T201
    return 0


def pool_report(result: MetaAnalysis, studies: Sequence[StudyCounts]) -> dict[str, Any]:
    """The JSON a curator reads: ratios and their log-scale counterparts, heterogeneity, which studies were adjusted."""
    pi = result.pi
    return {
        "method": result.method,
        "hksj": result.hksj,
        "k": result.k,
        "rr": result.rr,
        "ci_low": result.ci[0],
        "ci_high": result.ci[1],
        "log_rr": result.log_rr,
        "log_ci_low": result.ci_low_log,
        "log_ci_high": result.ci_high_log,
        "se": result.se,
        "ci_distribution": result.ci_distribution,
        "ci_df": result.ci_df,
        "p_value": result.p_value,
        "tau2": result.tau2,
        "i2": result.i2,
        "q": result.q,
        "q_df": result.q_df,
        "pi_low": pi[0] if pi else None,
        "pi_high": pi[1] if pi else None,
        "log_pi_low": result.pi_low_log,
        "log_pi_high": result.pi_high_log,
        "pi_distribution": result.pi_distribution,
        "pi_df": result.pi_df,
        "double_zero_studies": [studies[i].study for i in result.double_zero],
        "continuity_corrected_studies": [studies[i].study for i in result.continuity_corrected],
    }


def evidence_pool(args: argparse.Namespace) -> int:
    from plugin.core.stats.meta_analysis import meta_analyse
    from plugin.core.stats.study_csv import read_study_csv

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        print(f"ivig-cds evidence pool: cannot read {args.file}: {exc.strerror}", file=sys.stderr)  # noqa: T201
        return 2
    try:
        studies = read_study_csv(text)
        result = meta_analyse([s.table for s in studies], args.method, hksj=args.hksj)
    except (StudyDataError, PoolingError) as exc:
        print(f"ivig-cds evidence pool: {args.file}: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(json.dumps(pool_report(result, studies), indent=2))  # noqa: T201
    return 0


def db(args: argparse.Namespace) -> int:
    from plugin.storage.store import Storage

    settings = get_settings()
    try:
        storage = Storage(
            settings.database_url, timeout=settings.database_timeout, retention_days=settings.retention_days
        )
        storage.engine  # noqa: B018  # builds the engine, which checks the URL
    except ValueError as exc:
        print(f"ivig-cds db: IVIG_CDS_DATABASE_URL: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    try:
        if args.db_command == "upgrade":
            before, after = storage.upgrade()
            print(f"database schema at version {after}" + (f" (was {before})" if before != after else ""))  # noqa: T201
        else:
            removed = storage.purge()
            print(", ".join(f"{table}: {count} removed" for table, count in removed.items()))  # noqa: T201
    finally:
        storage.close()
    return 0


def schema_current(storage: Storage) -> bool:
    """False (with the command to run) for a database older than this release; an unreachable one may start:
    the doors that need no database answer, and CDS Hooks answers 503 until it is back."""
    try:
        found = storage.schema_version()
    except StorageUnavailableError:
        logging.getLogger("plugin.cli").warning("the database is unavailable: CDS Hooks will answer 503 until it is")
        return True
    from plugin.storage.migrations import LATEST

    if found < LATEST:
        print(  # noqa: T201
            f"ivig-cds serve: the database schema is at version {found}, this release needs {LATEST}: "
            "run `ivig-cds db upgrade` first",
            file=sys.stderr,
        )
        return False
    return True


def serve(args: argparse.Namespace) -> int:
    from plugin.app import create_app
    from plugin.web.logs import log_config
    from plugin.web.server import serve as run_server

    settings = get_settings()
    logging.config.dictConfig(log_config(settings.log_level))  # start-up warnings are JSON lines too
    app = create_app(settings)  # loads and renders everything first: a broken part never binds the port
    if not schema_current(app.state.storage):
        return 1
    run_server(app, settings, args.host, args.port, workers=args.workers)
    return 0


def mcp() -> int:
    import anyio

    from plugin.chat.stdio import serve
    from plugin.core.answer.plugin import load_plugin
    from plugin.web.logs import log_config

    settings = get_settings()
    # stdout carries nothing but MCP messages, so every log line goes to stderr (as JSON lines, redacted).
    logging.config.dictConfig(log_config(settings.log_level))
    anyio.run(serve, lambda: load_plugin(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "ask":
            return ask(args)
        if args.command == "evidence":
            return evidence_pool(args) if args.evidence_command == "pool" else evidence_check()
        if args.command == "db":
            return db(args)
        if args.command == "mcp":
            return mcp()
        return serve(args)
    except StorageUnavailableError as exc:
        print(f"ivig-cds: {exc.message}", file=sys.stderr)  # noqa: T201  # never the URL: it may hold a password
        return 1
    except PluginError as exc:
        print(f"ivig-cds: {exc}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    sys.exit(main())
