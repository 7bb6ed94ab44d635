"""Test-session set-up: the code cache goes to a temporary directory, never the user's."""
import os
import tempfile

_cache = tempfile.TemporaryDirectory(prefix="pyjion-test-cache-")
os.environ["PYJION_CACHE_DIR"] = _cache.name  # for the Python processes the tests start

import pyjion  # noqa: E402

pyjion.config(cache_dir=_cache.name)
