"""The pydantic models of every /api/v1 body, one module per resource: each is declared once,
used by the route's @declare to validate, and turned into the OpenAPI document's schemas."""
