"""`marsad sandbox`: training sandboxes (services/sandbox): create, list, reset, destroy, progress, serve."""
from __future__ import annotations

import functools
import sys

import click

from services.cli import EXIT_DENIED, EXIT_NOT_FOUND
from services.cli.common import PORT, emit_json
from services.languages import LANGUAGES

STEP_NAMES = {"database": "database", "accounts": "accounts", "data": "data", "indicators": "indicators",
              "practice_files": "practice files", "snapshot": "snapshot", "credentials": "credentials sheet"}
MARKS = {"done": "✓", "started": "…", "todo": "·"}


def _handled(command):
    """Sandbox errors as messages and exit codes: refused 3, not found 4, other problems 1."""
    @functools.wraps(command)
    def wrapped(*args, **kwargs):
        from services.sandbox import Refused, SandboxError, SandboxNotFound

        try:
            return command(*args, **kwargs)
        except Refused as err:
            click.echo(str(err), err=True)
            sys.exit(EXIT_DENIED)
        except SandboxNotFound as err:
            click.echo(str(err), err=True)
            sys.exit(EXIT_NOT_FOUND)
        except SandboxError as err:
            raise click.ClickException(str(err)) from None
    return wrapped


@click.group("sandbox")
def sandbox_group() -> None:
    """Training sandboxes: isolated Marsad copies with synthetic data, trainee accounts and exercises.

    Each lives under MARSAD_SANDBOX_ROOT (default MARSAD_VAR_DIR/sandboxes)/NAME with its own
    database, object store, accounts and portal port. On PostgreSQL and S3 when
    MARSAD_SANDBOX_DATABASE_URL and MARSAD_SANDBOX_S3_* are set.
    """


@sandbox_group.command("create")
@click.argument("name")
@click.option("--trainees", default=20, show_default=True, help="Trainee accounts.")
@click.option("--trainers", default=1, show_default=True, help="Trainer accounts.")
@click.option("--institution", default="MI-PAF", show_default=True, help="The institution trainees act for.")
@click.option("--days", default=14, show_default=True, help="Days until the sandbox expires.")
@click.option("--target", type=click.Choice(["local", "lab"]), default="local", show_default=True,
              help="local: this machine; lab: the sandbox server of hardware lab --env, served by its nginx.")
@click.option("--env", "env", default="lab", show_default=True,
              help="Target lab: the lab environment (hardware/environments/ENV.yaml, or a file).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the portal listens on.")
@click.option("--port", type=PORT, help="Portal port (default: the first free from 5101).")
@click.option("--language", type=click.Choice(LANGUAGES), default="ar", show_default=True,
              help="The accounts' language.")
@click.option("--pdf/--no-pdf", default=True, show_default=True, help="Also a PDF credentials sheet (WeasyPrint).")
@click.option("--url-prefix", default="", help="Served under this path by a web front (e.g. /sandbox/NAME/).")
@click.option("--public-url", default="", help="The address trainees use, when a web front serves the portal.")
@_handled
def create(name, trainees, trainers, institution, days, target, env, host, port, language, pdf, url_prefix,
           public_url):
    """Create sandbox NAME: database, accounts, synthetic data, practice files, credentials sheet."""
    from services import sandbox
    from services.sandbox.credentials import pdf_available

    sb, sheet = sandbox.create(name, trainees=trainees, trainers=trainers, institution=institution, days=days,
                               target=target, env=env, host=host, port=port, language=language, pdf=pdf,
                               url_prefix=url_prefix, public_url=public_url, say=lambda m: click.echo(f"  {m}"))
    if sb.target == "lab":
        click.echo(f"sandbox {sb.name} created on {sb.lab['server']} ({sb.lab['env']}) "
                   f"in {sb.timings['create']['total']:.1f} s")
        click.echo(f"  portal:      {sb.url}  (TLS by the lab's nginx; its certificate is self-signed)")
        click.echo(f"  on server:   {sb.lab['folder']} (database, objects), unit marsad-sandbox@{sb.name}")
        click.echo(f"  credentials: {', '.join(str(p) for p in sheet)}")
        click.echo(f"  expires:     {sb.expires}")
        return
    t = sb.timings["create"]
    steps = ", ".join(f"{STEP_NAMES[k]} {v:.1f}" for k, v in t.items() if k in STEP_NAMES)
    kinds = {k: sum(a.kind == k for a in sb.accounts) for k in ("trainee", "trainer", "roleplay")}
    trainee_role = sb.trainee_accounts()[0].role
    click.echo(f"sandbox {sb.name} created in {t['total']:.1f} s ({steps})")
    click.echo(f"  folder:      {sb.folder}")
    click.echo(f"  database:    {sandbox.database_of(sb).describe()}")
    click.echo(f"  objects:     {sandbox.objects_of(sb).describe()}")
    started = "" if sb.url_prefix else f"  (start it: marsad sandbox serve {sb.name})"
    click.echo(f"  portal:      {sb.url}{started}")
    click.echo(f"  accounts:    {kinds['trainee']} trainees ({trainee_role} at {sb.institution}), "
               f"{kinds['trainer']} trainer(s), {kinds['roleplay']} role-play accounts for exercise (b)")
    click.echo(f"  credentials: {', '.join(str(p) for p in sheet)}")
    if pdf and not any(p.suffix == ".pdf" for p in sheet):
        reason = "WeasyPrint is not installed" if not pdf_available() else "not written"
        click.echo(f"  (no PDF: {reason}; print the HTML sheet)")
    click.echo(f"  expires:     {sb.expires}")


