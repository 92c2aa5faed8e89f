"""The HTTP API: the FastAPI app, its dependencies, problem+json, the OpenAPI contract, and one
router module per resource. Routes parse, call a service, and map its answer."""
