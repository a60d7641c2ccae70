"""A seeded mix of distinct profiles, like real traffic, for every door: what the load generator picks from.

Each profile: losses 0 to 8, NK cells a continuous percentage (two decimals, 0 to 40), no answer or any of the
sixteen combinations of autoimmune conditions, any IVIG timing or none, the Th1/Th2 ratio and the RPL type known
or not, and a third with an assumed baseline chance of live birth (three decimals, 0.300 to 0.850). The CDS Hooks
mix is distinct prefetch bundles: her problem list (recurrent miscarriage and any of the three coded autoimmune
diagnoses), one NK-cell result (two decimals) and her count of losses, 2 to 8.

A request of the mix is a template with holes and one row of values to fill them (see `bench/wrk.py`): the whole
body for POST /v1/answer, the query string for the widget, the three varying parts of the CDS prefetch.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from typing import Any

from bench.bare_mcp import ANSWER_TOOL
from bench.targets import encoded
from plugin.core.rules.profile import AUTOIMMUNE_CONDITIONS, IVIG_STARTS, RPL_TYPES, PatientProfile
from plugin.web.links import widget_query
from tests.cds_hooks.support import chart, hook_request, load

SEED = 20261207
SIZE = 20_000
CONDITION_SETS: list[tuple[str, ...] | None] = [None] + [
    combination
    for count in range(len(AUTOIMMUNE_CONDITIONS) + 1)
    for combination in itertools.combinations(AUTOIMMUNE_CONDITIONS, count)
]


@dataclass(frozen=True)
class Mix:
    """Requests made of `parts` with the values of one row between them (`len(parts) == len(row) + 1`)."""

    parts: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def request(self, index: int) -> str:
        row = self.rows[index]
        return "".join(part + (row[i] if i < len(row) else "") for i, part in enumerate(self.parts))


def profiles(size: int = SIZE, seed: int = SEED) -> list[PatientProfile]:
    """`size` distinct profiles, in a seeded random order."""
    rng = random.Random(seed)
    seen: dict[PatientProfile, None] = {}
    while len(seen) < size:
        fields: dict[str, Any] = {
            "prior_pregnancy_losses": rng.randint(0, 8),
            "nk_cell_percent": round(rng.uniform(0, 40), 2),
            "autoimmune_conditions": rng.choice(CONDITION_SETS),
            "ivig_start": rng.choice([None, *IVIG_STARTS]),
            "th1_th2_ratio_elevated": rng.choice([None, True, False]),
            "rpl_type": rng.choice([None, *RPL_TYPES]),
        }
        if rng.random() < 1 / 3:
            fields["baseline_live_birth_risk"] = round(rng.uniform(0.3, 0.85), 3)
        seen.setdefault(PatientProfile.model_validate(fields), None)
    return list(seen)


def answer_mix(size: int = SIZE, seed: int = SEED) -> Mix:
    rows = [(encoded(p.model_dump(mode="json", exclude_none=True)).decode(),) for p in profiles(size, seed)]
    return Mix(("", ""), tuple(rows))


def mcp_mix(size: int = SIZE, seed: int = SEED) -> Mix:
    """The same profiles as the JSON door's, each the arguments of one MCP `tools/call` of the answer tool."""
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": ANSWER_TOOL, "arguments": {}}}
    before, after = encoded(call).decode().split("{}")
    return Mix((before, after), answer_mix(size, seed).rows)


def widget_mix(size: int = SIZE, seed: int = SEED) -> Mix:
    return Mix(("/widget", ""), tuple((widget_query(p),) for p in profiles(size, seed)))


HOLES = ("@@CONDITIONS@@", "@@NK@@", "@@LOSSES@@")


def cds_template() -> tuple[str, ...]:
    """The patient-view body with holes: the problem list's entries, the NK-cell value, the count of losses."""
    prefetch = chart(nkCells="nk-percent.json", obstetricHistory="obstetric-3-losses.json")
    prefetch["conditions"]["entry"] = HOLES[0]
    del prefetch["conditions"]["total"]
    nk = prefetch["nkCells"]
    nk["entry"] = nk["entry"][:1]
    nk["total"] = 1
    nk["entry"][0]["resource"]["valueQuantity"]["value"] = HOLES[1]
    prefetch["obstetricHistory"]["entry"][0]["resource"]["valueInteger"] = HOLES[2]
    text = encoded(hook_request(prefetch)).decode()
    for hole in HOLES:
        text = text.replace(f'"{hole}"', hole)
    parts = [text]
    for hole in HOLES:
        *head, tail = parts
        parts = [*head, *tail.split(hole)]
    return tuple(parts)


def cds_mix(size: int = SIZE, seed: int = SEED) -> Mix:
    """`size` distinct prefetch bundles, in a seeded random order."""
    rng = random.Random(seed)
    entries = load("conditions-snomed.json")["entry"]
    rpl, autoimmune = entries[0], entries[1:]
    rows: dict[tuple[str, ...], None] = {}
    while len(rows) < size:
        chosen = [rpl] + [entry for entry in autoimmune if rng.random() < 0.5]
        nk = f"{rng.uniform(0, 40):.2f}"
        rows.setdefault((json.dumps(chosen, separators=(",", ":")), nk, str(rng.randint(2, 8))), None)
    return Mix(cds_template(), tuple(rows))
