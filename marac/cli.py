"""The `marac` command line: demo, serve, db upgrade, users, audit verify."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from marac import db
from marac.encompass.cli import encompass_group


def _create_app() -> Flask:
    from marac import create_app

    return create_app()


cli = FlaskGroup(create_app=_create_app, add_default_commands=True, help="MARAC platform commands.")


def main() -> None:
    """The `marac` console script: refuses to start on unsafe settings with a one-line reason."""
    from marac.config import ConfigError

    try:
        cli.main(prog_name="marac")
    except ConfigError as exc:
        click.echo(f"marac: refusing to start: {exc}", err=True)
        sys.exit(2)


db_group = click.Group("db", help="Database schema (Alembic migrations).")
users_group = click.Group("users", help="User accounts.")
audit_group = click.Group("audit", help="The audit trail.")
keys_group = click.Group("keys", help="Data keys: rotation, status, a new master key.")
questionnaires_group = click.Group("questionnaires", help="Risk questionnaires (definitions as data).")
meetings_group = click.Group("meetings", help="MARAC meetings.")


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Bring the database schema up to date."""
    from marac.migrate import upgrade

    upgrade(revision)
    click.echo(f"database at {revision}")


@keys_group.command("rotate")
@click.option("--index", "index", is_flag=True, help="Rotate the blind-index key instead of the field key.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1))
@with_appcontext
def keys_rotate(index: bool, batch_size: int) -> None:
    """Move every sealed value (or index term) to a new key version; resumes a rotation that was stopped."""
    from marac.rotation import rotate_keys, unfinished_rotation

    purpose = "index" if index else "field"
    earlier = unfinished_rotation(db.session, purpose)
    done_before = earlier.done_count if earlier else 0
    started = time.perf_counter()
    with click.progressbar(length=0, label=f"rotating the {purpose} key") as bar:

        def show(done: int, total: int) -> None:
            bar.length = max(total, done)
            bar.update(done - bar.pos)

        rotation = rotate_keys(db.session, purpose, batch_size=batch_size, on_progress=show)
    rate = (rotation.done_count - done_before) / max(time.perf_counter() - started, 1e-9)
    unit = "index terms" if index else "fields"
    click.echo(f"{purpose} key now v{rotation.target_version}: {rotation.done_count} {unit}, {rate:.0f} {unit}/s")


@keys_group.command("status")
@with_appcontext
def keys_status() -> None:
    """List every key version and any rotation still to be completed."""
    from marac.rotation import describe_keys

    for line in describe_keys(db.session):
        click.echo(line)


@keys_group.command("generate-master")
def keys_generate_master() -> None:
    """Print a new master key (needs no database or settings)."""
    from marac.crypto import generate_master_key

    click.echo(generate_master_key())
    click.echo("store it in MARAC_MASTER_KEY, in a secret store, never in the repository", err=True)


# Also on the top-level group, so `marac keys generate-master` works before the settings can build an app.
cli.add_command(keys_group)
cli.add_command(encompass_group)  # on the root group: the date arithmetic needs no app or database


@questionnaires_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def questionnaires_load(file: Path) -> None:
    """Load a definition as a new version, used for new assessments (earlier versions are kept)."""
    from marac.cases.questionnaires import load_questionnaire

    try:
        questionnaire = load_questionnaire(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise click.ClickException(f"{file.name}: {exc}") from exc
    db.session.commit()
    count = len(questionnaire.definition["questions"])  # type: ignore[arg-type]
    click.echo(f"loaded {questionnaire.key} v{questionnaire.version} ({count} questions), now used for new assessments")


@questionnaires_group.command("list")
@with_appcontext
def questionnaires_list() -> None:
    """List every loaded questionnaire version and which one new assessments use."""
    from marac.cases.questionnaires import list_questionnaires

    for q in list_questionnaires():
        state = "active" if q.is_active else "replaced"
        count = len(q.definition["questions"])  # type: ignore[arg-type]
        click.echo(f"{q.key:<20} v{q.version:<3} {state:<8} {q.scale:<9} {count:>2} questions  {q.name}")


def _user_or_exit(email: str):  # type: ignore[no-untyped-def]
    from marac.auth.services import find_user_by_email

    user = find_user_by_email(email)
    if user is None:
        raise click.ClickException("no account with that email address")
    return user


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True, help="The person's full name.")
@click.option("--agency", "agency_name", required=True, help="Agency name, exactly as set up.")
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles.")
@click.option("--area", "area_names", multiple=True, help="Limit to these areas (repeat).")
@with_appcontext
def users_create(
    email: str, display_name: str, agency_name: str, roles: tuple[str, ...], area_names: tuple[str, ...]
) -> None:
    """Create an account and print its temporary password (changed at first sign-in)."""
    from marac.auth.accounts import create_user
    from marac.auth.services import AccountError
    from marac.orgs.models import Agency, Area

    agency = db.session.scalar(select(Agency).where(Agency.name == agency_name))
    if agency is None:
        raise click.ClickException(f"no agency named {agency_name!r}")
    areas = list(db.session.scalars(select(Area).where(Area.name.in_(area_names))))
    if len(areas) != len(set(area_names)):
        raise click.ClickException("one or more areas do not exist")
    try:
        _user, secret = create_user(
            None, email=email, display_name=display_name, agency=agency, roles=list(roles), areas=areas, now=db.utcnow()
        )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"created; temporary password: {secret}")


