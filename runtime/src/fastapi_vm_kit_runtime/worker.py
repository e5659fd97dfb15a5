"""Gunicorn worker of the kit: uvicorn's worker, stopping without cutting a kept-alive connection.

A worker stops when gunicorn recycles it (``max_requests``), on ``systemctl stop`` and at the end
of a blue/green switch. uvicorn then closes every connection that is between two requests at
once. Under nginx those are the upstream keep-alive connections: nginx may be writing its next
request on one at that very moment, and gets a reset. nginx retries an idempotent request but
counts the failure against the server (``max_fails``, which takes an app host out of a proxy
tier for ``fail_timeout``); a POST is not retried and fails (502).

HTTP/1.1 lets a server close a persistent connection safely only by announcing it in a response
(``Connection: close``). This worker's protocol does that. When the worker stops:

* a request whose response has not started is answered with ``Connection: close``;
* a connection between two requests (or with a response under way) stays open: the next request
  on it is served and answered with ``Connection: close``, and if none comes, the keep-alive
  timer (gunicorn's ``keepalive``) closes it. nginx's own idle timeout on upstream connections is
  shorter (the kit sets 1 s against 5 s here), so under nginx the client side closes first.

A stopping worker accepts no new connection (uvicorn closes its listener first), and gives up on
connections still open after gunicorn's ``graceful_timeout``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker as _UvicornWorker

__all__ = ["DrainingHttpToolsProtocol", "UvicornWorker"]


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a shutdown that announces the close instead of cutting."""

    draining: bool = False

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.response_started:
            # Its response is still to come: it carries Connection: close.
            cycle.keep_alive = False
            return
        # Between two requests, or with response headers already sent: keep the connection until
        # the client closes it, one more request is answered with Connection: close, or the
        # keep-alive timer runs out (armed here for a connection that has seen no request yet).
        self.draining = True
        idle = cycle is None or cycle.response_complete
        if idle and self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None and not self.cycle.response_started:
            self.cycle.keep_alive = False


class UvicornWorker(_UvicornWorker):
    """``uvicorn_worker.UvicornWorker`` with :class:`DrainingHttpToolsProtocol`.

    Set it with ``worker_class = "fastapi_vm_kit_runtime.worker.UvicornWorker"``. Open
    connections get gunicorn's ``graceful_timeout`` to finish when the worker stops, as gunicorn's
    master allows for a stop it asks for.
    """

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": DrainingHttpToolsProtocol}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = int(self.cfg.graceful_timeout)
