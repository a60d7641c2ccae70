"""The CDS Hooks door: discovery, services, prefetch and FHIR fetching, client authentication, feedback."""