@users_group.command("disable")
@click.argument("email")
@with_appcontext
def users_disable(email: str) -> None:
    """Disable an account and end its sessions."""
    from marac.auth.accounts import set_user_active

    set_user_active(None, _user_or_exit(email), False, db.utcnow())
    db.session.commit()
    click.echo("disabled; sessions ended")


@users_group.command("reset")
@click.argument("email")
@with_appcontext
def users_reset(email: str) -> None:
    """Issue a temporary password, clear the authenticator and lockout, end sessions."""
    from marac.auth.accounts import reset_user

    secret = reset_user(None, _user_or_exit(email), db.utcnow())
    db.session.commit()
    click.echo(f"reset; temporary password: {secret}")


def _parse_anchor(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[tuple[int, str]]:
    anchors = []
    for value in values:
        seq, _, digest = value.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise click.BadParameter(f"{value!r} is not SEQ:HASH as printed by an earlier verify")
        anchors.append((int(seq), digest))
    return anchors


@audit_group.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    callback=_parse_anchor,
    help="SEQ:HASH printed by an earlier run; fails if that event is gone or changed (truncation).",
)
@with_appcontext
def audit_verify(anchors: list[tuple[int, str]]) -> None:
    """Check the whole audit chain; exit 1 naming the first bad event."""
    from marac.audit import chain_head, check_anchor, verify_chain

    session = db.read_only_session()  # a long walk must not hold SQLite's write lock against the web servers
    try:
        checked, problem = verify_chain(session)
        problems = [problem] if problem else [check_anchor(seq, digest, session) for seq, digest in anchors]
        head = chain_head(session)
    finally:
        session.close()
    if first := next((p for p in problems if p is not None), None):
        click.echo(str(first), err=True)
        if problem is not None:
            click.echo(f"{checked} events verified before it", err=True)
        sys.exit(1)
    click.echo(f"audit chain intact: {checked} events")
    if head is not None:
        click.echo(f"head anchor (keep a copy outside the database): {head[0]}:{head[1]}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@with_appcontext
def serve(host: str, port: int, threads: int) -> None:
    """Serve the web application with a production WSGI server (waitress); runs no scheduled jobs."""
    if current_app.config["MARAC_ENV"] != "production":
        click.echo("warning: MARAC_ENV is not production: keys come from instance/ and TLS is not required", err=True)
    _serve(host=host, port=port, threads=threads)


def _serve(host: str, port: int, threads: int) -> None:
    """Hand the app to waitress, first ending the command's own database session: on SQLite every transaction
    holds the write lock, so a session left open here would block every request."""
    import waitress

    db.session.commit()
    db.session.close()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    waitress.serve(app, host=host, port=port, threads=threads, ident="marac")


@click.command("demo")
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--seed-only", is_flag=True, help="Upgrade and seed, then exit without serving.")
@click.option("--with-jobs", is_flag=True, help="Also run the scheduled jobs in this process (demo only).")
@with_appcontext
def demo(port: int, seed_only: bool, with_jobs: bool) -> None:
    """Upgrade the database, seed synthetic demo data if absent, print the accounts and serve on 127.0.0.1."""
    from marac.demo import seed_demo
    from marac.migrate import upgrade

    if current_app.config["MARAC_ENV"] == "production":
        raise click.ClickException("the demo never runs in production (MARAC_ENV=production)")
    upgrade()
    accounts_file = Path(current_app.config["MARAC_DEMO_ACCOUNTS_FILE"])
    created = seed_demo(accounts_file)
    if created:
        click.echo(
            f"seeded synthetic demo data: {created.cases} cases, {created.persons} people, "
            f"{created.repeat_victims} repeat victims, {created.disclosures} disclosures, "
            f"{created.break_glass} break-glass uses, {created.referrals_in_progress} referrals in progress, "
            f"{created.overdue} overdue reviews, {created.meetings} meetings ({created.cases_heard} cases heard, "
            f"{created.actions} actions), {created.waiting_for_meeting} referrals waiting for a meeting"
        )
    else:
        click.echo("demo data already present: kept as it is")
    accounts = json.loads(accounts_file.read_text())
    click.echo(f"\nDemo accounts (passwords and authenticator secrets in {accounts_file}):")
    for account in accounts:
        click.echo(f"  {account['role']:<12} {account['email']:<40} {account['agency']}")
    click.echo("\nSign in with an email and password from that file; for the code, add the totp_secret to an")
    click.echo("authenticator app, or run: .venv/bin/marac demo-code EMAIL")
    if seed_only:
        return
    if with_jobs:
        from marac.scheduler import start_in_process

        start_in_process(current_app._get_current_object(), echo=click.echo)  # type: ignore[attr-defined]
    click.echo(f"\nServing on http://127.0.0.1:{port}/ (Ctrl+C to stop)")
    _serve(host="127.0.0.1", port=port, threads=8)


@click.command("demo-code")
@click.argument("email")
@with_appcontext
def demo_code(email: str) -> None:
    """Print the current authenticator code of a demo account (development only)."""
    import pyotp

    if current_app.config["MARAC_ENV"] == "production":
        raise click.ClickException("not available in production")
    accounts = json.loads(Path(current_app.config["MARAC_DEMO_ACCOUNTS_FILE"]).read_text())
    match = next((a for a in accounts if a["email"] == email.strip().lower()), None)
    if match is None:
        raise click.ClickException("not a demo account")
    click.echo(pyotp.TOTP(match["totp_secret"]).now())


@meetings_group.command("generate")
@with_appcontext
def meetings_generate() -> None:
    """Schedule each area's meetings for the next three months from its pattern (safe to run again)."""
    from marac.meetings.tasks import generate_upcoming_meetings

    click.echo(f"{generate_upcoming_meetings()} meetings scheduled")


@click.command("scheduler")
@click.option("--exit-if-locked", is_flag=True, help="Exit at once (status 3) when another scheduler holds the lock.")
@click.option(
    "--wait-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Wait at most this long for the lock, then exit with status 3 (default: wait for ever).",
)
@with_appcontext
def scheduler_command(exit_if_locked: bool, wait_seconds: float | None) -> None:
    """Run the scheduled jobs in Europe/London; only one scheduler runs at a time (web servers never run jobs)."""
    from marac.scheduler import run_scheduler

    db.session.close()  # jobs open their own sessions; this command's must not hold SQLite's write lock
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    status = run_scheduler(app, exit_if_locked=exit_if_locked, wait_seconds=wait_seconds, echo=click.echo)
    if status:
        sys.exit(status)


# --- outbox (issue 6): the relay that delivers queued messages, and the outbox's state ------------------------------
outbox_group = click.Group("outbox", help="The outbox of messages to send.")


@outbox_group.command("relay")
@click.option("--once", is_flag=True, help="Relay one batch and exit.")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(min=1))
@with_appcontext
def outbox_relay(once: bool, batch: int) -> None:
    """Send due messages through MARAC_MAIL_BACKEND until SIGTERM or SIGINT (or one batch with --once)."""
    import signal
    import threading

    from marac.notify.relay import relay_once, run_relay

    if once:
        result = relay_once(batch)
    else:
        stop = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
        result = run_relay(batch, stop=stop)
    click.echo(
        f"sent {result.sent}, retrying {result.retrying}, dead {result.dead}, "
        f"already delivered {result.already_delivered}"
    )


