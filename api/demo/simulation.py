"""The demo trial: NCT06167473 simulated from screening to week 48 (`trial-ledger demo`).

Everything goes through the SDK with real users and keys, on a simulated clock. Without a seed
every key, salt, the allocation list and the passphrase are fresh randomness; with one they all
come from it (ledger/entropy.py), so one seed gives the same log, byte for byte, and anyone who
knows the seed holds the demo's keys. The story: protocol amendment 1.1 (baseline, primary score,
medication exclusions) before the first randomisation, staggered enrolment over a year at two
sites, each participant's medical history and medications, two screen failures (82 years old; a
glucocorticoid course within exclusion 6's year, queried by the system), never more randomised
than the protocol's target, a baseline before each infusion, one participant not infused after a
variceal bleed (in follow-up), a serious adverse event reported late (the major deviation), a
minor deviation, a missed visit, one withdrawal of consent with vital status agreed, one loss to
follow-up, adverse events of grades 1 to 3, a suspected SUSAR the sponsor's safety officer
reports to the authority in time, a death with its fatal serious adverse event and a liver
transplant (api/demo/safety.py, from the tenth participant), lab values that improve more under
the higher dose, corrections with reasons, queries raised, answered and closed, SDV, visit locks,
investigator sign-offs, one emergency unblinding, and at the end the casebook locks and the
reveal of the allocation list.
"""

from __future__ import annotations

import heapq
import random
import secrets
import warnings
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from api.client.sdk import LedgerClient
from api.demo import clinical, safety
from api.demo.clinical import amend_protocol
from api.services.bootstrap import Services, initialise, root_signer
from api.services.keys import register_user
from api.services.reveal import reveal_allocation
from api.services.trial_setup import set_up_trial
from ledger.entropy import seeded
from ledger.keys import generate, public_b64, save_private_key
from ledger.signer import Signer

PASSPHRASE = "demo-only-not-for-trials"
START = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)  # first screening; week 48 of the last ends 2026
VISITS = {"week_1": 7, "week_4": 28, "week_8": 56, "week_12": 84, "week_24": 168, "week_48": 336}
DOSE = {"low": 1e6, "medium_high": 3e6}  # cells per kg, per the protocol's arms
ELIGIBLE = {"inc-1": True, "inc-2": True, "inc-3": True, **{f"exc-{i}": False for i in range(1, 12)}}
STAFF = {  # id: (printed name, role, site)
    "inv-01": ("Dr Lan Nguyen", "investigator", "site-01"),
    "inv-02": ("Dr Minh Tran", "investigator", "site-02"),
    "mon-01": ("Hana Sato", "monitor", "sponsor"),
    "dm-01": ("Omar Haddad", "data_manager", "sponsor"),
    safety.OFFICER: ("Dr Amina Yusuf", "safety", "sponsor"),  # expedited safety reports
}
# Which participants (0-based) take those turns, all within the first nine; the unblinded one's
# serious adverse event is also the major deviation (reported late).
SCREEN_FAILURE, WITHDRAWN, UNBLINDED = 4, 7, 3
MISSED_VISIT, MINOR_DEVIATION, LOST, NOT_TREATED, STEROID = 0, 1, 5, 6, 8
UNITS = {"TBIL": "µmol/L", "INR": "ratio", "CREAT": "mg/dL", "SODIUM": "mmol/L", "ALB": "g/L"}
DIGITS = {"TBIL": 1, "INR": 2, "CREAT": 2, "SODIUM": 1, "ALB": 1}
NORMAL = {"TBIL": 12.0, "INR": 1.0, "CREAT": 0.9, "SODIUM": 140.0, "ALB": 40.0}


