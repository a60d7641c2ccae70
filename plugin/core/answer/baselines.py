"""The baseline chance of live birth without IVIG that absolute effects start from: the clinician's own number or
a sourced row she fits, never a default. The relative effect of these non-randomized studies cannot be carried to
the chances women with RPL usually have, so without a baseline the answer says why none is shown."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from plugin.core.answer import wording
from plugin.core.evidence.analysis import EvidenceStore
from plugin.core.evidence.context import ContextRecord
from plugin.core.rules.profile import PatientProfile
from plugin.errors import ProfileError

SOURCE_FIELD = "baseline_live_birth_source"


def whole_percent(probability: float) -> int:
    """A probability as a whole percentage, rounded half up from its exact decimal value (0.633 -> 63)."""
    return int((Decimal(repr(probability)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def sourced_label(record: ContextRecord) -> str:
    """A sourced baseline named in full: whose chance, in which population, per what."""
    baseline = record.baseline
    if baseline is None:  # pragma: no cover - only baseline records are offered
        raise KeyError(record.id)
    counts = f"{baseline.events}/{baseline.total}, " if baseline.events is not None else ""
    return f"{record.short}: {baseline.population}; {counts}{baseline.denominator}"


def misfit(record: ContextRecord, profile: PatientProfile) -> str | None:
    """Why this sourced baseline does not describe her, from what is known; None when nothing known rules it out."""
    baseline = record.baseline
    if baseline is None:  # pragma: no cover - only baseline records are offered
        raise KeyError(record.id)
    losses = profile.prior_pregnancy_losses
    if baseline.min_losses is not None and losses is not None and losses < baseline.min_losses:
        return f"it was measured in women with {baseline.min_losses} or more losses"
    if baseline.rpl_type is not None and profile.rpl_type is not None and profile.rpl_type != baseline.rpl_type:
        return f"it was measured in {baseline.rpl_type} recurrent pregnancy loss only"
    if set(baseline.excludes) & set(profile.autoimmune_conditions or ()):
        excluded = wording.and_list([wording.SELECTION_TEXT[c] for c in baseline.excludes])
        return f"it was measured in unexplained recurrent pregnancy loss, which excludes {excluded}"
    return None


def baseline_of(profile: PatientProfile, store: EvidenceStore) -> tuple[float, str] | None:
    """Her baseline chance of live birth and where it came from, or None when the caller gave none.

    Raises:
        ProfileError: she named a sourced baseline measured in women she is not among.
    """
    if profile.baseline_live_birth_risk is not None:
        return profile.baseline_live_birth_risk, wording.BASELINE_CLINICIAN
    if profile.baseline_live_birth_source is None:
        return None
    record = store.baselines().get(profile.baseline_live_birth_source)
    if record is None:
        raise ProfileError(
            f"this release of the evidence ({store.label}) holds no such baseline; name one of "
            f"{', '.join(sorted(store.baselines())) or 'none'}, or give a baseline risk",
            code="profile.baseline_not_in_release",
            field=SOURCE_FIELD,
        )
    why = misfit(record, profile)
    if why is not None:
        raise ProfileError(
            f"{record.short} does not describe this patient: {why}; name another source or give a baseline risk",
            code="profile.baseline_does_not_fit",
            field=SOURCE_FIELD,
        )
    if record.baseline is None:  # pragma: no cover - the plugin's load checks every name is a baseline record
        raise KeyError(record.id)
    return record.baseline.risk, sourced_label(record)


def not_shown_note(store: EvidenceStore, rr: float, *, short: bool = False) -> str:
    """Why no absolute effect is shown without a baseline: the usual chances, and where RR would take them."""
    arms = sorted(
        (r.baseline.risk, r.short.partition(",")[0])
        for r in store.baselines().values()
        if r.baseline is not None and r.baseline.source_kind == "placebo_arm"
    )
    if not arms:  # a release without placebo arms (an older one) has no usual chances to set beside the RR
        return wording.ABSOLUTE_NOT_SHOWN_SHORT_NO_ARMS if short else wording.ABSOLUTE_NOT_SHOWN_NO_ARMS
    lowest, highest = arms[0][0], arms[-1][0]
    reached = Decimal(repr(lowest)) * Decimal(repr(rr)) * 100
    where = "would pass 100%" if reached > 100 else f"would give {int(reached)}% or more"
    return (wording.ABSOLUTE_NOT_SHOWN_SHORT if short else wording.ABSOLUTE_NOT_SHOWN).format(
        low=whole_percent(lowest),
        high=whole_percent(highest),
        trials=wording.and_list([name for _, name in arms]),
        rr=f"{rr:.2f}",
        where=where,
    )
