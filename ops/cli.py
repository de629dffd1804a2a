"""The `credit-ledger` command line."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ops.config import load_settings
from ops.terminal_text import literal
from ops.text_table import print_rows
from ops.worker_http import open_worker
from streams.kafka_access import AUDITOR  # who a command is to Kafka: the audit commands only read

app = typer.Typer(help="credit-ledger: a streaming, event-sourced ledger of public credit records.",
                  no_args_is_help=True, add_completion=False)
# event text is printed literally (ops/terminal_text.py): markup escaped, controls visible, no :name: an emoji
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)


@app.command()
def up(demo: bool = typer.Option(False, "--demo", help="publish a realistic synthetic dataset"),
       data_dir: Optional[str] = typer.Option(None, help="where Kafka and the worker keep their data"),
       web_port: Optional[int] = typer.Option(None, help="the worker's HTTP port (default 6066)"),
       kafka_port: Optional[int] = typer.Option(None, help="the embedded broker's port (default 9092); with "
                                                          "--brokers 3, the first node's, the others' 2 and 4 above"),
       brokers: int = typer.Option(1, "--brokers", help="1, or 3: a local cluster of three KRaft nodes, topics "
                                                      "with 3 replicas and 2 in sync (its own storage, "
                                                      "<data dir>/kafka-cluster)"),
       speed: Optional[float] = typer.Option(None, help="run the clock X times faster, e.g. 86400: a day a "
                                                         "second, so the demo shows deadlines firing")):
    """Start embedded Kafka, the worker and the web server; Ctrl-C stops them all."""
    import time

    from ops.up import run_up

    if brokers not in (1, 3):
        err.print(f"error: --brokers: 1 or 3, not {brokers}")
        raise typer.Exit(2)
    settings = load_settings(data_dir=data_dir, web_port=web_port, kafka_port=kafka_port, clock_speed=speed,
                             clock_started_s=time.time() if speed else None)
    try:
        settings.clock()
    except ValueError as error:
        err.print(f"error: --speed: {error}")
        raise typer.Exit(2)
    raise typer.Exit(run_up(settings, demo=demo, brokers=brokers))


@app.command()
def worker(loglevel: str = typer.Option("warn", help="crit, error, warn, info or debug"),
           pseudonym_key_file: Optional[str] = typer.Option(None, help="the file holding the pseudonym key "
                                                                       "(CREDIT_LEDGER_PSEUDONYM_KEY_FILE)"),
           master_key_file: Optional[str] = typer.Option(None, help="the file holding the master key that wraps "
                                                                    "natural persons' keys (CREDIT_LEDGER_MASTER_KEY_FILE)")):
    """Run the Faust worker against the configured brokers (CREDIT_LEDGER_KAFKA). It needs the deployment's
    pseudonym key and master key (docs/operations.md); without them it exits 1 saying what to set."""
    from confluent_kafka import KafkaException

    from ops.config import data_dir_problem
    from ops.worker_main import run_worker
    from streams.kafka_access import quiet_startup_noise

    from streams.fold_pool import FOLD_PROCESSES_MAX

    settings = load_settings(pseudonym_key_file=pseudonym_key_file, master_key_file=master_key_file)
    settings.require_worker_keys()  # before anything is started or written
    if not 1 <= settings.fold_processes <= FOLD_PROCESSES_MAX:
        err.print(f"error: setting fold_processes: {settings.fold_processes} is not 1..{FOLD_PROCESSES_MAX}",
                  markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    problem = data_dir_problem(Path(settings.data_dir))
    if problem:
        err.print(f"error: {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    quiet_startup_noise()  # a young broker's coordinators and Faust's own topic: retried, not errors
    try:
        run_worker(settings, loglevel=loglevel)
    except KafkaException as error:  # before Faust starts: the topics could not be checked
        err.print(f"error: cannot reach Kafka at {settings.kafka}: {error.args[0].str()}", markup=False,
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1)


FORMATS = ("jsonl", "permit-csv", "penalty-csv")


@app.command()
def publish(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a file of events"),
            format_: str = typer.Option("jsonl", "--format", help="jsonl, permit-csv or penalty-csv (双公示 templates)"),
            web_url: Optional[str] = typer.Option(None, help="the worker whose edge takes the events "
                                                             "(default: from settings, CREDIT_LEDGER_WEB_PORT)"),
            token_file: Optional[Path] = typer.Option(None, "--token-file", exists=True, dir_okay=False,
                                                      help="a file holding the publisher's token (it publishes only "
                                                           "as its own authority); default: CREDIT_LEDGER_TOKEN, "
                                                           "else the embedded stack's admin. Never the token itself "
                                                           "on the command line: `ps` shows it to everyone"),
            historical: bool = typer.Option(False, "--historical",
                                            help="a department's historical 双公示 file, loaded when it joins (admin "
                                                 "only): its permits and penalties are marked historical, not judged "
                                                 "for timeliness and counted apart")):
    """Send every line to the worker's edge (POST /events:batch): it validates and publishes the valid
    ones; report every rejected line. A CSV row the template cannot read is reported here and not sent."""
    from projections.templates import TemplateError, read_penalty_csv, read_permit_csv
    from streams.sdk import Publisher, PublishError

    if format_ not in FORMATS:
        err.print(f"error: --format must be one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    settings = load_settings()
    url = (web_url or settings.web_url).rstrip("/")
    # the file's, else CREDIT_LEDGER_TOKEN, else the dev admin's (<data dir>/tokens.json)
    token = _read_token_file(token_file) if token_file is not None else settings.operator_token
    refused: dict[int, list] = {}  # line -> problems (the template's, or the edge's)
    if format_ == "jsonl":
        numbered = _jsonl_lines(file)  # bytes: a line that is not UTF-8 is rejected alone (the edge reads each)
    else:
        reader = read_permit_csv if format_ == "permit-csv" else read_penalty_csv
        try:
            rows = reader(file.read_bytes())
        except TemplateError as error:
            for p in error.problems:
                err.print(literal(f"{file}: {p.field}: {p.message} [{p.rule}]"))
            raise typer.Exit(1)
        numbered = [(row.line, event) for row in rows for event in row.events]
        refused = {row.line: row.problems for row in rows if row.problems}
    if historical:  # issue 29 R10: marked in each record; the edge takes the mark from an admin only
        numbered = [(line, _marked_historical(item)) for line, item in numbered]
    try:  # once, before the first batch: a worker that is not there is said at once, not after the retries
        with open_worker(url + "/healthz", None, timeout_s=10):
            pass
    except OSError as error:
        err.print(f"error: cannot reach the worker at {url}: {getattr(error, 'reason', None) or error}",
                  markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=False) as progress:
        task = progress.add_task("publish", total=len(numbered))
        try:
            with Publisher(url, token=token) as publisher:
                report = publisher.publish_many((item for _, item in numbered),
                                                on_progress=lambda n: progress.update(task, completed=n))
        except PublishError as error:  # 401 an unknown token, 403 a role that may not publish
            progress.stop()
            reasons = "; ".join(str(e.get("message", e)) for e in error.errors if isinstance(e, dict))
            err.print(f"error: {'the token: ' if error.status in (401, 403) else ''}{reasons or error} "
                      f"(HTTP {error.status} from {url})", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2 if error.status in (401, 403) else 1)
    for position, problems in report.invalid.items():
        refused[numbered[position - 1][0]] = problems
    out.print(f"{len(report.delivered)} published, {len(refused)} rejected, "
              f"{len(report.failed)} not delivered ({literal(file)})")
    if refused:
        print_rows(out, ("line", "field", "rule", "problem"),
                   ((str(line), p.field, p.rule, p.message) for line, problems in sorted(refused.items())
                    for p in problems), title="rejected lines")
    for position, reason in sorted(report.failed.items()):
        out.print(f"line {numbered[position - 1][0]}: not delivered: {literal(reason)}")
    raise typer.Exit(0 if report.ok and not refused else 1)


@app.command("check-id")
def check_id(code: str = typer.Argument(..., help="a unified social credit code or a resident ID number")):
    """Check a USCC (GB 32100-2015) or a resident ID number (GB 11643); exit 1 when invalid."""
    from projections.ids import id_kind, resident_id_problems, uscc_problems

    kind = id_kind(code)
    problems = resident_id_problems(code) if kind == "RESIDENT_ID" else uscc_problems(code)
    label = "resident ID number (GB 11643)" if kind == "RESIDENT_ID" else "unified social credit code (GB 32100-2015)"
    if problems:
        out.print(f"{literal(code)}: invalid {label}")
        for problem in problems:
            out.print(f"  - {literal(problem)}")
        raise typer.Exit(1)
    out.print(f"{literal(code)}: valid {label}")


@app.command()
def deadline(start: str = typer.Argument(..., metavar="DATE", help="the day of the event, e.g. 2024-09-27"),
             working_days: int = typer.Option(7, "--working-days", "-n", help="working days after DATE (双公示: 7)"),
             calendar_overrides: Optional[str] = typer.Option(None, help="a TOML file of newly published schedules")):
    """The due date on the official working-day calendar (the day of the event is not counted)."""
    from projections.calendar import format_due

    start_on = _instant_option(start, "DATE", date_only=True).date()
    try:
        due = load_settings(calendar_overrides=calendar_overrides).working_calendar().add_working_days(
            start_on, working_days)
    except (ValueError, OverflowError) as error:  # OverflowError: so many working days the dates run out
        _bad_option(f"{start_on} + {working_days} working days: {error}")
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
    from datetime import datetime

    from projections.canonical import SHANGHAI
    from projections.fold import credit_file

    settings = load_settings()
    until = _instant_option(clock, "--clock") if clock else None
    result, entries = _replay_file(from_file, settings, clock=until)
    # the files are shown as of the clock, else today: graded under the policy in force then
    policy = settings.policies().in_force((until or datetime.now(SHANGHAI)).astimezone(SHANGHAI).date().isoformat())
    if subject is not None:
        state = result.states.get(subject)
        if state is None:
            err.print(f"no subject {literal(subject)} in {literal(from_file)}")
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
    print_rows(out, ("subject", "name", "events", "rejected"),
               ((sid, st["subject"].get("name", ""), str(st["chain"]["length"]), str(st["rejected_total"]))
                for sid, st in sorted(result.states.items())), title=f"{from_file}: {len(entries)} events{fired}")
    for r in result.rejected:
        out.print(literal(f"offset {r['offset']} ({r['subject_id']}): " + "; ".join(
            f"{p['field']}: {p['message']} [{p['rule']}]" for p in r["reasons"])))


SAMPLE_FORMATS = ("json", "csv")


@app.command()
def sample(size: Optional[int] = typer.Option(None, help="a cap: at most this many subjects; when the draws by "
                                                        "ratio are more, they are scaled down in proportion (said so)"),
           seed: int = typer.Option(..., help="the random seed: the same seed draws the same sample (publish it)"),
           authority: Optional[str] = typer.Option(None, help="only subjects with a record of this authority "
                                                                 "(its unified social credit code)"),
           region: Optional[str] = typer.Option(None, help="only this region: a GB/T 2260 code or its prefix, "
                                                           "e.g. 4202 or 420202"),
           industry: Optional[str] = typer.Option(None, help="only this industry: a GB/T 4754 code or its prefix, "
                                                             "e.g. C or C1761"),
           inspectors: Optional[Path] = typer.Option(None, "--inspectors", exists=True, dir_okay=False,
                                                     help="CSV (inspector_id,name,authority_code) of the inspectors to "
                                                          "draw from: each subject gets --per-subject of them, none of "
                                                          "an authority with a record on it"),
           per_subject: Optional[int] = typer.Option(None, "--per-subject",
                                                     help="inspectors a subject (default: the policy's, 2)"),
           from_file: Optional[Path] = typer.Option(None, "--from-file", exists=True, dir_okay=False,
                                                    help="fold this JSONL file of events (as replay does) "
                                                         "instead of the live ledger"),
           kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
           format_: str = typer.Option("json", "--format", help="json, or csv (UTF-8 with BOM, for Excel)"),
           scope_of: Optional[str] = typer.Option(None, "--scope-of",
                                                  help="draw for this scoped supervisor of the principals file: only "
                                                       "the subjects of its scope are in the pool")):
    """Draw the 双随机一公开 inspection sample: ⌈ratio × count⌉ subjects of each grade (the policy's inspection
    ratios), never a deregistered subject or a natural person, and (--inspectors) the inspectors of each."""
    import json

    from projections.grading import grade
    from projections.sampling import assign_inspectors, candidates, eligible, filter_candidates, sample_rows
    from projections.scopes import states_in_scope

    _check_sample_options(size, format_, from_file, kafka, authority, region, industry)
    settings = load_settings(kafka=kafka)
    policy = settings.policy()
    scope = _scope_of(settings, scope_of) if scope_of is not None else None
    states = states_in_scope(scope, _ledger_states(settings, from_file))  # a scoped supervisor's pool (None: all)
    ungraded: list[str] = []
    everyone = filter_candidates(candidates(states, lambda state: grade(state, policy), ungraded),
                                 authority=authority, region=region, industry=industry)
    pool = eligible(everyone, policy.individual_business_drawn)  # never deregistered, never a natural person
    if ungraded:
        err.print(f"warning: {len(ungraded)} subjects could not be graded and are not in the pool: "
                  + ", ".join(ungraded[:20]), markup=False, highlight=False, soft_wrap=True)
    ratios = dict(policy.inspection_ratios)
    draw = _drawn_sample(pool, seed, ratios, size, policy.version)
    rows = sample_rows(draw.sample)
    per = per_subject if per_subject is not None else policy.inspectors_per_subject
    if inspectors is not None:
        try:
            assigned = assign_inspectors(draw.sample, _read_inspectors(inspectors), seed, per)
        except ValueError as error:
            err.print(f"error: {inspectors.name}: {error}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        for row in rows:
            row["inspectors"] = [i.inspector_id for i in assigned[row["subject_id"]]]
    if format_ == "csv":
        _print_sample_csv(rows, with_inspectors=inspectors is not None)
        return
    print(json.dumps({"size": size, "seed": seed, "ratios": ratios, "population": draw.population,
                      "excluded": len(everyone) - len(pool), "by_ratio": draw.by_ratio, "drawn": draw.drawn,
                      "capped": draw.capped, "inspectors_per_subject": per if inspectors is not None else None,
                      "sample": rows}, ensure_ascii=False, indent=1))


def _check_sample_options(size, format_, from_file, kafka, authority, region, industry) -> None:
    """Exit 2 naming the first of `sample`'s options that is out of its range or form."""
    import re

    from projections.ids import uscc_problems
    from projections.sampling import SAMPLE_SIZE_MAX

    if size is not None and not 1 <= size <= SAMPLE_SIZE_MAX:
        _bad_option(f"--size must be 1..{SAMPLE_SIZE_MAX}, got {size}")
    if format_ not in SAMPLE_FORMATS:
        _bad_option(f"--format must be one of {', '.join(SAMPLE_FORMATS)}, got {format_!r}")
    if from_file is not None and kafka is not None:
        _bad_option("give --from-file or --kafka, not both")
    if authority is not None and uscc_problems(authority):
        _bad_option(f"--authority {authority!r} is not a unified social credit code: "
                    + "; ".join(uscc_problems(authority)))
    if region is not None and not re.fullmatch(r"[0-9]{1,6}", region):
        _bad_option(f"--region {region!r} is not a GB/T 2260 division code or its prefix (1 to 6 digits, e.g. 4202)")
    if industry is not None and not re.fullmatch(r"[A-T][0-9]{0,4}", industry):
        _bad_option(f"--industry {industry!r} is not a GB/T 4754 industry code or its prefix "
                    "(a section letter A-T and up to 4 digits, e.g. C17)")


