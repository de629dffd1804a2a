"""The `credit-ledger` command line."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ops.config import load_settings

app = typer.Typer(help="credit-ledger: a streaming, event-sourced ledger of public credit records.",
                  no_args_is_help=True, add_completion=False)
out = Console()
err = Console(stderr=True)


@app.command()
def up(demo: bool = typer.Option(False, "--demo", help="publish a realistic synthetic dataset"),
       data_dir: Optional[str] = typer.Option(None, help="where Kafka and the worker keep their data"),
       web_port: Optional[int] = typer.Option(None, help="the worker's HTTP port (default 6066)"),
       kafka_port: Optional[int] = typer.Option(None, help="the embedded broker's port (default 9092)"),
       speed: Optional[float] = typer.Option(None, help="run the clock X times faster, e.g. 86400: a day a "
                                                         "second, so the demo shows deadlines firing")):
    """Start embedded Kafka, the worker and the web server; Ctrl-C stops them all."""
    import time

    from ops.up import run_up

    settings = load_settings(data_dir=data_dir, web_port=web_port, kafka_port=kafka_port, clock_speed=speed,
                             clock_started_s=time.time() if speed else None)
    try:
        settings.clock()
    except ValueError as error:
        err.print(f"error: --speed: {error}")
        raise typer.Exit(2)
    raise typer.Exit(run_up(settings, demo=demo))


@app.command()
def worker(loglevel: str = typer.Option("warn", help="crit, error, warn, info or debug")):
    """Run the Faust worker against the configured brokers (CREDIT_LEDGER_KAFKA)."""
    from streams.app import run_worker

    run_worker(load_settings(), loglevel=loglevel)


FORMATS = ("jsonl", "permit-csv", "penalty-csv")


@app.command()
def publish(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a file of events"),
            format_: str = typer.Option("jsonl", "--format", help="jsonl, permit-csv or penalty-csv (双公示 templates)"),
            kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)")):
    """Validate every line and publish the valid ones; report every rejected line."""
    from projections.templates import TemplateError, read_penalty_csv, read_permit_csv
    from streams.sdk import Publisher

    if format_ not in FORMATS:
        err.print(f"error: --format must be one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    settings = load_settings(kafka=kafka)
    refused: dict[int, list] = {}  # line -> problems found before the SDK saw the line
    if format_ == "jsonl":
        lines = file.read_text(encoding="utf-8-sig").splitlines()
        numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    else:
        reader = read_permit_csv if format_ == "permit-csv" else read_penalty_csv
        try:
            rows = reader(file.read_bytes())
        except TemplateError as error:
            for p in error.problems:
                err.print(f"{file}: {p.field}: {p.message} [{p.rule}]")
            raise typer.Exit(1)
        numbered = [(row.line, event) for row in rows for event in row.events]
        refused = {row.line: row.problems for row in rows if row.problems}
    with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=False) as progress:
        task = progress.add_task("publish", total=len(numbered))
        with Publisher(settings.kafka, pseudonym_key=settings.pseudonym_key_bytes) as publisher:
            for line, problems in refused.items():
                publisher.reject(f"{file.name} line {line}", problems)
            report = publisher.publish_many((item for _, item in numbered),
                                            on_progress=lambda n: progress.update(task, completed=n))
    for position, problems in report.invalid.items():
        refused[numbered[position - 1][0]] = problems
    out.print(f"{len(report.delivered)} published, {len(refused)} rejected, "
              f"{len(report.failed)} not delivered ({file})")
    if refused:
        table = Table("line", "field", "rule", "problem", title="rejected lines")
        for line, problems in sorted(refused.items()):
            for p in problems:
                table.add_row(str(line), p.field, p.rule, p.message)
        out.print(table)
    for position, reason in sorted(report.failed.items()):
        out.print(f"line {numbered[position - 1][0]}: not delivered: {reason}")
    raise typer.Exit(0 if report.ok and not refused else 1)


@app.command("check-id")
def check_id(code: str = typer.Argument(..., help="a unified social credit code or a resident ID number")):
    """Check a USCC (GB 32100-2015) or a resident ID number (GB 11643); exit 1 when invalid."""
    from projections.ids import id_kind, resident_id_problems, uscc_problems

    kind = id_kind(code)
    problems = resident_id_problems(code) if kind == "RESIDENT_ID" else uscc_problems(code)
    label = "resident ID number (GB 11643)" if kind == "RESIDENT_ID" else "unified social credit code (GB 32100-2015)"
    if problems:
        out.print(f"{code}: invalid {label}")
        for problem in problems:
            out.print(f"  - {problem}")
        raise typer.Exit(1)
    out.print(f"{code}: valid {label}")


@app.command()
def deadline(start: str = typer.Argument(..., metavar="DATE", help="the day of the event, e.g. 2024-09-27"),
             working_days: int = typer.Option(7, "--working-days", "-n", help="working days after DATE (双公示: 7)"),
             calendar_overrides: Optional[str] = typer.Option(None, help="a TOML file of newly published schedules")):
    """The due date on the official working-day calendar (the day of the event is not counted)."""
    from datetime import date

    from projections.calendar import format_due

    try:
        start_on = date.fromisoformat(start)
    except ValueError as error:
        err.print(f"error: DATE {start!r} is not a calendar date like 2024-09-27 ({error})")
        raise typer.Exit(2)
    try:
        due = load_settings(calendar_overrides=calendar_overrides).working_calendar().add_working_days(
            start_on, working_days)
    except ValueError as error:
        err.print(f"error: {error}")
        raise typer.Exit(2)
    out.print(f"{start_on} + {working_days} working days: due {format_due(due)}, "
              f"ends {due.ends_at.isoformat()} (24:00 Asia/Shanghai)")
    if due.provisional:
        out.print("provisional: the official calendar does not cover this year yet (weekends and fixed-date "
                  "holidays only); add the State Council's schedule with --calendar-overrides")


@app.command()
def replay(from_file: Path = typer.Option(..., "--from-file", exists=True, dir_okay=False,
                                          help="a JSONL file of events (an exported log or a publisher's file)"),
           subject: Optional[str] = typer.Option(None, help="show this subject only"),
           clock: Optional[str] = typer.Option(None, "--clock", metavar="T", help=(
               "also run the timers up to instant T (ISO, e.g. 2027-05-06T12:00:00+08:00; a date means 00:00 "
               "Asia/Shanghai that day): what the file will look like then if nothing else happens")),
           as_json: bool = typer.Option(False, "--json", help='print {"file": ..., "history": [...]}')):
    """Fold events from a file with no Kafka at all."""
    import json

    from projections.fold import credit_file
    from projections.replay import replay as replay_entries

    settings = load_settings()
    entries, problems = [], []
    for number, line in enumerate(from_file.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not JSON: {error.msg}")
            continue
        if isinstance(event, dict) and "recorded_at" not in event and isinstance(event.get("occurred_on"), str):
            # a publisher's file has no transaction time: as if recorded the day it occurred
            event["recorded_at"] = event["occurred_on"] + "T00:00:00+08:00"
        entries.append((number - 1, event))  # the line's position stands for its offset
    policy = settings.policy()
    result = replay_entries(entries, pseudonym_key=settings.pseudonym_key_bytes, policy=policy,
                            clock=_instant_option(clock, "--clock") if clock else None)
    for problem in problems:
        err.print(problem)
    if subject is not None:
        state = result.states.get(subject)
        if state is None:
            err.print(f"no subject {subject} in {from_file}")
            raise typer.Exit(1)
        view = {"file": credit_file(state, policy), "history": result.history.get(subject, [])}
        if as_json:
            print(json.dumps(view, ensure_ascii=False, indent=1))
        else:
            out.print_json(data=view["file"], ensure_ascii=False)
        return
    if as_json:
        print(json.dumps({"files": {sid: {"file": credit_file(st, policy), "history": result.history.get(sid, [])}
                                    for sid, st in sorted(result.states.items())},
                          "rejected": result.rejected}, ensure_ascii=False, indent=1))
        return
    fired = f", {result.fired} fired by the timers up to {clock}" if clock else ""
    table = Table("subject", "name", "events", "rejected", title=f"{from_file}: {len(entries)} events{fired}")
    for sid, st in sorted(result.states.items()):
        table.add_row(sid, st["subject"].get("name", ""), str(st["chain"]["length"]), str(st["rejected_total"]))
    out.print(table)
    for r in result.rejected:
        out.print(f"offset {r['offset']} ({r['subject_id']}): " + "; ".join(
            f"{p['field']}: {p['message']} [{p['rule']}]" for p in r["reasons"]))


def _instant_option(text: str, flag: str):
    from datetime import date, datetime

    from projections.calendar import SHANGHAI

    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), SHANGHAI)
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        err.print(f"error: {flag} {text!r} is not a date (2027-05-06) or an instant with its offset "
                  "(2027-05-06T12:00:00+08:00)")
        raise typer.Exit(2)
    return moment


@app.command()
def rebuild(kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
            web_url: Optional[str] = typer.Option(None, help="the live worker to compare with (default: from settings)")):
    """Re-fold the whole ledger into fresh state and compare it with the live worker's."""
    import json
    import time
    import urllib.request

    from streams.ledger import rebuild_from_log

    settings = load_settings(kafka=kafka)
    url = (web_url or settings.web_url).rstrip("/") + "/state/digest"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            live = json.loads(response.read())
        until = {int(p): o for p, o in live["applied_offsets"].items()}
    except OSError as error:
        live, until = None, None
        err.print(f"live worker not reachable at {url} ({error}); rebuilding without comparing")
    started = time.perf_counter()
    store, records = rebuild_from_log(settings.kafka, until, policy=settings.policy())
    seconds = time.perf_counter() - started
    rebuilt = store.state_digest()
    out.print(f"rebuilt {rebuilt['subjects']} subjects from {records} records in {seconds:.2f} s "
              f"({records / seconds if seconds else 0:,.0f} records/s)")
    if live is None:
        return
    same = rebuilt["digest"] == live["digest"] and rebuilt["subjects"] == live["subjects"]
    out.print(f"live state ({live['subjects']} subjects at offsets {until}): "
              + ("[green]equal[/] to the rebuild" if same else "[red]DIFFERENT[/] from the rebuild"))
    raise typer.Exit(0 if same else 1)


BENCHES = ("timers",)


@app.command()
def bench(what: str = typer.Argument("timers", help=f"which benchmark: {', '.join(BENCHES)}"),
          deadlines: int = typer.Option(1_000_000, help="timers: how many pending deadlines to hold")):
    """Measure a speed or memory goal against a baseline run in the same process."""
    from ops.bench import bench_timers

    if what not in BENCHES:
        err.print(f"error: no benchmark {what!r}; choose one of {', '.join(BENCHES)}")
        raise typer.Exit(2)
    result = bench_timers(deadlines)
    table = Table("measure", "value", title=f"{deadlines:,} pending deadlines: the store's timer index (RocksDB) "
                                            "vs. a heap in memory")
    for name, value in result.items():
        table.add_row(name, f"{value:,.3f}" if isinstance(value, float) else f"{value:,}")
    out.print(table)


def main() -> None:
    app(prog_name="credit-ledger")


if __name__ == "__main__":
    sys.exit(main())
