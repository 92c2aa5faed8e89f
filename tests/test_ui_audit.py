"""Audit search: the pager counts the rows the filter keeps ("rows 101–200 of 298"), and the
filters offer the known values (users, participants, entry types, sites) as the role may see
them: a blinded role gets no arm and no allocation record's type, site staff only their site's
participants."""

from __future__ import annotations

import math
import re

import pytest

from api.exports.audit import AuditFilter, audit_rows
from api.services.sites import other_sites_rows
from api.services.tokens import User

from .conftest import DemoTrial
from .test_ui import ARM, login

ROLES = {"insp-01": ("inspector", "regulator"), "mon-01": ("monitor", "sponsor"),
         "dm-01": ("data_manager", "sponsor"), "inv-01": ("investigator", "site-01")}
RANGE = re.compile(r'data-testid="range">([^<]*)<')
LEAF = re.compile(r'<td><a href="/ui/records/[0-9a-f]{64}">\d+</a></td>')


def _seen(demo: DemoTrial, author: str, wanted: AuditFilter | None = None) -> list[dict]:
    """The rows this user may see, from the service the export and the viewer both read."""
    role, site = ROLES[author]
    user = User(author, role, site)
    return list(audit_rows(demo.services, role, wanted or AuditFilter(),
                           other_sites_rows(demo.services, user)))


def _options(page: str, name: str) -> list[str]:
    select = page.split(f'<select name="{name}"')[1].split("</select>")[0]
    return [v for v in re.findall(r'<option value="([^"]*)"', select) if v]


def test_the_pager_shows_which_rows_and_the_total(demo: DemoTrial) -> None:
    http = login(demo, "insp-01")
    total = len(_seen(demo, "insp-01"))
    assert total > 200
    first = http.get("/ui/audit").text
    assert RANGE.findall(first) == [f"rows 1–100 of {total:,}"]
    second = http.get("/ui/audit", params={"page": 2}).text
    assert RANGE.findall(second) == [f"rows 101–200 of {total:,}"]
    assert 'data-testid="previous"' in second and 'data-testid="next"' in second
    pages = math.ceil(total / 100)
    last = http.get("/ui/audit", params={"page": pages}).text
    assert RANGE.findall(last) == [f"rows {(pages - 1) * 100 + 1:,}–{total:,} of {total:,}"]
    assert 'data-testid="next"' not in last
    assert len(LEAF.findall(last)) == total - (pages - 1) * 100
    beyond = http.get("/ui/audit", params={"page": pages + 1}).text
    assert RANGE.findall(beyond) == [f"no rows on page {pages + 1}: {total:,} in all"]


@pytest.mark.parametrize("author", ["mon-01", "inv-01"])
def test_the_total_counts_what_the_filter_keeps_for_the_role(demo: DemoTrial, author: str) -> None:
    http = login(demo, author)
    for filters in ({"participant": "P-001"}, {"type": "lab.resulted"},
                    {"participant": "P-001", "since": "2024-07-01", "until": "2024-09-30"}):
        total = len(_seen(demo, author, AuditFilter(
            since=f"{filters['since']}T00:00:00.000000Z" if "since" in filters else None,
            until=f"{filters['until']}T23:59:59.999999Z" if "until" in filters else None,
            participant=filters.get("participant"), type=filters.get("type"))))
        assert total > 0, filters
        page = http.get("/ui/audit", params=filters).text
        assert RANGE.findall(page)[0].endswith(f" of {total:,}"), (filters, RANGE.findall(page))
    nothing = http.get("/ui/audit", params={"participant": "P-999"}).text
    assert RANGE.findall(nothing) == ["0 rows"] and "No record matches." in nothing


@pytest.mark.parametrize("author", list(ROLES))
def test_the_filters_offer_the_values_of_the_rows_the_role_may_see(demo: DemoTrial,
                                                                   author: str) -> None:
    page = login(demo, author).get("/ui/audit").text
    rows = _seen(demo, author)
    assert _options(page, "type") == sorted({r["type"] for r in rows})
    assert _options(page, "user") == sorted({r["author"] for r in rows})
    assert _options(page, "site") == sorted({r["site"] for r in rows})
    assert _options(page, "participant") == sorted(
        {r["stream"].removeprefix("participant/") for r in rows if r["stream"].startswith("participant/")})
    assert re.search(r'<option value="mon-01"[^>]*>Hana Sato \(mon-01\)</option>', page)


def test_a_blinded_monitors_choices_reveal_no_arm(demo: DemoTrial) -> None:
    monitor = login(demo, "mon-01").get("/ui/audit").text
    inspector = login(demo, "insp-01").get("/ui/audit").text
    form = monitor.split('<form method="get" action="/ui/audit"')[1].split("</form>")[0]
    assert ARM.search(form) is None
    allocation = {"slot.assigned", "allocation.committed", "allocation.revealed"}
    assert allocation & set(_options(inspector, "type")), "the inspector sees allocation records"
    assert not allocation & set(_options(monitor, "type"))
    assert _options(monitor, "participant") == [f"P-00{n}" for n in range(1, 7)]


def test_site_staff_are_offered_only_their_sites_participants(demo: DemoTrial) -> None:
    page = login(demo, "inv-01").get("/ui/audit").text
    assert _options(page, "participant") == ["P-001", "P-003", "P-005"]
    assert "site-02" not in _options(page, "site")


def test_a_chosen_value_stays_chosen(demo: DemoTrial) -> None:
    http = login(demo, "insp-01")
    page = http.get("/ui/audit", params={"type": "lab.corrected", "participant": "P-002"}).text
    assert '<option value="lab.corrected" selected>' in page
    assert '<option value="P-002" selected>' in page
    assert 'href="/ui/audit?participant=P-002&amp;type=lab.corrected&amp;page=' not in page  # one page