def _ledger_states(settings, from_file: Path | None) -> list[dict]:
    """Every subject's state: folded from `from_file`, or rebuilt from the live ledger as its auditor reads
    it (exit 1 naming the broker when it cannot be read)."""
    if from_file is not None:
        return list(_replay_file(from_file, settings)[0].states.values())
    from confluent_kafka import KafkaException

    from streams.rebuild import all_states, rebuild_from_log

    try:
        store, _ = rebuild_from_log(settings.kafka_access(AUDITOR), policy=settings.policies())
    except (KafkaException, TimeoutError) as error:
        err.print(f"error: cannot read the ledger at {settings.kafka}: {error}", markup=False, highlight=False,
                  soft_wrap=True)
        raise typer.Exit(1)
    try:
        return list(all_states(store))
    finally:
        store.close()


def _drawn_sample(pool, seed: int, ratios: dict, size: int | None, policy_version: str):
    """The draw by the policy's ratios (capped at `size`, said so on stderr); exit 1 naming the policy when
    its ratios cannot be drawn by."""
    from projections.sampling import draw_by_ratio

    try:
        draw = draw_by_ratio(pool, seed, ratios, size)
    except ValueError as error:
        if not str(error).startswith("ratios:"):
            raise
        err.print(f"error: policy {policy_version}: inspection_{error}", markup=False, highlight=False,
                  soft_wrap=True)
        raise typer.Exit(1)
    if draw.capped:
        err.print(f"note: the draws by ratio ({sum(draw.by_ratio.values())}) exceed --size {size}: each grade's "
                  "is scaled down in proportion", markup=False, highlight=False, soft_wrap=True)
    return draw


