"""Typer application: one function per command, each a thin shell over the library."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from safeheal.errors import SafehealError

app = typer.Typer(
    name="safeheal",
    help="Keep ML models in production healthy on their own, safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from safeheal import __version__

        typer.echo(f"safeheal {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Keep ML models in production healthy on their own, safely."""


@app.command()
def demo(
    seed: Annotated[
        int,
        typer.Option(
            min=0, max=2**32 - 1, help="Seed for the data split, the models and the traffic."
        ),
    ] = 7,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print only the summary as JSON on stdout (the report is still written)."
        ),
    ] = False,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Directory for the HTML report (report.html), created if needed."
        ),
    ] = Path("safeheal-demo"),
    signals: Annotated[
        bool,
        typer.Option(
            "--signals",
            help="Instead: the older signals-only demo (a model, drifting windows, the signals).",
        ),
    ] = False,
    window: Annotated[
        int,
        typer.Option(
            min=50, max=2000, help="With --signals: rows per monitoring window (50 to 2,000)."
        ),
    ] = 300,
    keep_serving: Annotated[
        bool,
        typer.Option(
            "--keep-serving",
            help="After the last window, keep the gateway and its dashboard (/ui) up until Ctrl-C.",
        ),
    ] = False,
    heal: Annotated[
        bool,
        typer.Option("--heal", hidden=True, help="Deprecated: the closed loop is the default."),
    ] = False,
) -> None:
    """Watch safeheal heal a model: the closed loop through four incidents, on loopback.

    Trains a champion and a fallback on a real data set, registers them in MLflow, serves them
    through the gateway over HTTP, and runs the controller on a simulated clock through a
    covariate shift, a concept drift, a latency incident and a burst of anomalous inputs,
    showing each decision with its reason, the canary steps and the recovery. Ends with a
    summary table and writes an HTML report (plots and every decision) to --out.
    """
    del heal  # accepted for scripts written when the closed loop needed it; it changes nothing
    if signals:
        if as_json:
            raise typer.BadParameter(
                "--json prints the closed loop's summary; drop --signals to use it",
                param_hint="--json",
            )
        from safeheal.cli.demo import run_demo

        run_demo(seed=seed, window=window)
        return
    from safeheal.cli.loop_demo import run_loop_demo

    run_loop_demo(seed=seed, json_only=as_json, out_dir=out, keep_serving=keep_serving)


@app.command()
def serve(
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", help="The configuration file; its serve section says what to serve."
        ),
    ] = Path("safeheal.toml"),
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: serve.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default: serve.port).")
    ] = None,
) -> None:
    """Serve registered models: predict, feedback, health, metrics, admin API.

    Reads the serve section of the configuration file, checks everything before opening the
    port, and stops gracefully on Ctrl-C or SIGTERM, keeping every logged request.
    """
    from safeheal.cli.serve import run_serve

    run_serve(config, host=host, port=port)


ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The configuration file (`safeheal init` writes one)."),
]


@app.command()
def init(
    path: Annotated[Path, typer.Option("--path", help="Where to write the file.")] = Path(
        "safeheal.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented safeheal.toml with every key at the paper's default."""
    from safeheal.cli.init import write_config

    written = write_config(path, force=force)
    typer.echo(f"wrote {written}: every section with the paper's defaults; edit [serve] first.")


@app.command()
def status(config: ConfigOption = Path("safeheal.toml")) -> None:
    """A table of models: zone, mode, canary, pending escalations."""
    from safeheal.cli.inspect import run_status

    run_status(config)


@app.command()
def audit(
    model: Annotated[str, typer.Argument(help="The model whose timeline to show.")],
    config: ConfigOption = Path("safeheal.toml"),
    limit: Annotated[int, typer.Option(min=1, help="Show the newest N entries.")] = 50,
) -> None:
    """A model's timeline: decisions, outcomes, role moves, audit events; newest last."""
    from safeheal.cli.inspect import run_audit

    run_audit(config, model, limit=limit)


@app.command()
def explain(
    decision_id: Annotated[str, typer.Argument(help="The decision's id (see `safeheal audit`).")],
    config: ConfigOption = Path("safeheal.toml"),
) -> None:
    """One decision in plain words: signals, verdict, safe set, draws, costs, outcome."""
    from safeheal.cli.inspect import run_explain

    run_explain(config, decision_id)


@app.command()
def approve(
    escalation_id: Annotated[
        str, typer.Argument(help="The escalation's id (see `safeheal status`).")
    ],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    note: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
    actor: Annotated[
        str | None, typer.Option(help="Who answers (default: the login name).")
    ] = None,
    config: ConfigOption = Path("safeheal.toml"),
) -> None:
    """Answer an escalation: approve it, or reject it with --reject."""
    from safeheal.cli.inspect import run_approve

    run_approve(config, escalation_id, reject=reject, note=note, actor=actor)


@app.command()
def run(
    config: ConfigOption = Path("safeheal.toml"),
    once: Annotated[
        bool, typer.Option("--once", help="Run one window of every model, print it, stop.")
    ] = False,
) -> None:
    """Run the controller on the real clock over the configured models, until Ctrl-C."""
    from safeheal.cli.run import run_controller

    run_controller(config, once=once)


@app.command()
def bench(
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A few seeds (2), all scenarios, a reduced sensitivity set."),
    ] = False,
    seeds: Annotated[
        int | None, typer.Option(help="Seeds to run (default 10; 2 with --quick).")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option(help="Worker processes (default: 2, or 1 on a single core).")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Directory for episodes, results.json and report.md.")
    ] = Path("bench-results"),
    scenarios: Annotated[
        Path | None,
        typer.Option(help="A TOML or JSON file of scenarios (default: the paper's 43)."),
    ] = None,
    report_only: Annotated[
        bool,
        typer.Option(
            "--report-only",
            help="Run nothing: write the report and results.json again from the episodes "
            "already in --out.",
        ),
    ] = False,
) -> None:
    """Reproduce the paper's evaluation: 43 failure scenarios, five systems, many seeds."""
    from safeheal.cli.bench import report_again, run_bench

    if report_only:
        report = report_again(out)
        typer.echo(f"report: {report}; results: {out / 'results.json'}")
        return
    run_bench(quick=quick, seeds=seeds, jobs=jobs, out=out, scenarios=scenarios)


def main() -> None:
    """Entry point: user mistakes print one line, never a stack trace."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        app()
    except SafehealError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
