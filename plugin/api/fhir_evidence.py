"""The evidence store as FHIR R5 `Evidence` resources (EBMonFHIR, https://hl7.org/fhir/R5/evidence.html).

One `Evidence` per estimate of the non-randomized review, with `EvidenceVariable`s for population, exposure,
comparator and outcome and a `Citation`; the randomized context records with an effect estimate export the
same way, each with its own population (a subgroup stays its subgroup), its own comparator as the record states
it, and its own study design. Every value is copied from the store, nothing is rounded, and what the store does
not hold is left out.

A Bundle a consumer can follow: every entry's `fullUrl` is a `urn:uuid:` made from its type and id, and every
reference is that same URN, so each one resolves inside the Bundle. Coded elements use the code systems the R5
value sets bind (`http://hl7.org/fhir/certainty-type`, `certainty-rating` and `study-design`, SEVCO codes; the
terminology.hl7.org systems the other R5 value sets include). The Bundle is validated with fhir.resources before
it is served.
"""

from __future__ import annotations

import uuid
from typing import Any

from plugin.core.evidence.analysis import Analysis, Estimate, EvidenceStore
from plugin.core.evidence.context import ContextRecord

TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
FHIR = "http://hl7.org/fhir"
# Study designs (R5 ValueSet study-design, SEVCO): the review's studies compare groups but were not randomized, and
# some were retrospective, so no more than "comparative" is claimed for them.
COMPARATIVE = ("SEVCO:01010", "Comparative study design")
RANDOMIZED = ("SEVCO:01003", "randomized assignment")
DESIGN = {"nonrandomized": (COMPARATIVE,), "rct": (RANDOMIZED, COMPARATIVE)}
# The namespace of the entries' URNs: any fixed one would do; fixed, the same store gives the same URNs.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ivig-cds")
STATISTIC = {"RR": ("C93152", "Relative Risk"), "OR": ("C16932", "Odds Ratio")}
SUBCOMPONENT = {
    "risk_of_bias": "RiskOfBias",
    "inconsistency": "Inconsistency",
    "indirectness": "Indirectness",
    "imprecision": "Imprecision",
    "publication_bias": "PublicationBias",
    "large_effect": "LargeEffect",
}
RATING = {"serious": "serious-concern", "very_serious": "very-serious-concern", "not_serious": "no-concern"}
LEVEL = {"low": "low", "very_low": "very-low"}


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of one Coding; `system` is a full URL, or a name under terminology.hl7.org."""
    entry: dict[str, Any] = {"system": system if "://" in system else f"{TERMINOLOGY}/{system}", "code": code}
    if display:
        entry["display"] = display
    return {"coding": [entry]}


def urn(kind: str, id_: str) -> str:
    """The `fullUrl` of the entry holding `kind/id_`, and what every reference to it says."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{kind}/{id_}')}"


def ref(kind: str, id_: str) -> dict[str, str]:
    return {"reference": urn(kind, id_)}


def fhir_id(text: str) -> str:
    return text.replace("_", "-").replace("#", "-")[:64]


def variable(id_: str, title: str, description: str) -> dict[str, Any]:
    return {
        "resourceType": "EvidenceVariable",
        "id": id_,
        "status": "active",
        "title": title,
        "description": description,
        "actual": True,
    }


def citation_of(id_: str, text: str, doi: str | None, url: str | None) -> dict[str, Any]:
    artifact: dict[str, Any] = {"title": [{"text": text}]}
    if doi:
        artifact["identifier"] = [{"system": "https://doi.org", "value": doi}]
    if url:
        artifact["webLocation"] = [{"url": url}]
    return {
        "resourceType": "Citation",
        "id": id_,
        "status": "active",
        "summary": [{"text": text}],
        "citedArtifact": artifact,
    }


def roles(population: str, comparator: str, outcome: str) -> list[dict[str, Any]]:
    pairs = [
        ("population", population),
        ("exposure", "ivig"),
        ("referenceExposure", comparator),
        ("measuredVariable", outcome),
    ]
    return [
        {"variableRole": coding("variable-role", role), "observed": ref("EvidenceVariable", target)}
        for role, target in pairs
    ]


def designs(kind: str) -> list[dict[str, Any]]:
    return [coding(f"{FHIR}/study-design", code, display) for code, display in DESIGN[kind]]


def sample_size(studies: int | None, participants: int | None) -> dict[str, int]:
    """Only what the store knows: an unknown count is left out, never zero."""
    known = (("numberOfStudies", studies), ("numberOfParticipants", participants))
    return {name: value for name, value in known if value is not None}


def p_estimate(estimate: Estimate) -> dict[str, Any]:
    """The p-value as printed: an exact value, or a bound ('< 0.0001') as a comparator and value."""
    if estimate.p_value is not None:
        quantity: dict[str, Any] = {"value": estimate.p_value}
    else:
        text = (estimate.p_value_text or "").replace(" ", "")
        comparator = next(op for op in ("<=", "<", ">=", ">") if text.startswith(op))
        quantity = {"comparator": comparator, "value": float(text.removeprefix(comparator))}
    return {"type": coding("attribute-estimate-type", "C44185", "P-value"), "quantity": quantity}


def ci_estimate(level: float, low: float, high: float) -> dict[str, Any]:
    return {
        "type": coding("attribute-estimate-type", "C53324", "Confidence interval"),
        "level": level,
        "range": {"low": {"value": low}, "high": {"value": high}},
    }