def _print_sample_csv(rows: list[dict], with_inspectors: bool) -> None:
    """The sample as CSV on stdout, UTF-8 with a BOM (Excel reads it so), every cell kept as text."""
    import csv
    import io

    from projections.sampling import ROW_FIELDS, spreadsheet_cell

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=ROW_FIELDS + (("inspectors",) if with_inspectors else ()))
    writer.writeheader()
    for row in rows:  # a name sent as "=HYPERLINK(...)" stays text in Excel
        cells = {**row, "inspectors": ";".join(row["inspectors"])} if "inspectors" in row else row
        writer.writerow({field: spreadsheet_cell(value) for field, value in cells.items()})
    data = text.getvalue().encode("utf-8-sig")  # with the BOM Excel reads UTF-8, not the ANSI code page
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        sys.stdout.flush()
        stream.write(data)
        stream.flush()


def _scope_of(settings, name: str):
    """The scope of the supervisor `name` of the principals file; exit 2 naming what is wrong otherwise."""
    found = [c.principal for c in settings.principals().credentials if c.principal.name == name]
    if not found:
        _bad_option(f"--scope-of {name!r}: no such principal in {settings.principals_path}")
    if found[0].scope is None:
        _bad_option(f"--scope-of {name!r}: that principal has no scope (a supervisor of the whole ledger)")
    return found[0].scope


def _read_inspectors(path: Path) -> list:
    """The inspectors of a CSV file (UTF-8, a BOM allowed): inspector_id, name, authority_code."""
    import csv
    import io

    from projections.sampling import Inspector

    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and not {"inspector_id", "name", "authority_code"} <= set(rows[0]):
        raise ValueError("needs the columns inspector_id, name, authority_code")
    return [Inspector(row["inspector_id"].strip(), row["name"].strip(), row["authority_code"].strip()) for row in rows
            if row["inspector_id"] and row["inspector_id"].strip()]


def _marked_historical(item):
    """A PermitGranted or PenaltyImposed (JSON form, or a JSONL line's bytes) with payload.historical set;
    anything else as it is (a line that is not JSON is rejected by the edge as usual)."""
    import json

    event = item
    if isinstance(item, bytes):
        try:
            event = json.loads(item)
        except ValueError:
            return item
    if (not isinstance(event, dict) or event.get("type") not in ("PermitGranted", "PenaltyImposed")
            or not isinstance(event.get("payload"), dict)):
        return item
    marked = {**event, "payload": {**event["payload"], "historical": True}}
    return json.dumps(marked, ensure_ascii=False).encode() if isinstance(item, bytes) else marked


