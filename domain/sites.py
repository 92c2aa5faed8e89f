"""Site scoping (data protection): site staff see only their own site's participants.

An investigator or a lab's interface works for one site: it reads the participants registered
there, and none of the sponsor's records about people (other users' logins on `access/…`, the
`exports` and `settings` streams). Sponsor-side roles (monitors, data managers, inspectors, admin,
the unblinded statistician) see every site. A participant with no site on record is not scoped.

Rules (stable ids): `participant.other_site`, `stream.not_shown`, `stream.not_writable`.

A stream a caller may not read is one it may not write either, and a refused write names neither
its head nor whether it exists (`stream.not_writable`, whatever its state); another site's
participant reads as an unknown one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from . import blinding, exports, settings
from .access import STREAM_PREFIX as ACCESS_PREFIX
from .participant import STREAM_PREFIX as PARTICIPANT_PREFIX

#: Roles that work for one site and see only its participants.
SITE_BOUND = frozenset({"investigator", "lab_interface"})
#: The sponsor's own records about people and the system, never shown to site staff.
SPONSOR_STREAMS = frozenset({exports.STREAM, settings.STREAM})


def is_site_bound(role: str) -> bool:
    return role in SITE_BOUND


def sees_site(role: str, own_site: str, site: str | None) -> bool:
    """Whether a `role` working at `own_site` may read a participant registered at `site`."""
    return not is_site_bound(role) or site is None or site == own_site


def hidden_streams(role: str, own_site: str, author: str, participant_sites: Mapping[str, str | None],
                   people: Iterable[str]) -> frozenset[str]:
    """The streams `role` may not read (empty for sponsor-side roles): the participants of other
    sites (`participant_sites`: participant id to site), the access streams of everyone in
    `people` but the reader (`author`), and the sponsor's streams."""
    if not is_site_bound(role):
        return frozenset()
    return frozenset({f"{PARTICIPANT_PREFIX}{pid}" for pid, site in participant_sites.items()
                      if not sees_site(role, own_site, site)}
                     | {f"{ACCESS_PREFIX}{a}" for a in people if a != author}
                     | SPONSOR_STREAMS)


#: The one answer to an entry on a stream the caller may not read, whatever the stream's state.
NOT_WRITABLE = "stream.not_writable"


def shows(role: str, stream: str, hidden: frozenset[str]) -> bool:
    """Whether `role` may read `stream` at all, given the streams `hidden_streams` hides from it:
    the restricted streams only for the roles that see the allocation, and no hidden stream."""
    return blinding.shows_stream(role, stream) and stream not in hidden


def refusal(stream: str) -> str:
    """The rule that refuses a hidden stream: a participant of another site, or any other."""
    return "participant.other_site" if stream.startswith(PARTICIPANT_PREFIX) else "stream.not_shown"