def certainty(estimate: Estimate) -> list[dict[str, Any]]:
    subcomponents = [
        {
            "type": coding(f"{FHIR}/certainty-type", SUBCOMPONENT[r.domain]),
            "rating": coding(f"{FHIR}/certainty-rating", RATING[r.judgement]),
            "note": [{"text": r.reason}],
        }
        for r in estimate.certainty.reasons
        if r.domain in SUBCOMPONENT and r.judgement in RATING
    ]
    return [
        {
            "type": coding(f"{FHIR}/certainty-type", "Overall"),
            "rating": coding(f"{FHIR}/certainty-rating", LEVEL[estimate.certainty.level]),
            "rater": estimate.certainty.rated_by,
            "note": [{"text": "Rated by the curators (GRADE for non-randomized studies); the review reports none."}],
            "subcomponent": subcomponents,
        }
    ]


def estimate_evidence(analysis: Analysis, estimate: Estimate, population: str) -> dict[str, Any]:
    statistic: dict[str, Any] = {
        "statisticType": coding("statistic-type", *STATISTIC[estimate.measure]),
        "quantity": {"value": estimate.point},
        "attributeEstimate": [ci_estimate(estimate.ci_level, *estimate.ci), p_estimate(estimate)],
    }
    size = {
        k: v
        for k, v in (("numberOfStudies", estimate.n_studies), ("numberOfParticipants", estimate.n_participants))
        if v
    }
    if size:
        statistic["sampleSize"] = size
    return {
        "resourceType": "Evidence",
        "id": fhir_id(f"{analysis.id}-{estimate.id}"),
        "status": "active",
        "title": f"{analysis.title}: {estimate.label}",
        "citeAsReference": ref("Citation", analysis.id),
        "description": estimate.definition,
        "variableDefinition": roles(population, "control", "live-birth"),
        "synthesisType": coding("synthesis-type", "std-MA", "summary data meta-analysis"),
        "studyDesign": designs("nonrandomized"),
        "statistic": [statistic],
        "certainty": certainty(estimate),
    }


def record_id(record: ContextRecord, role: str) -> str:
    return fhir_id(f"{record.id}-{role}")


def record_variables(record: ContextRecord) -> list[dict[str, Any]]:
    """The record's own population (or subgroup) and comparator, in its own words: never the review's."""
    population = record.population or "Women with recurrent pregnancy loss"
    return [
        variable(record_id(record, "population"), f"{record.short}: population", population),
        variable(record_id(record, "comparator"), f"{record.short}: comparator", f"{record.measure}; {record.design}"),
    ]


def record_evidence(record: ContextRecord) -> dict[str, Any] | None:
    """A randomized context record with an effect estimate, as Evidence marked with its design; its population and
    comparator are its own variables (`record_variables`)."""
    if not record.randomized or record.estimate is None or record.ci is None or record.measure is None:
        return None
    measure = "OR" if record.measure.startswith("OR") else "RR"
    statistic: dict[str, Any] = {
        "statisticType": coding("statistic-type", *STATISTIC[measure]),
        "description": record.measure,
        "quantity": {"value": record.estimate},
        "attributeEstimate": [ci_estimate(0.95, *record.ci)],
    }
    size = {
        k: v for k, v in (("numberOfStudies", record.n_studies), ("numberOfParticipants", record.n_participants)) if v
    }
    if size:
        statistic["sampleSize"] = size
    outcome = "no-live-birth" if record.outcome == "no_live_birth" else "live-birth"
    synthesis = record.kind == "rct_meta_analysis"
    resource: dict[str, Any] = {
        "resourceType": "Evidence",
        "id": fhir_id(record.id),
        "status": "active",
        "title": record.short,
        "citeAsReference": ref("Citation", f"{fhir_id(record.id)}-citation"),
        "description": record.statement,
        "variableDefinition": roles(record_id(record, "population"), record_id(record, "comparator"), outcome),
        "studyDesign": designs("rct"),
        "statistic": [statistic],
    }
    if synthesis:
        resource["synthesisType"] = coding("synthesis-type", "std-MA", "summary data meta-analysis")
    return resource


def evidence_bundle(store: EvidenceStore, analysis_id: str) -> dict[str, Any]:
    """The analysis and the randomized context records as a validated FHIR R5 collection Bundle.

    Raises:
        KeyError: the store holds no analysis with this id.
    """
    from fhir.resources.bundle import Bundle  # R5's models: imported by the first call, not at every start

    analysis = store.analyses[analysis_id]
    resources: list[dict[str, Any]] = [
        citation_of(analysis.id, analysis.source.citation, analysis.source.doi, analysis.source.url),
        variable("rpl-immune", "Recurrent pregnancy loss with an immune finding", analysis.pico.population),
        variable("ivig", "IVIG", analysis.pico.intervention),
        variable("control", "Control", analysis.pico.comparator),
        variable("live-birth", "Live birth", analysis.pico.outcome),
        variable("no-live-birth", "No live birth", "No live birth (Egerup 2015 reports this outcome)"),
    ]
    resources += [estimate_evidence(analysis, e, "rpl-immune") for e in analysis.estimates]
    for record in store.context.values():
        exported = record_evidence(record)
        if exported is not None:
            resources.append(citation_of(f"{fhir_id(record.id)}-citation", record.citation, record.doi, record.url))
            resources += [*record_variables(record), exported]
    bundle = {
        "resourceType": "Bundle",
        "id": fhir_id(f"{analysis.id}-{store.version.removeprefix('sha256:')}"),
        "type": "collection",
        "entry": [{"fullUrl": urn(r["resourceType"], r["id"]), "resource": r} for r in resources],
    }
    Bundle.model_validate(bundle)  # raises if any resource is not valid FHIR R5
    return bundle
