"""Site scoping applied to reads: the rule (site staff see their own site's participants) is
domain/sites.py; here a refused read becomes a 403, and the streams to hide are gathered."""

from __future__ import annotations

from api.http.problems import Denied
from api.services.bootstrap import Services
from api.services.tokens import User
from domain import sites
from domain.sites import SITE_BOUND as SITE_BOUND  # the exports read it here


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
    """Refuse (403) a site-bound caller reading a stream it may not see."""
    if sites.is_site_bound(user.role) and stream in other_sites_rows(services, user):
        raise Denied(403, sites.refusal(stream), f"{stream} is not shown to site staff of {user.site}")
