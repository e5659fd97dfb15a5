"""A Starlette service built by an app factory (create_app)."""
