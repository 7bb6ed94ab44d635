"""Test-session set-up: the code cache goes to a temporary directory, never the user's."""
import os
import tempfile

_cache = tempfile.TemporaryDirectory(prefix="pyjion-test-cache-")
os.environ["PYJION_CACHE_DIR"] = _cache.name  # for the Python processes the tests start
# enable() installs the hook at once, as the tests expect; the start delay has tests of its own.
os.environ["PYJION_START_DELAY"] = "0"

import pyjion  # noqa: E402

pyjion.config(cache_dir=_cache.name)