@outbox_group.command("status")
@with_appcontext
def outbox_status() -> None:
    """Messages by status, the oldest pending message's age, and the dead letters."""
    from marac.notify.services import list_dead_letters, summarise_outbox

    summary = summarise_outbox()
    click.echo(", ".join(f"{status} {count}" for status, count in sorted(summary.counts.items())))
    if summary.oldest_pending_at is not None:
        click.echo(f"oldest pending: {int((db.utcnow() - summary.oldest_pending_at).total_seconds())} s")
    for message in list_dead_letters():
        click.echo(f"dead {message.public_id} {message.kind} attempts {message.attempts}: {message.last_error}")


@outbox_group.command("requeue")
@click.option("--id", "public_id", help="The public id of one dead letter (as `marac outbox status` prints it).")
@click.option("--all-dead", is_flag=True, help="Every dead letter.")
@with_appcontext
def outbox_requeue(public_id: str | None, all_dead: bool) -> None:
    """Send dead letters again: attempts reset, due now, idempotency key kept (a delivered file is not rewritten)."""
    from marac.notify import admin as outbox

    if bool(public_id) == all_dead:
        raise click.UsageError("give either --id PUBLIC_ID or --all-dead")
    if all_dead:
        count = outbox.requeue_dead_letters(None, db.utcnow())
    else:
        message = outbox.get_outbox_message(public_id or "")
        if message is None:
            raise click.ClickException("no outbox message with that id")
        try:
            outbox.requeue_message(None, message, db.utcnow())
        except outbox.NotDeadLetter as exc:
            raise click.ClickException("that message is not dead-lettered: nothing to send again") from exc
        count = 1
    db.session.commit()
    click.echo(f"requeued {count}")


# --- end outbox -------------------------------------------------------------------------------------------------------


def register_commands(app: Flask) -> None:
    """Attach every command to the app's CLI."""
    for command in (
        db_group,
        users_group,
        audit_group,
        keys_group,
        questionnaires_group,
        meetings_group,
        serve,
        demo,
        demo_code,
        scheduler_command,
        outbox_group,
    ):
        app.cli.add_command(command)