class SimClock:
    """The simulated wall clock: the ledger's `recorded_at` and every observation time."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass(order=True)
class _Step:
    at: datetime
    order: int
    run: Callable[[], object] = field(compare=False)


@dataclass
class Demo:
    services: Services
    home: Path
    participants: int
    seed: int
    clock: SimClock
    passphrase: str
    clients: dict[str, LedgerClient] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    causes: list[str] = field(default_factory=list)  # each participant's liver disease
    queue: list[_Step] = field(default_factory=list)
    counter: int = 0
    records: dict[str, dict[str, str]] = field(default_factory=dict)  # pid -> "visit/analyte" -> hash
    tokens: dict[str, str] = field(default_factory=dict)
    target: int = 22  # the protocol in force's enrolment target
    randomised: int = 0

    def at(self, moment: datetime, run: Callable[[], object]) -> None:
        self.counter += 1
        heapq.heappush(self.queue, _Step(moment, self.counter, run))

    def play(self) -> None:
        while self.queue:
            step = heapq.heappop(self.queue)
            self.clock.now = max(self.clock.now, step.at)
            step.run()


@dataclass(frozen=True)
class Made:
    """A demo written: the lines to print and the passphrase of its root and system keys."""

    lines: list[str]
    passphrase: str


def run_simulation(services: Services, home: Path, *, participants: int = 22, seed: int | None = 1,
                   clock: SimClock) -> list[str]:
    """Write the whole demo trial into an empty ledger; returns lines to print."""
    return simulate(services, home, participants=participants, seed=seed, clock=clock).lines


def simulate(services: Services, home: Path, *, participants: int = 22, seed: int | None,
             clock: SimClock) -> Made:
    """The demo trial from `seed` (reproducible by anyone who knows it, passphrase published) or,
    without one, from fresh randomness: keys, salts, list, story and passphrase all unguessable
    (the lab story follows the arms, so a known story seed would unblind it)."""
    passphrase = PASSPHRASE if seed is not None else secrets.token_urlsafe(18)
    story = seed if seed is not None else secrets.randbits(62)
    source = seeded(f"trial-ledger demo seed {seed}".encode()) if seed is not None else nullcontext()
    with source:
        info = initialise(services, home=home, root_passphrase=passphrase,
                          ledger_passphrase=passphrase)
        set_up_trial(services, home=home, root_passphrase=passphrase, system_passphrase=passphrase,
                     slots=max(participants, 2) + 2)
        protocol = amend_protocol(services, home, passphrase)  # before the first randomisation
        demo = Demo(services, home, participants, story, clock, passphrase, rng=random.Random(story),
                    target=protocol.target_enrolment)
        demo.causes = clinical.aetiologies(demo.rng, participants)
        _staff(demo)
        for k in range(participants):
            _participant(demo, k)
        demo.at(START + timedelta(days=12 * participants + 7 + 336 + 30), lambda: _close(demo))
        demo.play()
    return Made([f"Demo trial {info.origin}: {participants} participants, "
                 f"{'seed ' + str(seed) if seed is not None else 'fresh random keys'}; root "
                 f"fingerprint {info.root_fingerprint}",
                 *_warning(seed, passphrase),
                 f"Simulated {START.date()} to {clock.now.date()}: {services.ledger.tree.size()} "
                 "records.",
                 *(f"{author} ({STAFF[author][1]}) API token: {token}"
                   for author, token in demo.tokens.items())], passphrase)


def _warning(seed: int | None, passphrase: str) -> Iterator[str]:
    if seed is not None:
        yield (f"Seeded demo: anyone who knows seed {seed} can rebuild every key of it, and its "
               f"passphrase is the published {passphrase}. Never for real data.")
    else:
        yield (f"Demo passphrase (root and system keys), shown only now: {passphrase} "
               "(`TRIAL_LEDGER_ROOT_PASSPHRASE=… trial-ledger users token USER` issues a token).")


def _staff(demo: Demo) -> None:
    from api.http.app import create_app

    root = root_signer(demo.home, demo.passphrase)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note about its httpx transport
        from fastapi.testclient import TestClient

        app = create_app(demo.services)
    for author, (name, role, site) in STAFF.items():
        key = generate()
        save_private_key(key, demo.home / "keys" / f"{author}.key", demo.passphrase)
        _, token = register_user(demo.services, root, author=author, name=name, role=role,
                                 site=site, public_key_b64=public_b64(key.public_key()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            http = TestClient(app)
        demo.tokens[author] = token
        demo.clients[author] = LedgerClient(signer=Signer(key, author, role, site, "demo-sim/1"),
                                            token=token, http=http, clock=demo.clock)


def _participant(demo: Demo, k: int) -> None:
    pid = f"P-{k + 1:03d}"
    inv = demo.clients["inv-01" if k % 2 == 0 else "inv-02"]
    monitor = demo.clients["mon-01"]
    rng = random.Random(demo.seed * 1000 + k)
    # History and medications draw from their own generator, so the lab story keeps its draws.
    told = random.Random(f"trial-ledger demo {demo.seed} history {k}")
    born = date(1942, 2, 11) if k == SCREEN_FAILURE else date(1950 + rng.randrange(25), 1 + k % 12, 10)
    weight = round(rng.uniform(52, 92), 1)
    day0 = START + timedelta(days=12 * k)
    visited: dict[str, date] = {}
    first: dict[str, float] = {}  # the baseline values the follow-up labs improve on
    reported: dict[str, str] = {}  # adverse event term -> its report's record hash

    def screen() -> None:
        inv.register_participant(pid, sex="F" if rng.random() < 0.4 else "M", date_of_birth=born,
                                 weight_kg=weight)
        inv.sign_consent(pid, form_version="1.0", signed_on=day0.date())
        cause = "autoimmune_hepatitis" if k == STEROID else demo.causes[k]
        conditions, courses = clinical.history_and_medications(told, cause, day0.date(),
                                                               steroid=k == STEROID)
        inv.record_medical_history(pid, taken_on=day0.date(), aetiology=cause, conditions=conditions)
        for course in courses:  # the steroid course opens the exclusion-6 query (the system's)
            inv.record_medication(pid, **course)

    def assess() -> None:
        too_old, steroid = k == SCREEN_FAILURE, k == STEROID
        inv.assess_eligibility(pid, assessed_on=demo.clock.now.date(), esld_confirmed=True,
                               answers={**ELIGIBLE, "inc-1": not too_old, "exc-6": steroid},
                               protocol_version="1.1")
        if steroid:
            demo.at(demo.clock.now + timedelta(days=1), answer_steroid_query)
        if too_old or steroid or demo.randomised >= demo.target:  # enrolment closes at target
            return
        demo.randomised += 1
        inv.request_randomisation(pid)
        infused = day0 + timedelta(days=7)
        demo.at(day0 + timedelta(days=2), baseline)  # within the baseline window, before infusion
        if k == NOT_TREATED:  # bleeds on the infusion day: not infused, stays in the trial (ITT)
            demo.at(infused + timedelta(hours=4), partial(adverse_event, clinical.BLEED, infused,
                                                          infused + timedelta(hours=2)))
            demo.at(infused + timedelta(hours=5), lambda: inv.discontinue_treatment(
                pid, on=infused.date(), reason=clinical.NOT_TREATED[0],
                reason_text=clinical.NOT_TREATED[1]))
            return
        demo.at(infused + timedelta(hours=1), lambda: infuse(infused))  # recorded once it ended

    def answer_steroid_query() -> None:
        queries = inv.participant(pid)["queries"]
        opened = next(q for q, v in queries.items() if v["field"] == "start" and v["status"] == "open")
        inv.answer_query(pid, query=opened, text=clinical.STEROID_ANSWER)
        demo.at(demo.clock.now + timedelta(days=2), lambda: monitor.close_query(pid, query=opened))

    def baseline() -> None:
        on = demo.clock.now
        start = {"TBIL": rng.uniform(40, 90), "INR": rng.uniform(1.4, 2.0),
                 "CREAT": rng.uniform(0.9, 1.6), "SODIUM": rng.uniform(130, 138),
                 "ALB": rng.uniform(26, 32)}
        inv.complete_visit(pid, visit="baseline", on=on.date())
        measured = {a: round(v, DIGITS[a]) for a, v in start.items()}
        for analyte, value in measured.items():
            inv.record_lab(pid, visit="baseline", analyte=analyte, value=value, unit=UNITS[analyte],
                           sampled_at=on - timedelta(minutes=30))
        clinical.record_findings(inv, pid, visit="baseline", observed_on=on.date(), ascites="mild",
                                 encephalopathy_grade=1)
        first.update(start)

    def infuse(moment: datetime) -> None:
        arm = inv.participant(pid)["arm"]
        dose = DOSE[arm]
        inv.record_infusion(pid, infusion_number=1, started_at=moment,
                            ended_at=moment + timedelta(minutes=45), weight_kg=weight,
                            cells_per_kg=dose, total_cells=dose * weight, lot=f"UC-{k + 1:03d}")
        better = 0.35 if arm == "medium_high" else 0.2  # fraction of the way to normal by week 48
        ends = safety.follow_up_ends(k)  # a death or transplant ends the follow-up early
        for visit, days in VISITS.items():
            if ends is not None and days > ends:
                break
            if k == WITHDRAWN and days > VISITS["week_12"]:
                demo.at(moment + timedelta(days=VISITS["week_12"] + 30), withdraw)
                break
            if k == LOST and days > VISITS["week_12"]:  # window closed, then a month of tries
                demo.at(moment + timedelta(days=days + 14 + 30), lost)
                break
            if k == MISSED_VISIT and visit == "week_24":  # recorded once its window has closed
                demo.at(moment + timedelta(days=days + 15), lambda: inv.miss_visit(
                    pid, visit="week_24", reason=clinical.MISSED_VISIT))
                continue
            demo.at(moment + timedelta(days=days, hours=1),
                    partial(follow_up, visit, days, better))
        else:
            demo.at(moment + timedelta(days=336 + 5), complete)
        safety.schedule(demo, inv, pid, k, moment)
        if k == UNBLINDED:  # a serious adverse event the site reports 6 days late
            onset = moment + timedelta(days=165, hours=2)
            demo.at(moment + timedelta(days=170), unblind)
            demo.at(moment + timedelta(days=171), partial(adverse_event, clinical.PERITONITIS,
                                                          onset, onset))
            demo.at(moment + timedelta(days=200), lambda: report(  # found at the monitor's visit
                clinical.MAJOR_DEVIATION, onset.date(), reported[clinical.PERITONITIS["term"]],
                clinical.MAJOR_RESOLUTION))

    def follow_up(visit: str, days: int, better: float) -> None:
        on = demo.clock.now
        inv.complete_visit(pid, visit=visit, on=on.date())
        visited[visit] = on.date()
        t = days / 336 * better
        hashes = demo.records.setdefault(pid, {})
        for analyte, start in first.items():
            value = start + (NORMAL[analyte] - start) * t * rng.uniform(0.8, 1.2)
            receipt = inv.record_lab(pid, visit=visit, analyte=analyte,
                                     value=round(value, DIGITS[analyte]), unit=UNITS[analyte],
                                     sampled_at=on - timedelta(minutes=30))
            hashes[f"{visit}/{analyte}"] = receipt["record_hash"]
        clinical.record_findings(inv, pid, visit=visit, observed_on=on.date(),
                                 ascites="mild" if t < 0.1 else "none",
                                 encephalopathy_grade=1 if t < 0.05 else 0)
        if visit == "week_4" and k % 6 == 1:
            demo.at(on + timedelta(days=1), lambda: correct(visit))
        if visit == "week_8" and k % 5 == 2:
            demo.at(on + timedelta(days=3), lambda: query(visit))
        if visit == "week_12":
            demo.at(on + timedelta(days=14), lambda: review(visit))

    def correct(visit: str) -> None:
        old = demo.records[pid][f"{visit}/CREAT"]
        value = inv.participant(pid)["labs"][f"{visit}/CREAT"]["value"]
        receipt = inv.correct_lab(pid, supersedes=old, value=round(value + 0.1, 2), unit="mg/dL",
                                  reason="transcription error against the lab report")
        demo.records[pid][f"{visit}/CREAT"] = receipt["record_hash"]

    def query(visit: str) -> None:
        opened = monitor.open_query(pid, record=demo.records[pid][f"{visit}/TBIL"], field="value",
                                    text="please confirm bilirubin against the source")
        demo.at(demo.clock.now + timedelta(days=1), lambda: inv.answer_query(
            pid, query=opened["record_hash"], text="confirmed against the lab report"))
        demo.at(demo.clock.now + timedelta(days=3), lambda: monitor.close_query(
            pid, query=opened["record_hash"]))

    def review(visit: str) -> None:
        if k == MINOR_DEVIATION:  # found at the visit's source data verification
            report(clinical.MINOR_DEVIATION, visited[visit], demo.records[pid][f"{visit}/CREAT"],
                   clinical.MINOR_RESOLUTION)
        monitor.sdv(pid, visit=visit, form="labs", level="full")
        demo.clients["dm-01"].lock(pid, scope=visit)

    def report(deviation: dict[str, str], occurred: date, record: str | None,
               resolution: str) -> None:
        made = monitor.report_deviation(pid, occurred_on=occurred, record=record, **deviation)
        demo.at(demo.clock.now + timedelta(days=30), lambda: monitor.resolve_deviation(
            pid, deviation=made["record_hash"], resolved_on=demo.clock.now.date(),
            corrective_action=resolution))

    def adverse_event(event: dict[str, Any], onset: datetime, aware: datetime) -> None:
        made = inv.report_adverse_event(pid, onset_on=onset.date(), aware_at=aware, **event)
        reported[event["term"]] = made["record_hash"]
        demo.at(onset + timedelta(days=14), lambda: inv.resolve_adverse_event(
            pid, event=made["record_hash"], end_on=demo.clock.now.date(), outcome="recovered"))

    def withdraw() -> None:
        today = demo.clock.now.date()
        clinical.withdraw_consent(inv, pid, on=today, follow_up="vital_status")
        inv.withdraw(pid, on=today, reason=clinical.WITHDRAWAL[0], reason_text=clinical.WITHDRAWAL[1])
        # at what would have been week 48, the agreed telephone call
        demo.at(day0 + timedelta(days=7 + 336 + 5), lambda: inv.record_vital_status(
            pid, status="alive", on=demo.clock.now.date(), known_alive_on=demo.clock.now.date()))

    def lost() -> None:
        inv.lost_to_follow_up(pid, on=visited["week_12"], attempts=4,
                              last_attempt_on=demo.clock.now.date() - timedelta(days=2))

    def complete() -> None:
        inv.complete(pid, on=demo.clock.now.date())
        name = STAFF[inv.signer.author][0]
        inv.sign_off(pid, printed_name=name, statement="I approve the casebook as complete.",
                     key_file=demo.home / "keys" / f"{inv.signer.author}.key",
                     passphrase=demo.passphrase)

    def unblind() -> None:
        inv.request_unblinding(pid, reason="severe adverse event: treatment decision needed",
                               informed=["sponsor medical monitor"],
                               key_file=demo.home / "keys" / f"{inv.signer.author}.key",
                               passphrase=demo.passphrase)

    demo.at(day0, screen)
    demo.at(day0 + timedelta(days=1), assess)


def _close(demo: Demo) -> None:
    """Database lock: every casebook locked; then the allocation list is revealed."""
    dm = demo.clients["dm-01"]
    for k in range(demo.participants):
        dm.lock(f"P-{k + 1:03d}", scope="casebook")
    reveal_allocation(demo.services, reason="database lock", occurred_at=demo.clock())


__all__ = ["PASSPHRASE", "Made", "SimClock", "run_simulation", "simulate"]
