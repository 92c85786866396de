"""The REST API v1 (FastAPI routers, pydantic models, limits, the error shape)."""