@sandbox_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@_handled
def list_command(as_json):
    """Every sandbox with its state: active, expired, and whether its portal port answers."""
    from services import sandbox

    sandbox.ensure_allowed()
    rows = []
    for sb in sandbox.all_sandboxes():
        rows.append({"name": sb.name, "target": sb.target, "institution": sb.institution, "trainees": sb.trainees,
                     "url": sb.url, "created": sb.created, "expires": sb.expires,
                     "state": "expired" if sb.expired() else "active", "serving": sandbox.port_open(sb),
                     "database": sb.database.get("kind"), "storage": sb.storage.get("kind"),
                     "last_reset_seconds": sb.timings.get("last_reset")})
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(f"no sandbox under {sandbox.sandboxes_root()}")
        return
    click.echo(f"{'name':<24} {'state':<8} {'expires':<10} {'trainees':>8}  {'institution':<11} {'portal':<28} serving")
    for r in rows:
        click.echo(f"{r['name']:<24} {r['state']:<8} {r['expires']:<10} {r['trainees']:>8}  {r['institution']:<11} "
                   f"{r['url']:<28} {'yes' if r['serving'] else 'no'}")


@sandbox_group.command("reset")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@_handled
def reset(name, as_json):
    """Restore NAME's seeded state: database and objects as they were after create (accounts kept)."""
    from services import sandbox

    seconds = sandbox.reset(name)
    if as_json:
        emit_json({"name": name, "seconds": seconds})
        return
    click.echo(f"sandbox {name} reset to its seeded state in {seconds:.2f} s")


@sandbox_group.command("destroy")
@click.argument("names", nargs=-1)
@click.option("--expired", is_flag=True, help="Every expired sandbox.")
@_handled
def destroy(names, expired):
    """Remove sandboxes NAMES entirely (files, database, buckets, accounts) and check nothing is left."""
    from services import sandbox

    sandbox.ensure_allowed()
    chosen = list(names)
    if expired:
        chosen += [sb.name for sb in sandbox.all_sandboxes() if sb.expired() and sb.name not in chosen]
    if not chosen:
        raise click.UsageError("name a sandbox, or give --expired")
    for name in chosen:
        removed = sandbox.destroy(name)
        click.echo(f"sandbox {name} destroyed; nothing left of: {'; '.join(removed)}")


@sandbox_group.command("progress")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@_handled
def progress(name, as_json, lang):
    """Each trainee's progress on each exercise, read from NAME's database and audit trail."""
    from services import sandbox

    sandbox.ensure_allowed()
    exercises, table = sandbox.progress_table(sandbox.load(name))
    if as_json:
        emit_json({user: {code: {"state": o.state, "detail": o.detail} for code, o in row.items()}
                   for user, row in table.items()})
        return
    for i, e in enumerate(exercises, start=1):
        click.echo(f"  {i}. {e.text('title', lang)}")
    header = f"{'trainee':<14}" + "".join(f"{i:>4}" for i in range(1, len(exercises) + 1)) + "  done"
    click.echo(header)
    for user, row in table.items():
        done = sum(o.state == "done" for o in row.values())
        click.echo(f"{user:<14}" + "".join(f"{MARKS[row[e.code].state]:>4}" for e in exercises)
                   + f"  {done}/{len(exercises)}")
    totals = [sum(table[u][e.code].state == "done" for u in table) for e in exercises]
    click.echo(f"{'done':<14}" + "".join(f"{t:>4}" for t in totals))
    click.echo("✓ done  … started  · not yet")


@sandbox_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@_handled
def show(name, as_json):
    """NAME's manifest (accounts, content, timings, history), without its session key."""
    from dataclasses import asdict

    from services import sandbox

    sandbox.ensure_allowed()
    sb = sandbox.load(name)
    data = {**asdict(sb), "folder": str(sb.folder), "url": sb.url}
    data.pop("secret_key")
    data["credentials"] = sorted(p.name for p in sb.folder.glob("credentials.*"))
    if as_json:
        emit_json(data)
        return
    for key in ("name", "target", "institution", "trainees", "trainers", "url", "created", "expires", "folder"):
        click.echo(f"{key + ':':<13}{data[key]}")
    click.echo(f"{'accounts:':<13}{', '.join(a.username for a in sb.accounts)}")


@sandbox_group.command("serve")
@click.argument("name")
@click.option("--host", help="Address to listen on (default: the sandbox's).")
@click.option("--port", type=PORT, help="Port (default: the sandbox's).")
@_handled
def serve(name, host, port):
    """Run NAME's portal (Flask's threaded server) on its own port, in the foreground."""
    import os

    from werkzeug.serving import run_simple

    from services import sandbox

    sandbox.ensure_allowed()
    sb = sandbox.load(name)
    if sb.target == "lab":
        raise click.ClickException(f"sandbox {name} is served on {sb.lab['server']} at {sb.url}")
    if sb.expired():
        click.echo(f"note: sandbox {name} expired on {sb.expires}; destroy it when the training is over", err=True)
    # From here on this process is the sandbox's: none of the host's settings stay in reach.
    env = sandbox.environ(sb)
    os.environ.clear()
    os.environ.update(env)
    from portal.progress import create_sandbox_app

    app = create_sandbox_app(sb)
    host, port = host or sb.host, port or sb.port
    click.echo(f"sandbox {name}: portal on http://{host}:{port}/  (exercises /exercises, trainers /progress; "
               "Ctrl-C stops it)")
    run_simple(host, port, app, threaded=True)


COMMANDS = [sandbox_group]
