"""The JSON door: POST /v1/answer, GET /v1/evidence and health."""
