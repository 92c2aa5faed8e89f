"""Site staff see their own site's participants (data protection): an investigator's reads of a
participant registered at another site are refused. Sponsor-side roles (monitors, data managers,
inspectors, admin, the unblinded statistician) see every site."""

from __future__ import annotations

from api.http.problems import Denied
from api.services.bootstrap import Services
from api.services.tokens import User
from domain import exports, settings
from domain.access import STREAM_PREFIX as ACCESS_PREFIX
from domain.participant import STREAM_PREFIX as PARTICIPANT_PREFIX

SITE_BOUND = frozenset({"investigator", "lab_interface"})
SPONSOR_STREAMS = frozenset({exports.STREAM, settings.STREAM})


def sees_site(user: User, site: str | None) -> bool:
    return user.role not in SITE_BOUND or site is None or site == user.site


def check_participant_site(services: Services, user: User, participant_id: str) -> None:
    """Refuse (403) a site-bound caller reading a participant of another site."""
    if user.role not in SITE_BOUND:
        return
    services.views.catch_up()
    state = services.views.participant(participant_id)
    if state is not None and not sees_site(user, state.site):
        raise Denied(403, "participant.other_site",
                     f"participant {participant_id} belongs to another site than {user.site}")


def other_sites_rows(services: Services, user: User) -> frozenset[str]:
    """Streams a site-bound caller may not see (empty for sponsor-side roles): participants of
    other sites, and the sponsor's own records about people: other users' logins (`access/…`),
    exports and settings."""
    if user.role not in SITE_BOUND:
        return frozenset()
    services.views.catch_up()
    people = {key.author for key in services.ledger.registry().keys.values()}
    return frozenset({f"participant/{pid}" for pid, state in services.views.participants().items()
                      if not sees_site(user, state.site)}
                     | {f"{ACCESS_PREFIX}{a}" for a in people if a != user.author}
                     | SPONSOR_STREAMS)


def check_stream(services: Services, user: User, stream: str) -> None:
    """Refuse (403) a site-bound caller reading a stream it may not see."""
    if user.role in SITE_BOUND and stream in other_sites_rows(services, user):
        rule = "participant.other_site" if stream.startswith(PARTICIPANT_PREFIX) else "stream.not_shown"
        raise Denied(403, rule, f"{stream} is not shown to site staff of {user.site}")
