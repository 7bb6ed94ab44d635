"""Enables the JIT: imported at interpreter start by the ``pyjion.pth`` file the package installs into
site-packages, when PYJION is 1/true/on/yes, so that programs which start Python processes of their
own (pytest, pyperf workers, gunicorn) run them under the JIT too."""
import pyjion

pyjion.enable()
