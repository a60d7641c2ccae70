"""FHIR R4 resources read into a PatientProfile: shared by every door that reads a chart (CDS Hooks, SMART)."""
