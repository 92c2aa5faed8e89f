"""Site scoping, pure: site staff read only their own site's participants and none of the
sponsor's records about people; sponsor-side roles read every site. No database, no API."""

from __future__ import annotations

import pytest

from domain import sites

PARTICIPANTS = {"P-001": "site-01", "P-002": "site-02", "P-003": None}
PEOPLE = ["inv-001", "inv-002", "dm-001"]


@pytest.mark.parametrize("role", ["investigator", "lab_interface"])
def test_site_staff_see_their_own_site_and_participants_with_no_site(role: str) -> None:
    assert sites.sees_site(role, "site-01", "site-01")
    assert sites.sees_site(role, "site-01", None)
    assert not sites.sees_site(role, "site-01", "site-02")


@pytest.mark.parametrize("role", ["admin", "data_manager", "monitor", "inspector",
                                  "unblinded_statistician"])
def test_sponsor_roles_see_every_site_and_every_stream(role: str) -> None:
    assert not sites.is_site_bound(role)
    assert sites.sees_site(role, "sponsor", "site-02")
    assert sites.hidden_streams(role, "sponsor", "dm-001", PARTICIPANTS, PEOPLE) == frozenset()


def test_site_staff_miss_other_sites_other_people_s_logins_exports_and_settings() -> None:
    hidden = sites.hidden_streams("investigator", "site-01", "inv-001", PARTICIPANTS, PEOPLE)
    assert hidden == {"participant/P-002", "access/inv-002", "access/dm-001", "exports", "settings"}
    assert "access/inv-001" not in hidden and "participant/P-001" not in hidden


def test_a_refused_stream_names_its_rule() -> None:
    assert sites.refusal("participant/P-002") == "participant.other_site"
    assert sites.refusal("access/dm-001") == sites.refusal("exports") == "stream.not_shown"
