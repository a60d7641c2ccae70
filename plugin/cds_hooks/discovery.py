"""The discovery document: one service per hook, each with its own id, and the prefetch they ask for."""

from __future__ import annotations

from plugin.cds_hooks.models import ORDER_SELECT_SERVICE_ID, SERVICE_ID, Discovery, Service
from plugin.cds_hooks.prefetch import TEMPLATES

DESCRIPTION = (
    "Pooled evidence on intravenous immunoglobulin (IVIG) and live birth for women with recurrent pregnancy loss "
    "and an immune finding (NK cells above 12%, autoimmune disease), from a meta-analysis of non-randomized studies."
)
USAGE = (
    "Reads active Conditions (recurrent pregnancy loss, antiphospholipid syndrome, lupus, autoimmune thyroiditis; "
    "SNOMED CT or ICD-10), NK-cell percentage Observations (LOINC) and the count of spontaneous abortions. The "
    "conditions prefetch is required unless fhirServer and fhirAuthorization let the service query it."
)
DISCOVERY = Discovery(
    services=(
        Service(
            hook="patient-view",
            id=SERVICE_ID,
            title="IVIG evidence for recurrent pregnancy loss",
            description=DESCRIPTION,
            prefetch=TEMPLATES,
            usage_requirements=USAGE,
        ),
        Service(
            hook="order-select",
            id=ORDER_SELECT_SERVICE_ID,
            title="IVIG evidence when intravenous immunoglobulin is ordered",
            description=f"{DESCRIPTION} Shown when a selected draft order is for intravenous immunoglobulin.",
            prefetch=TEMPLATES,
            usage_requirements=USAGE,
        ),
    )
)