TOKEN_FILE_BYTES_MAX = 4_096


def _read_token_file(path: Path) -> str:
    """The token in `path` (its first line, blanks stripped); exit 2 naming the file when it has none."""
    try:
        with path.open("rb") as stream:
            data = stream.read(TOKEN_FILE_BYTES_MAX + 1)
        token = data.decode("ascii").strip() if len(data) <= TOKEN_FILE_BYTES_MAX else ""
    except (OSError, UnicodeDecodeError) as error:
        _bad_option(f"--token-file {path}: cannot read a token from it: {error}")
    if not token or "\n" in token:
        _bad_option(f"--token-file {path}: it must hold one token, on one line")
    return token


def _bad_option(message: str):
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _jsonl_lines(path: Path) -> list[tuple[int, bytes]]:
    """(line number, bytes) of each non-blank line of a JSONL file, a UTF-8 BOM before the first dropped.
    Bytes, each line decoded on its own (projections/json_input.py): one that is not UTF-8 is rejected
    alone, and only \\n and \\r end a line (str.splitlines would split a name at U+2028)."""
    data = path.read_bytes()
    data = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    return [(n, line) for n, line in enumerate(data.splitlines(), start=1) if line.strip()]


def _read_events_file(path: Path) -> tuple[list[tuple[int, dict]], list[str]]:
    """(offset, event) pairs of a JSONL file of events, and a message per line that is no JSON (not
    UTF-8, nested too deep, a number JSON cannot carry ...), naming the field and the rule."""
    from projections.json_input import load_json

    entries, problems = [], []
    for number, line in _jsonl_lines(path):
        event, refused = load_json(line)
        if refused:
            problems.append(f"line {number}: " + "; ".join(str(p) for p in refused))
            continue
        if isinstance(event, dict) and "recorded_at" not in event and isinstance(event.get("occurred_on"), str):
            # a publisher's file has no transaction time: as if recorded the day it occurred
            event["recorded_at"] = event["occurred_on"] + "T00:00:00+08:00"
        entries.append((number - 1, event))  # the line's position stands for its offset
    return entries, problems


def _replay_file(path: Path, settings, clock=None):
    """Fold a JSONL file of events with no Kafka (each event under the policy of its day); the
    lines that are no JSON are reported on stderr."""
    from projections.replay import replay

    from projections.replay import NO_KEY

    entries, problems = _read_events_file(path)
    for problem in problems:
        err.print(literal(problem))
    # the key only when the file names a natural person by ID number (a publisher's file; an exported log
    # holds pseudonyms): then without it the command stops, saying what to configure
    key = settings.pseudonym_key_bytes if settings.has_pseudonym_key or _names_a_person(entries) else NO_KEY
    return replay(entries, pseudonym_key=key, policy=settings.policies(), clock=clock), entries


def _names_a_person(entries: list[tuple[int, dict]]) -> bool:
    """Whether an event of a file gives a subject's ID number (a natural person's, to pseudonymise)."""
    return any(isinstance(event, dict) and isinstance(event.get("subject"), dict)
               and event["subject"].get("id_number") is not None for _, event in entries)


def _instant_option(text: str, flag: str, date_only: bool = False):
    """The instant an option names (canonical.read_instant: within the catalogue's dates), or exit 2
    naming the option, the form and the range."""
    from projections.canonical import BadInstant, read_instant

    try:
        return read_instant(text, flag, date_only=date_only)
    except BadInstant as error:
        _bad_option(str(error))


