"""Site scoping applied to reads and writes: the rule (site staff see their own site's
participants; the allocation stream only the roles that see slots) is domain/sites.py and
domain/blinding.py; here the streams to hide are gathered and a refusal is raised. Another site's
participant, or a record a caller may not read, answers as an unknown one (no existence oracle);
an entry on a stream the caller may not read is refused alike whatever the stream's state."""

from __future__ import annotations

import weakref

from api.http.problems import Denied
from api.services.bootstrap import Services
from api.services.tokens import User
from domain import blinding, sites
from domain.access import STREAM_PREFIX as ACCESS_PREFIX
from domain.participant import STREAM_PREFIX as PARTICIPANT_PREFIX
from domain.sites import SITE_BOUND as SITE_BOUND  # the exports read it here
from ledger.errors import NotFound
from ledger.store import Store


def sees_site(user: User, site: str | None) -> bool:
    return sites.sees_site(user.role, user.site, site)


def check_participant_site(services: Services, user: User, participant_id: str) -> None:
    """Refuse (403) a site-bound caller reading a participant of another site."""
    if not sites.is_site_bound(user.role):
        return
    services.views.catch_up()
    state = services.views.participant(participant_id)
    if state is not None and not sees_site(user, state.site):
        raise Denied(403, "participant.other_site",
                     f"participant {participant_id} belongs to another site than {user.site}")


def unknown_participant(participant_id: str) -> NotFound:
    """The answer for a participant the caller may not know of: the same as for one never registered."""
    return NotFound(f"no participant {participant_id}", field="participant_id")


def check_participant_known(services: Services, user: User, participant_id: str) -> None:
    """Refuse a site-bound caller another site's participant exactly as an unknown one (404)."""
    try:
        check_participant_site(services, user, participant_id)
    except Denied:
        raise unknown_participant(participant_id) from None


class NeedsViews(Exception):
    """Raised where a judgement asked not to wait for the views would need them."""


def check_writable_now(services: Services, user: User, stream: object) -> bool:
    """`check_writable` without waiting for the views, for the event loop: True once judged
    (raising Denied as it does), False where it would need the views (call it on a thread)."""
    try:
        check_writable(services, user, stream, views=False)
    except NeedsViews:
        return False
    return True


def shows_stream(services: Services, user: User, stream: str, *, views: bool = True) -> bool:
    """Whether `user` may read `stream` at all (its records, its head, that it exists). Judged
    for this stream alone (its participant's site, its person): every append by site staff asks,
    and the answer must not cost a read of every participant. `views=False`: NeedsViews where
    the views would be read."""
    if not blinding.shows_stream(user.role, stream):
        return False
    if not sites.is_site_bound(user.role):
        return True
    participant_sites: dict[str, str | None] = {}
    people: set[str] = set()
    if stream.startswith(PARTICIPANT_PREFIX):
        pid = stream.removeprefix(PARTICIPANT_PREFIX)
        site = participant_site(services, pid, views=views)
        if site is not None:
            participant_sites[pid] = site
    elif stream.startswith(ACCESS_PREFIX):
        person = stream.removeprefix(ACCESS_PREFIX)
        if any(key.author == person for key in services.ledger.registry().keys.values()):
            people.add(person)
    hidden = sites.hidden_streams(user.role, user.site, user.author, participant_sites, people)
    return sites.shows(user.role, stream, hidden)


#: A registered participant's site, per store: a registration is never changed or undone, so
#: what it says of the site holds for good (a redaction removes the payload, not the fact).
_KNOWN_SITES: weakref.WeakKeyDictionary[Store, dict[str, str]] = weakref.WeakKeyDictionary()
MAX_KNOWN_SITES = 200_000


def participant_site(services: Services, participant_id: str, *,
                     views: bool = True) -> str | None:
    """The participant's site (None: not registered). A participant's site is fixed by its
    registration, the first record of its stream, so it is read from the log as committed now:
    no waiting for the views, and never behind them. Only where that record's payload was redacted
    is the site taken from the views, as of the log's end."""
    known = _KNOWN_SITES.setdefault(services.store, {})
    if participant_id in known:
        return known[participant_id]
    first = services.ledger.first_record(PARTICIPANT_PREFIX + participant_id)
    if first is None:
        return None  # not kept: the participant may be registered next
    payload = first.payload() if first.type == "participant.registered" else None
    if payload is not None and isinstance(payload.get("site"), str):
        if len(known) >= MAX_KNOWN_SITES:
            known.clear()
        known[participant_id] = site = str(payload["site"])
        return site
    if not views:
        raise NeedsViews(participant_id)
    services.views.catch_up()
    state = services.views.participant(participant_id)
    return None if state is None else state.site


def check_record(services: Services, user: User, stream: str, record_hash: str) -> None:
    """Refuse a record of a stream the caller may not read exactly as an unknown hash (404): not
    even its type, time or `prev` (which would walk the chain), nor that it exists; so for the
    allocation stream and, for site staff, another site's participants."""
    if not shows_stream(services, user, stream):
        raise NotFound(f"no record with record_hash {record_hash}", field="record_hash")


def check_writable(services: Services, user: User, stream: object, *, views: bool = True) -> None:
    """Refuse (403) an entry on a stream `user` may not read, before the ledger compares versions:
    the same answer whatever the stream's state, so neither its head nor its existence shows."""
    if isinstance(stream, str) and needs_check(user) and \
            not shows_stream(services, user, stream, views=views):
        raise Denied(403, sites.NOT_WRITABLE, f"role {user.role} may not write to {stream}")


def needs_check(user: User) -> bool:
    """Whether some stream is hidden from `user` (so a write needs the views' read)."""
    return sites.is_site_bound(user.role) or not blinding.sees_allocation(user.role)


def other_sites_rows(services: Services, user: User) -> frozenset[str]:
    """Streams a site-bound caller may not see (empty for sponsor-side roles): participants of
    other sites, other users' logins, exports and settings."""
    if not sites.is_site_bound(user.role):
        return frozenset()
    services.views.catch_up()
    people = {key.author for key in services.ledger.registry().keys.values()}
    participant_sites = {pid: state.site for pid, state in services.views.participants().items()}
    return sites.hidden_streams(user.role, user.site, user.author, participant_sites, people)


def check_stream(services: Services, user: User, stream: str) -> None:
    """Refuse (403) a site-bound caller reading a stream it may not see (judged for this stream
    alone, from the log: no wait for the views)."""
    if sites.is_site_bound(user.role) and not shows_stream(services, user, stream):
        raise Denied(403, sites.refusal(stream), f"{stream} is not shown to site staff of {user.site}")
