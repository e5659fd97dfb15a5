"""ASGI entry point: ``app.main:app`` (gunicorn ``-k uvicorn_worker.UvicornWorker``, uvicorn)."""

from app.application import create_app

app = create_app()