@app.command()
def grade(subject_id: str = typer.Argument(..., metavar="ID", help="the subject's id (USCC, or np-... for a person)"),
          at: Optional[str] = typer.Option(None, "--at", metavar="T", help=(
              "as the ledger knew the file at instant T (a date means 00:00 Asia/Shanghai), under the policy "
              "in force at T")),
          from_file: Optional[Path] = typer.Option(None, "--from-file", exists=True, dir_okay=False,
                                                   help="grade from a JSONL file instead of the live worker"),
          web_url: Optional[str] = typer.Option(None, help="the live worker (default: from settings)"),
          as_json: bool = typer.Option(False, "--json", help="print the grade as JSON")):
    """The subject's grade A-D, its score and every reason, each traced to a record and a rule."""
    import json
    import urllib.error
    import urllib.parse

    settings = load_settings()
    moment = _instant_option(at, "--at") if at else None
    if from_file is not None:
        from datetime import datetime

        from projections.canonical import SHANGHAI, instant_text
        from projections.grading import grade as grade_of
        from projections.replay import state_as_of

        policies = settings.policies()
        result, _ = _replay_file(from_file, settings)
        history = result.history.get(subject_id)
        if history is None:
            err.print(f"no subject {literal(subject_id)} in {literal(from_file)}")
            raise typer.Exit(1)
        moment = moment or datetime.now(SHANGHAI)
        state = state_as_of(history, moment, policies)
        body = {"subject_id": subject_id, "at": instant_text(moment),
                **(grade_of(state, policies.in_force(instant_text(moment)[:10])) if state else
                   {"letter": None, "reasons": []})}
    else:
        url = (web_url or settings.web_url).rstrip("/") + f"/subjects/{urllib.parse.quote(subject_id)}/grade"
        if at:
            url += "?" + urllib.parse.urlencode({"at": at})
        try:
            with open_worker(url, settings.operator_token, timeout_s=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            err.print(f"error: {error.code}: {literal(error.read().decode(errors='replace'))}")
            raise typer.Exit(1)
        except OSError as error:
            err.print(f"error: cannot reach the worker at {literal(url)}: {literal(error)}")
            raise typer.Exit(1)
    if as_json:
        print(json.dumps(body, ensure_ascii=False, indent=1))
        return
    if body.get("letter") is None:
        out.print(f"{literal(subject_id)}: no accepted event yet at {body.get('at')}")
        return
    out.print(f"{literal(subject_id)}: grade [bold]{body['letter']}[/], score {body['score']} "
              f"(from {body['start_score']}), policy {literal(body['policy_version'])}"
              + (f", as of {body['at']}" if body.get("at") else ""))
    table = Table("record", "rule", "points", "detail")
    for reason in body["reasons"]:
        table.add_row(literal(reason["record_id"]), reason["rule"], f"{reason['points']:+d}", literal(reason["detail"]))
    out.print(table)


def _recorded_read(web_url: str, token: str | None, action: str, subject_id: str | None, command: str) -> None:
    """The worker records the read on credit.access-log before the command makes it; or exit 2."""
    from ops.worker_http import record_audit_read

    why = record_audit_read(web_url, token, action, subject_id, command)
    if why is not None:
        err.print(f"error: {why}; an audit read of the ledger is recorded before it is made: give --web-url "
                  "of a running worker and an auditor's or admin's token (CREDIT_LEDGER_TOKEN)",
                  markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)


def _reconstructed(settings, policies, subject_id: str, web_url: str | None, command: str,
                   scan: bool = False) -> tuple[list[dict], str]:
    """The subject's history read from credit.events (ops.history.reconstruct), its read recorded first,
    or exit: 1 when the log holds no accepted event of it or the worker's proofs do not hold, 2 when
    the read cannot be recorded or the log cannot be read."""
    from confluent_kafka import KafkaException

    from ops.history import HistoryMismatch, reconstruct
    from projections.replay import NO_KEY

    web_url = web_url or settings.web_url
    _recorded_read(web_url, settings.operator_token, "history", subject_id, command)
    try:
        entries, source = reconstruct(settings.kafka_access(AUDITOR), None if scan else web_url, subject_id,
                                      policies, NO_KEY, token=settings.operator_token)  # the log holds pseudonyms
    except HistoryMismatch as mismatch:  # loudly: what the worker served, or the log, is not what the digests prove
        err.print(f"error: the history of {subject_id} does not hold: {mismatch}", markup=False,
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    except (KafkaException, OSError) as error:  # OSError: TimeoutError, a refused or reset connection
        err.print(f"error: cannot read credit.events from {settings.kafka}: {error}", markup=False,
                  highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    if not entries:
        err.print(f"error: no accepted event of {subject_id} in {settings.kafka} ({source})", markup=False,
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    return entries, source


@app.command()
def history(subject_id: str = typer.Argument(..., metavar="ID", help="the subject's id"),
            as_of: Optional[str] = typer.Option(None, "--as-of", metavar="T", help=(
                "what the ledger knew at transaction time T (instant, or a date meaning 00:00 Asia/Shanghai)")),
            valid_at: Optional[str] = typer.Option(None, "--valid-at", metavar="D", help=(
                "what was legally true on date D, given everything known (now, or at --as-of)")),
            kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
            web_url: Optional[str] = typer.Option(None, help="the worker that records the read and serves the "
                                                             "history with Merkle proofs"),
            scan: bool = typer.Option(False, "--scan", help="scan the subject's whole partition (trusting no "
                                                            "worker) instead of checking the worker's proofs"),
            as_json: bool = typer.Option(False, "--json", help="print the view as JSON")):
    """Reconstruct one subject from credit.events itself: its history, every event proved against the
    Merkle roots on credit.digests and the chain checked (exit 1 naming the record when one does not
    hold), and its file at T or on D."""
    import json
    from datetime import datetime

    from projections.canonical import SHANGHAI, instant_text
    from projections.replay import bitemporal_view

    for value, flag, date_only in ((as_of, "--as-of", False), (valid_at, "--valid-at", True)):  # before any read
        if value is not None:
            _instant_option(value, flag, date_only)
    settings = load_settings(kafka=kafka)
    policies = settings.policies()
    command = " ".join(["credit-ledger history", subject_id] + [f"{flag} {value}" for flag, value in (
        ("--as-of", as_of), ("--valid-at", valid_at)) if value is not None] + (["--scan"] if scan else []))
    entries, source = _reconstructed(settings, policies, subject_id, web_url, command[:300], scan)
    view = bitemporal_view(entries, as_of, valid_at, policies, today=instant_text(datetime.now(SHANGHAI))[:10])
    if as_json:
        print(json.dumps({"subject_id": subject_id, "source": source, **view}, ensure_ascii=False, indent=1))
        return
    print_rows(out, ("offset", "occurred_on", "recorded_at", "type", "chain hash"),
               ((str(entry["offset"]), entry["event"]["occurred_on"], entry["event"]["recorded_at"],
                 entry["event"]["type"], entry["chain_hash"][:16]) for entry in view["history"]),
               title=f"{subject_id}: {len(view['history'])} events (read by {source})")
    if view["file"] is not None and view["file"]["grade"]:
        g = view["file"]["grade"]
        out.print(f"grade {g['letter']} ({g['score']}, policy {g['policy_version']})"
                  + (f" as of {view['as_of']}" if view["as_of"] else "") + (f", valid at {view['valid_at']}" if valid_at else ""))


STATS_FORMATS = ("table", "csv", "json")
# the table's columns (the CSV and JSON hold every count): (header, the row's counts summed)
STATS_TABLE = (("reported", ("reported",)), ("permits on time/late/missing", None),
               ("penalties on time/late/missing", None), ("pending", ("permits_pending", "penalties_pending")),
               ("exempt", ("permits_exempt", "penalties_exempt")),
               ("historical", ("permits_historical", "penalties_historical")),
               ("objections late/open overdue", None), ("repairs late/open overdue", None),
               ("measures applied/declined", None), ("rejected", ("rejected",)))


def _stats_cells(row: dict) -> list[str]:
    cells = []
    for header, names in STATS_TABLE:
        if names is not None:
            cells.append(str(sum(row[name] for name in names)))
        elif header.startswith("measures"):  # 联合奖惩 cases (seeds 003 §45)
            cells.append(f"{row['measures_applied']}/{row['measures_declined']}")
        elif header.startswith(("permits", "penalties")):
            kind = header.split()[0]
            cells.append("/".join(str(row[f"{kind}_{o}"]) for o in ("on_time", "late", "missing")))
        else:
            kind = header.split()[0]
            cells.append(f"{row[kind + '_decided_late']}/{row[kind + '_overdue_open']}")
    return cells


def _print_stats(result: dict, output_format: str) -> None:
    import csv
    import json

    from projections.stats import flat_row

    if output_format == "json":
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return
    by = result["by"]
    if output_format == "csv":
        rows = [flat_row(row) for row in result["rows"]]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [by], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    first = ("authority", "region", "gap", "silent") if by == "authority" else (by, "authorities", "gaps")
    rows = []
    for row in result["rows"]:
        if by == "authority":
            head = [row["authority_name"] or row["authority_code"], row["region"], "GAP" if row["gap"] else "",
                    "" if row["gap"] else ",".join(matter.lower() for matter in row["silent_matters"])]
        else:
            head = [row[by], str(row["authorities"]), str(row["gaps"])]
        rows.append(head + _stats_cells(row))
    totals = result["totals"]
    rows.append(["total", "", str(totals["gaps"])] + ([""] if by == "authority" else []) + _stats_cells(totals))
    print_rows(out, [*first, *(header for header, _ in STATS_TABLE)], rows,
               title=f"{result['from']} .. {result['to']} as known at {result['as_of']} "
                     f"(policy {result['policy_version']}), by {by}")
    if totals["measures_by_code"]:
        out.print("joint measures applied/declined: " + ", ".join(
            f"{code} {o['applied']}/{o['declined']}" for code, o in totals["measures_by_code"].items()),
            markup=False, highlight=False, soft_wrap=True)
    if totals["rejected_by_rule"]:
        out.print("rejected by rule: " + ", ".join(f"{rule} {count}" for rule, count
                                                    in totals["rejected_by_rule"].items()),
                  markup=False, highlight=False, soft_wrap=True)


@app.command()
def stats(from_day: str = typer.Option(..., "--from", metavar="D", help="the period's first day, e.g. 2025-01-01"),
          to_day: str = typer.Option(..., "--to", metavar="D", help="the period's last day (included)"),
          by: str = typer.Option("authority", "--by", help="authority, region or industry"),
          as_of: Optional[str] = typer.Option(None, "--as-of", metavar="T", help=(
              "the report instant: only what the ledger had recorded by T counts (a date means 00:00 "
              "Asia/Shanghai; default: now)")),
          output_format: str = typer.Option("table", "--format", help="table, csv or json"),
          kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
          web_url: Optional[str] = typer.Option(None, help="the worker that records the read")):
    """Statistics for assessment (考核) and circulars (通报), computed from credit.events and credit.rejected
    themselves: per authority of the register (or region, industry), permits and penalties published on
    time, late or missing, exempt records, objections and repairs decided late, rejections by rule."""
    from datetime import datetime

    from confluent_kafka import KafkaException

    from ops.dump import role_of
    from projections.canonical import SHANGHAI
    from projections.stats import disclosure_stats, stats_request
    from streams import topics
    from streams.ledger_reader import TopicReader
    from streams.routes_stats import read_stats_log

    if output_format not in STATS_FORMATS:
        _bad_option(f"--format: one of {', '.join(STATS_FORMATS)}")
    try:
        the_period, by, moment = stats_request(from_day, to_day, by, as_of, datetime.now(SHANGHAI))
    except ValueError as error:  # StatsError, BadInstant: before any read
        _bad_option(f"--{error.as_dict()['field'].replace('_', '-')}: {error.as_dict()['message']}")
    settings = load_settings(kafka=kafka)
    command = " ".join(["credit-ledger stats", "--from", from_day, "--to", to_day, "--by", by]
                       + (["--as-of", as_of] if as_of else []))
    _recorded_read(web_url or settings.web_url, settings.operator_token, "stats", None, command[:300])
    try:
        # credit.rejected is not the auditor's to read (ops/kafka_acls.py): as `dump` reads it, as the worker
        events, rejections = read_stats_log(TopicReader(settings.kafka_access(AUDITOR)),
                                            TopicReader(settings.kafka_access(role_of(topics.REJECTED))))
    except (KafkaException, OSError) as error:
        err.print(f"error: cannot read the log from {settings.kafka}: {error}", markup=False, highlight=False,
                  soft_wrap=True)
        raise typer.Exit(2)
    _print_stats(disclosure_stats(events, rejections, the_period, moment, settings.policies(), by, topics.EVENTS),
                 output_format)


@app.command()
def rebuild(kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
            web_url: Optional[str] = typer.Option(None, help="the live worker to compare with (default: from settings)"),
            verify: bool = typer.Option(False, "--verify", help="the comparison is the point: exit 2 when the live "
                                                               "worker cannot be asked, instead of only rebuilding")):
    """Re-fold the whole ledger into fresh state and compare it with the live worker's (exit 1 if they differ)."""
    import json
    import time

    from streams.rebuild import rebuild_from_log

    settings = load_settings(kafka=kafka)
    url = (web_url or settings.web_url).rstrip("/") + "/state/digest"
    try:
        with open_worker(url, settings.operator_token) as response:
            live = json.loads(response.read())
        until = {int(p): o for p, o in live["applied_offsets"].items()}
    except OSError as error:
        if verify:
            err.print(f"error: cannot ask the live worker at {url} ({error}); nothing to verify",
                      markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        live, until = None, None
        err.print(f"live worker not reachable at {url} ({error}); rebuilding without comparing")
    started = time.perf_counter()
    store, records = rebuild_from_log(settings.kafka_access(AUDITOR), until, policy=settings.policies())
    seconds = time.perf_counter() - started
    rebuilt = store.state_digest()
    store.close()
    out.print(f"rebuilt {rebuilt['subjects']} subjects from {records} records in {seconds:.2f} s "
              f"({records / seconds if seconds else 0:,.0f} records/s)")
    if live is None:
        return
    same = rebuilt["digest"] == live["digest"] and rebuilt["subjects"] == live["subjects"]
    out.print(f"live state ({live['subjects']} subjects at offsets {until}): "
              + ("[green]equal[/] to the rebuild" if same else "[red]DIFFERENT[/] from the rebuild"))
    raise typer.Exit(0 if same else 1)


BENCHES = ("all", "throughput", "timers", "history", "replication")


@app.command()
def bench(what: str = typer.Argument("all", help=f"which benchmark: {', '.join(BENCHES)}"),
          quick: bool = typer.Option(False, "--quick", help="all, throughput: a smaller run (under two minutes)"),
          fold_processes: Optional[int] = typer.Option(None, help="all, throughput: the fold processes of the e2e "
                                                                  "and lag parts' worker (its fold_processes setting; "
                                                                  "default 2)"),
          as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
          deadlines: int = typer.Option(1_000_000, help="timers: how many pending deadlines to hold"),
          log_events: int = typer.Option(10_000_000, help="history: events in the ledger"),
          subject_events: int = typer.Option(1_000, help="history: the subject's events among them"),
          layout: str = typer.Option("scattered", help="history: where the subject's events lie: scattered "
                                                        "(evenly over the log) or bursts (10 imports)"),
          runs: int = typer.Option(20, help="history: reconstructions timed (p50, p95)"),
          replication_events: int = typer.Option(20_000, help="replication: events per run (edge, direct)"),
          warmup_runs: int = typer.Option(20, help="history: reconstructions before those, while the fresh "
                                                   "broker's JIT compiles its fetch path")):
    """Measure the speed and memory goals against baselines run in the same bench (default: all of them)."""
    import json

    from ops.bench import bench_history, bench_timers
    from ops.bench_suite import FULL, GOALS, QUICK, bench_replication, goal_met, run_bench

    if what not in BENCHES:
        err.print(f"error: no benchmark {what!r}; choose one of {', '.join(BENCHES)}")
        raise typer.Exit(2)
    progress = (lambda text: err.print(text, highlight=False))
    try:
        if what in ("all", "throughput"):
            scale = QUICK if quick else FULL
            result = run_bench(scale, on_progress=progress, what=what,
                               **({"fold_processes": fold_processes} if fold_processes else {}))
            title = (f"credit-ledger bench {what}{' --quick' if quick else ''}: {scale.events:,} events over "
                     f"{scale.subjects:,} subjects, baselines in the same run")
        elif what == "timers":
            result = bench_timers(deadlines)
            title = f"{deadlines:,} pending deadlines: the store's timer index (RocksDB) vs. a heap in memory"
        elif what == "replication":
            result = bench_replication(replication_events, on_progress=progress)
            title = (f"{replication_events:,} events written through the edge and directly: 1 broker (1 replica) "
                     "vs. the embedded cluster of 3 (3 replicas, 2 in sync)")
        else:
            result = bench_history(log_events, subject_events, layout, runs, on_progress=progress,
                                   warmup_runs=warmup_runs)
            title = (f"history of a subject with {subject_events:,} events ({layout}) in a {log_events:,}-event "
                     "ledger: verified by the worker's Merkle proofs vs. a scan of its partition")
    except ValueError as error:
        err.print(f"error: {error}", soft_wrap=True, highlight=False, markup=False)
        raise typer.Exit(2)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    table = Table("measure", "value", "goal", title=title)
    for name, value in result.items():
        goal = f"{'≥' if GOALS[name][1] == 'min' else '≤'} {GOALS[name][0]:,} ({goal_met(name, value)})" \
            if name in GOALS else ""
        table.add_row(name, f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int)
                      else str(value), goal)
    out.print(table)


@app.command()
def report(subject_id: str = typer.Argument(..., metavar="ID", help="the subject's id (USCC, or np-... for a person)"),
           out_path: Path = typer.Option(..., "--out", metavar="F.html", dir_okay=False,
                                         help="where to write the report (one self-contained HTML page)"),
           from_file: Optional[Path] = typer.Option(None, "--from-file", exists=True, dir_okay=False,
                                                    help="fold this JSONL file of events instead of the ledger"),
           kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
           web_url: Optional[str] = typer.Option(None, help="the worker that records the read and serves the "
                                                            "history with Merkle proofs"),
           scan: bool = typer.Option(False, "--scan", help="scan the subject's whole partition (trusting no "
                                                           "worker) instead of checking the worker's proofs")):
    """The credit report (信用报告): the subject's file as a printable page in Simplified Chinese, built
    from credit.events itself as `history` reads it (or from a file of events)."""
    from datetime import datetime

    from projections.canonical import SHANGHAI, instant_text
    from streams.report import render_report

    settings = load_settings(kafka=kafka)
    policies = settings.policies()
    now = datetime.now(SHANGHAI)
    if from_file is not None:
        from projections.fold import credit_file

        result, _ = _replay_file(from_file, settings)
        state = result.states.get(subject_id)
        if state is None:
            err.print(f"error: no subject {subject_id} in {from_file}", markup=False, highlight=False)
            raise typer.Exit(1)
        file = credit_file(state, policies.in_force(instant_text(now)[:10]))
        history = result.history.get(subject_id, [])
        source = f"由事件文件 {from_file.name} 折叠而成"
    else:
        from projections.replay import bitemporal_view

        entries, read_by = _reconstructed(settings, policies, subject_id, web_url,
                                          f"credit-ledger report {subject_id}{' --scan' if scan else ''}"[:300], scan)
        view = bitemporal_view(entries, None, None, policies, today=instant_text(now)[:10])
        file, history = view["file"], view["history"]
        source = ("由 credit.events 日志重建：工作进程逐条提供默克尔包含证明，已与 credit.digests 公布的根及哈希链核对"
                  if read_by == "proofs" else "由 credit.events 日志重建：扫描了该主体所在分区的全部记录")
    try:
        out_path.write_text(render_report(file, history, instant_text(now), source=source), encoding="utf-8")
    except OSError as error:
        err.print(f"error: cannot write {out_path}: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    print(out_path)


@app.command()
def verify(subject: Optional[str] = typer.Option(None, "--subject", metavar="ID",
                                                 help="verify only this subject's chain"),
           digest: Optional[Path] = typer.Option(None, "--digest", metavar="F", dir_okay=False,
                                                 help="verify against this saved digest file (default: against "
                                                      "the digests published on credit.digests)"),
           export_digest: Optional[Path] = typer.Option(None, "--export-digest", metavar="F", dir_okay=False,
                                                        help="write the topic's digest file (roots, per-record "
                                                             "fingerprints, subjects' chains) to F"),
           topic: Optional[str] = typer.Option(None, "--topic", metavar="T",
                                               help="the ledger topic (default credit.events; with --digest, the "
                                                    "file's topic)"),
           kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
           web_url: Optional[str] = typer.Option(None, help="the worker that records the read on credit.access-log")):
    """Verify the log against its digests; exit 0 verified, 1 a discrepancy (the first offending record
    named), 2 nothing could be verified (the read could not be recorded included)."""
    from ops.verify import run_verify

    raise typer.Exit(run_verify(kafka=kafka, topic=topic, subject=subject, digest=digest, export_digest=export_digest,
                                web_url=web_url, out=out, err=err))


@app.command()
def release(list_kind: str = typer.Option(..., "--list", metavar="KIND", help="which list: RED_LIST, "
                                                                              "SERIOUS_DISHONESTY, ..."),
            as_of: str = typer.Option(..., "--as-of", metavar="DATE", help="the day it shows, as known at its end "
                                                                            "(Asia/Shanghai); a day that is over"),
            out_dir: Path = typer.Option(..., "--out", metavar="DIR", file_okay=False,
                                         help="where to write <number>.html and <number>.csv"),
            kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
            web_url: Optional[str] = typer.Option(None, help="the worker that records the release")):
    """A dated, numbered release of a red or black list (红黑榜发布): who was on it that day, with the basis, as
    HTML and CSV; prints its number and the CSV's SHA-256. Recorded on credit.releases by the worker (an
    admin's token: CREDIT_LEDGER_TOKEN). Made again for the same list and day: the same release."""
    from ops.release import run_release

    raise typer.Exit(run_release(list_kind=list_kind, as_of=as_of, out_dir=out_dir, kafka=kafka, web_url=web_url,
                                 out=out, err=err))


@app.command()
def export(out_dir: Path = typer.Option(..., "--to", metavar="DIR", file_okay=False,
                                        help="where to write the batch directory <destination>-<sequence>/"),
           destination: str = typer.Option("province", "--destination", metavar="NAME",
                                           help="the upper platform it goes to; each has its own cursor"),
           since: Optional[str] = typer.Option(None, "--since", metavar="CURSOR",
                                               help="start here instead of the destination's cursor: "
                                                    "partition:offset,... (e.g. 0:120,1:98) or start"),
           max_events: int = typer.Option(200_000, "--max-events", metavar="N",
                                          help="records of credit.events one batch takes at most; run again for "
                                               "the rest"),
           kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
           web_url: Optional[str] = typer.Option(None, help="the worker that records the receipt")):
    """Upward export (向上级平台报送): what the ledger gained since the destination's cursor, as the national 双公示
    templates (permits.csv, penalties.csv), withdrawals.csv and manifest.json; its receipt, which carries the
    new cursor, recorded on credit.exports by the worker (an admin's token: CREDIT_LEDGER_TOKEN). Nothing new:
    nothing written. Run again after a failure: the same batch, the same bytes."""
    from ops.export import run_export

    raise typer.Exit(run_export(out_dir=out_dir, destination=destination, since=since, max_events=max_events,
                                kafka=kafka, web_url=web_url, out=out, err=err))


@app.command("access-log")
def access_log(subject: Optional[str] = typer.Option(None, "--subject", metavar="ID",
                                                     help="only the reads of this subject's file"),
               limit: int = typer.Option(1_000, "--limit", help="show the newest N reads"),
               as_json: bool = typer.Option(False, "--json", help="print the access records as JSON"),
               kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)")):
    """Who read non-public records of a file (credit.access-log): when, which records, why it was allowed."""
    from ops.access_log import run_access_log

    raise typer.Exit(run_access_log(bootstrap=load_settings(kafka=kafka).kafka_access(AUDITOR), subject=subject,
                                    as_json=as_json, limit=limit, out=out, err=err))


@app.command()
def dump(topic: str = typer.Argument(..., metavar="TOPIC", help="one of the ledger's topics, e.g. credit.events"),
         from_offset: Optional[int] = typer.Option(None, "--from", metavar="OFFSET",
                                                   help="start each partition at this offset (default: its first)"),
         partition: Optional[int] = typer.Option(None, "--partition", metavar="P", help="only this partition"),
         limit: int = typer.Option(100, "--limit", metavar="N", help="at most N records (1..100,000)"),
         as_json: bool = typer.Option(False, "--json", help="one JSON object a line: partition, offset, key, value"),
         kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)"),
         web_url: Optional[str] = typer.Option(None, help="the worker that records the read on credit.access-log")):
    """Print a topic's records decoded from Avro: credit.events, credit.digests and credit.access-log as the
    auditor, the others as the worker's principal. The read is recorded on credit.access-log first."""
    from ops.dump import problem_with, role_of, run_dump

    problem = problem_with(topic, from_offset, partition, limit)
    if problem:
        _bad_option(problem)
    settings = load_settings(kafka=kafka)
    command = " ".join(["credit-ledger dump", topic] + [f"{flag} {value}" for flag, value in (
        ("--from", from_offset), ("--partition", partition), ("--limit", limit)) if value is not None])
    _recorded_read(web_url or settings.web_url, settings.operator_token, "verify", None, command[:300])
    raise typer.Exit(run_dump(kafka=settings.kafka_access(role_of(topic)), topic=topic, start=from_offset,
                              partition=partition, limit=limit, as_json=as_json, out=out, err=err))


@app.command("kafka-tool", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def kafka_tool(ctx: typer.Context,
               tool: str = typer.Argument(..., metavar="TOOL", help="consumer-groups, topics, get-offsets, configs "
                                                                     "or acls (Kafka's kafka-TOOL.sh)"),
               role: str = typer.Option("worker", "--as", metavar="ROLE",
                                        help="whose Kafka credentials: worker (the ledger's topics and consumer "
                                             "groups), auditor, or broker (the embedded broker's super user)"),
               kafka: Optional[str] = typer.Option(None, help="bootstrap servers (default: CREDIT_LEDGER_KAFKA)")):
    """Run one of Kafka's operator tools (fetched by `make setup`, run offline) against the ledger's Kafka with
    the role's credentials; the rest of the line goes to the tool, e.g. `kafka-tool consumer-groups --describe
    --group credit-ledger`."""
    from ops.kafka_tool import ROLES, TOOLS, KafkaToolError, broker_access, run_tool

    if tool not in TOOLS:
        _bad_option(f"TOOL {tool!r} is not one of {', '.join(TOOLS)}")
    if role not in ROLES:
        _bad_option(f"--as must be one of {', '.join(ROLES)}, got {role!r}")
    settings = load_settings(kafka=kafka)
    try:
        access = (broker_access(settings.kafka, Path(settings.data_dir)) if role == "broker"
                  else settings.kafka_access(role))
        raise typer.Exit(run_tool(tool, list(ctx.args), access))
    except KafkaToolError as error:
        err.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def erase(subject_id: str = typer.Argument(..., metavar="ID", help="the natural person's pseudonym (np-...)"),
          reason: str = typer.Option(..., "--reason", help="why: the legal ground and the request (one line, at "
                                                           "most 500 characters; it goes on the record)"),
          web_url: Optional[str] = typer.Option(None, help="the worker to ask (default: from settings)")):
    """Erase a natural person's personal information for good (个人信息删除): the worker destroys its keys in the
    deployment's key store, so no process can read its name or ID number again, and records the act on
    credit.access-log and credit.events (PersonalInfoErased). The credit file stays, its grade unchanged.
    An admin's act (CREDIT_LEDGER_TOKEN; on the embedded stack the development admin)."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    settings = load_settings()
    url = (web_url or settings.web_url).rstrip("/") + f"/subjects/{urllib.parse.quote(subject_id, safe='')}/personal-info/erase"
    token = settings.operator_token
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=json.dumps({"reason": reason}, ensure_ascii=False).encode(),
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            found = json.loads(text)
            text = found.get("error") or "; ".join(e["message"] for e in found["errors"])
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        err.print(f"error: {error.code}: {literal(text)}")
        raise typer.Exit(2 if error.code in (400, 401, 403) else 1)
    except OSError as error:
        err.print(f"error: cannot reach the worker at {literal(url)}: {literal(error)}")
        raise typer.Exit(1)
    out.print(f"{literal(subject_id)}: personal information erased at {body['erased_at']} ({body['keys_erased']} "
              f"key(s) destroyed{'' if body['newly_erased'] else '; it was erased before'}); recorded as "
              f"PersonalInfoErased {body['event_id']} (credit.events partition {body['partition']}, offset "
              f"{body['offset']})")


# What a command creates (the data dir, the store, the embedded broker's logs, reports, digests) is its
# owner's alone: 0700 directories, 0600 files. A credit file is not for the machine's other users.
PRIVATE_UMASK = 0o077


def main() -> None:
    from ops.config import tune_gc

    os.umask(PRIVATE_UMASK)  # inherited by the embedded broker and the worker that `up` starts
    tune_gc()
    app(prog_name="credit-ledger")


if __name__ == "__main__":
    sys.exit(main())
