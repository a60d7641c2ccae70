"""The `ivig-cds` command: serve, ask, decision-aid, evidence check, evidence pool, db upgrade, db purge, mcp. A thin
shell over the same core as HTTP."""

from __future__ import annotations

import argparse
import json
import logging.config
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from plugin.cli_args import build_parser, flag_for
from plugin.config import ConfigError, Settings, get_settings
from plugin.core.rules.profile import PatientProfile
from plugin.errors import PluginError, PoolingError, ProfileError, StudyDataError
from plugin.storage.errors import DatabaseUrlError, StorageUnavailableError

if TYPE_CHECKING:  # each command imports what it needs (stdio `mcp` answers `initialize` sooner for it)
    from plugin.core.stats.meta_analysis import MetaAnalysis
    from plugin.core.stats.study_csv import StudyCounts
    from plugin.storage.store import Storage


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


def profile_or_errors(args: argparse.Namespace, command: str) -> PatientProfile | None:
    """The profile the flags give, or None after one line on stderr per flag that is wrong (never its value)."""
    try:
        return PatientProfile.model_validate(profile_from(args))
    except ValidationError as exc:
        from plugin.chat.arguments import allowed, field_of  # what a chat assistant is told: no value repeated

        for error in exc.errors(include_url=False):
            print(f"ivig-cds {command}: {flag_for(field_of(error))}: {allowed(error, PatientProfile)}", file=sys.stderr)  # noqa: T201
        return None


