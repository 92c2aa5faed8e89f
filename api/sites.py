"""Site staff see their own site's participants (data protection): an investigator's reads of a
participant registered at another site are refused. Sponsor-side roles (monitors, data managers,
inspectors, admin, the unblinded statistician) see every site."""

from __future__ import annotations

from .bootstrap import Services
from .problems import Denied
from .tokens import User

SITE_BOUND = frozenset({"investigator", "lab_interface"})


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
    """Streams of participants a site-bound caller may not see (empty for sponsor-side roles)."""
    if user.role not in SITE_BOUND:
        return frozenset()
    services.views.catch_up()
    return frozenset(f"participant/{pid}" for pid, state in services.views.participants().items()
                     if not sees_site(user, state.site))
