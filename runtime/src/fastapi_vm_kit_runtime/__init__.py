"""The server side the FastAPI VM kit installs into every release (see ``worker``)."""
