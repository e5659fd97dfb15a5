"""Reference FastAPI service the kit deploys: health, version, items API, token auth."""
