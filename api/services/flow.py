"""The analysis sets and the participant flow as the caller may see them: over the participants of
the sites they see, now or as of a cut, per arm only for roles that may see arms; and the flow's
counts as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from api.services import blinding
from api.services.bootstrap import Services
from api.services.tokens import User
from api.services.views import visible_states
from projections.flow import flow_rows, participant_flow, set_rows

CSV_COLUMNS = ("section", "step", "detail", "arm", "count")


def flow(services: Services, user: User, as_of: str | None) -> dict[str, Any]:
    """The sets and the flow over the participants `user` may see (as the summary counts them),
    pooled for blinded roles."""
    states = visible_states(services, user, as_of)
    return participant_flow(states, protocol=blinding.protocol(services),
                            show_arms=not blinding.is_blinded(services, user.role))


def flow_csv(answer: dict[str, Any]) -> str:
    """One table of counts: the flow's steps, then the analysis sets (arm "all" is pooled;
    per-arm rows only where the answer has them)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for step, detail, arm, count in flow_rows(answer["flow"]):
        writer.writerow(("flow", step, detail, arm, count))
    for name, arm, count in set_rows(answer["sets"]):
        writer.writerow(("analysis_set", name, "", arm, count))
    return out.getvalue()