def ask(args: argparse.Namespace) -> int:
    profile = profile_or_errors(args, "ask")
    if profile is None:
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
        print(f"ivig-cds ask: {flag_for(str(exc.details.get('field', '')))}: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    print(output.rstrip("\n"))  # noqa: T201
    return 0


def decision_aid(args: argparse.Namespace) -> int:
    """The decision aid as text or an HTML page, on stdout or in `--output`; a page in a file carries its stylesheet
    (there is no server to load it from)."""
    profile = profile_or_errors(args, "decision-aid")
    if profile is None:
        return 2
    from plugin.core.answer.plugin import load_plugin
    from plugin.core.answer.render import AidPage, wrap_text

    settings = get_settings()
    plugin = load_plugin(settings)
    try:
        aid = plugin.decision_aid(profile)
    except ProfileError as exc:  # a sourced baseline measured in women she is not among
        print(f"ivig-cds decision-aid: {flag_for(str(exc.details.get('field', '')))}: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    if args.format == "html":
        css = (settings.templates_dir / "widget" / "static" / "aid.css").read_text(encoding="utf-8")
        output = plugin.renderer.render_aid(aid, "html", AidPage(inline_css=css))
    else:
        output = wrap_text(plugin.renderer.render_aid(aid, "text"))
    if args.output is None:
        print(output.rstrip("\n"))  # noqa: T201
        return 0
    try:
        args.output.write_text(output, encoding="utf-8")
    except OSError as exc:
        print(f"ivig-cds decision-aid: cannot write {args.output}: {exc.strerror}", file=sys.stderr)  # noqa: T201
        return 2
    print(f"decision aid written to {args.output}")  # noqa: T201
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


def evidence_release(args: argparse.Namespace) -> int:
    import datetime

    from plugin.curation.release import release

    try:
        notes = args.notes.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"ivig-cds evidence release: cannot read {args.notes}: {exc.strerror}", file=sys.stderr)  # noqa: T201
        return 2
    settings = get_settings().model_copy(update={"evidence_dir": args.directory, "proof_dir": None})
    released_on = args.released_on or datetime.datetime.now(datetime.UTC).date()
    new, previous = release(settings, args.label, notes, released_on)
    after = f" (after {previous.label}, {previous.version})" if previous is not None else ""
    print(f"released {new.label}: evidence version {new.version}, {len(new.files)} files{after}")  # noqa: T201
    return 0


def evidence_diff(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from plugin.core.answer.plugin import load_plugin
    from plugin.curation.diff import diff
    from plugin.curation.reading import Reader
    from plugin.curation.report import print_report

    plugins = []
    for directory in (args.old, args.new):
        settings = get_settings().model_copy(update={"evidence_dir": directory, "proof_dir": None})
        try:
            plugins.append(load_plugin(settings))
        except PluginError as exc:
            print(f"ivig-cds evidence diff: {directory}: {exc}", file=sys.stderr)  # noqa: T201
            return 2
    errors = Console(stderr=True)
    with Progress(console=errors, disable=not errors.is_terminal, transient=True) as progress:
        task = progress.add_task("answering the profile grid with both releases", total=None)
        result = diff(
            Reader(plugins[0]),
            Reader(plugins[1]),
            lambda done, total: progress.update(task, completed=done, total=total),
        )
    if args.format == "json":
        print(json.dumps(result.report(), indent=2, ensure_ascii=False))  # noqa: T201
    else:
        print_report(result, Console(highlight=False, soft_wrap=True))
    return 1 if result.changed else 0


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
    state_directory(settings)
    try:
        storage = Storage(
            settings.database_url, timeout=settings.database_timeout, retention_days=settings.retention_days
        )
        storage.engine  # noqa: B018  # builds the engine, which checks the URL
    except DatabaseUrlError as exc:
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


def state_directory(settings: Settings) -> None:
    """Create the data directory (only it: a database elsewhere must be in a directory that exists) and say where
    it is, once, on stderr as a log line."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("plugin.cli").info("data directory %s", settings.data_dir)


def schema_current(storage: Storage) -> bool:
    """False (with the command to run) for a database older than this release; an unreachable one may start:
    the doors that need no database answer, and CDS Hooks answers 503 until it is back."""
    try:
        found = storage.schema_version()
    except StorageUnavailableError as exc:
        logging.getLogger("plugin.cli").warning("%s: CDS Hooks will answer 503 until it is fixed", exc.message)
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
    from plugin.web.hangup import defer_hangups
    from plugin.web.logs import log_config
    from plugin.web.server import serve as run_server

    defer_hangups()  # SIGHUP reloads the evidence once serving; before that, it is remembered, not fatal
    settings = get_settings()
    logging.config.dictConfig(log_config(settings.log_level))  # start-up warnings are JSON lines too
    state_directory(settings)
    try:
        app = create_app(settings)  # loads and renders everything first: a broken part never binds the port
    except DatabaseUrlError as exc:
        print(f"ivig-cds serve: IVIG_CDS_DATABASE_URL: {exc}", file=sys.stderr)  # noqa: T201
        return 2
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
    logging.getLogger("plugin.cli").info("data directory %s", settings.data_dir)  # created only if proofs are kept
    anyio.run(serve, lambda: load_plugin(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = run(args)
        sys.stdout.flush()  # inside the guard: a reader that has gone away is met here, not at exit
        return code
    except BrokenPipeError:
        quiet_stdout()
        return 141  # as a process ended by SIGPIPE reports it: the reader (`| head -1`) had what it wanted
    except ConfigError as exc:
        for line in exc.lines:
            print(f"ivig-cds: {line}", file=sys.stderr)  # noqa: T201
        return 2
    except StorageUnavailableError as exc:
        print(f"ivig-cds: {exc.message}", file=sys.stderr)  # noqa: T201  # never the URL: it may hold a password
        return 1
    except PluginError as exc:
        print(f"ivig-cds: {exc}", file=sys.stderr)  # noqa: T201
        return 1


def run(args: argparse.Namespace) -> int:
    if args.command == "ask":
        return ask(args)
    if args.command == "decision-aid":
        return decision_aid(args)
    if args.command == "evidence":
        commands = {"pool": evidence_pool, "release": evidence_release, "diff": evidence_diff}
        chosen = commands.get(args.evidence_command)
        return chosen(args) if chosen is not None else evidence_check()
    if args.command == "db":
        return db(args)
    if args.command == "mcp":
        return mcp()
    return serve(args)


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit finds no closed pipe either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
