"""WSGI middleware that runs an application under the JIT, as Pyjion's ``pyjion.wsgi``."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import pyjion


class PyjionWsgiMiddleware:
    """Wrap a WSGI application: ``app = PyjionWsgiMiddleware(app)``.

    The JIT is switched on by the first request, in the process that serves it (a pre-forking server's
    worker, not its master), and stays on: it is interpreter-wide, and switching it per request would
    race between the requests of a threaded server.
    """

    def __init__(self, application: Callable[..., Iterable[bytes]]) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        pyjion.enable()
        return self.application(environ, start_response)
