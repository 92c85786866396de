"""The REST API v1: FastAPI routers, pydantic models named by role, shared dependencies, and the one error shape."""
