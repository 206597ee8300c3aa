"""REST endpoints of the mock under `/v1/` (each module exports its `ROUTES`)."""
