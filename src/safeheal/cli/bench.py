"""`safeheal bench`: run the evaluation suite, write every episode, then the results and report."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from safeheal.cli._common import console
from safeheal.errors import ConfigError

#: Seeds of a full run and of --quick.
FULL_SEEDS = 10
QUICK_SEEDS = 2


def _check_out(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; name a directory (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out} cannot be created: {exc.strerror or exc}") from None
    return out


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")


def run_bench(
    *,
    quick: bool,
    seeds: int | None,
    jobs: int | None,
    out: Path,
    scenarios: Path | None,
) -> None:
    """Check the options, run the suite with a progress bar, write the outputs."""
    from safeheal.bench import EXPERT_RULES, default_suite, load_scenarios, run_suite
    from safeheal.bench._sim import DEFINITIONS

    n_seeds = seeds if seeds is not None else (QUICK_SEEDS if quick else FULL_SEEDS)
    if isinstance(n_seeds, bool) or n_seeds < 1:
        raise ConfigError(f"--seeds must be a whole number >= 1; got {n_seeds}")
    n_jobs = jobs if jobs is not None else max(1, min(2, os.cpu_count() or 1))
    if n_jobs < 1:
        raise ConfigError(f"--jobs must be a whole number >= 1; got {n_jobs}")
    specs = load_scenarios(scenarios) if scenarios is not None else default_suite()
    out = _check_out(out)
    con = console()
    started = time.monotonic()
    with Progress(
        TextColumn("[bold]bench[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("episodes"),
        TimeElapsedColumn(),
        console=con,
        transient=False,
    ) as bar:
        task = bar.add_task("episodes", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        suite = run_suite(
            specs,
            seeds=n_seeds,
            jobs=n_jobs,
            sensitivity="quick" if quick else "full",
            progress=progress,
        )
    seconds = time.monotonic() - started
    _write_jsonl(out / "episodes.jsonl", [r.to_dict() for r in suite.results])
    sens_rows = [
        {"variant": f"{p}={v}", "parameter": p, "value": v, **r.to_dict()}
        for p, by_value in suite.sensitivity.items()
        for v, runs in by_value.items()
        for r in runs
    ]
    _write_jsonl(out / "sensitivity.jsonl", sens_rows)
    meta: dict[str, Any] = {
        **suite.meta,
        "quick": quick,
        "seconds": round(seconds, 1),
        "command": "safeheal bench"
        + (" --quick" if quick else "")
        + (f" --seeds {seeds}" if seeds is not None else "")
        + (f" --jobs {jobs}" if jobs is not None else "")
        + (f" --scenarios {scenarios}" if scenarios is not None else ""),
        "definitions": DEFINITIONS,
        "scenarios": [s.to_dict() for s in specs],
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    con.print(
        f"{len(suite.results)} episodes ({suite.scenarios} scenarios × {len(suite.seeds)} seeds × "
        f"{len({r.system for r in suite.results})} systems) in {seconds:.0f} s → "
        f"{out / 'episodes.jsonl'}, {out / 'sensitivity.jsonl'}"
    )
    _report(suite, out, meta, [rule.words() for rule in EXPERT_RULES], con)


def report_again(out: Path) -> Path:
    """Write ``report.md``, ``results.json`` and the plots again from the episodes a run left in
    ``out`` (``episodes.jsonl``, ``sensitivity.jsonl``, ``meta.json``), running nothing: for a
    report whose definitions or layout changed, or to look at an older run."""
    from safeheal.bench import EXPERT_RULES, EpisodeResult
    from safeheal.bench._report import write_report

    episodes = out / "episodes.jsonl"
    if not episodes.is_file():
        raise ConfigError(f"--report-only: no {episodes}; run `safeheal bench --out {out}` first")

    def rows(path: Path) -> list[dict[str, Any]]:
        if not path.is_file():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        try:
            return [json.loads(line) for line in lines if line.strip()]
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--report-only: {path} is not JSON lines: {exc}") from None

    try:
        results = [EpisodeResult.from_dict(r) for r in rows(episodes)]
        sensitivity: dict[str, dict[str, list[EpisodeResult]]] = {}
        for r in rows(out / "sensitivity.jsonl"):
            parameter, value = str(r.pop("parameter")), str(r.pop("value"))
            r.pop("variant", None)
            sensitivity.setdefault(parameter, {}).setdefault(value, []).append(
                EpisodeResult.from_dict(r)
            )
    except (KeyError, TypeError) as exc:
        raise ConfigError(
            f"--report-only: the episodes in {out} are not in this version's format ({exc})"
        ) from None
    meta_path = out / "meta.json"
    meta: dict[str, Any] = (
        json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    )
    if not results:
        raise ConfigError(f"--report-only: {episodes} holds no episode")
    return write_report(
        results,
        out,
        scenarios=len({r.scenario for r in results}),
        seeds=len({r.seed for r in results}),
        sensitivity=sensitivity,
        rules=[rule.words() for rule in EXPERT_RULES],
        meta=meta,
    )


def _report(suite: Any, out: Path, meta: dict[str, Any], rules: list[str], con: Any) -> None:
    """The statistics and the report: ``report.md``, ``results.json`` and the plots."""
    from safeheal.bench._report import write_report

    seeds = len(suite.seeds)
    report = write_report(
        suite.results,
        out,
        scenarios=suite.scenarios,
        seeds=seeds,
        sensitivity=suite.sensitivity,
        rules=rules,
        meta=meta,
    )
    con.print(f"report: {report}; results: {out / 'results.json'}")
