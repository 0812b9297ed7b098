"""The Lava worker: scripts that run under the Python 3.10 interpreter of ``.venv-lava``.

Nothing here is imported by the main package. The launcher
(:mod:`biosynapse_verify.simulate.lava_launcher`) starts ``worker.py`` from this
folder as a script, so the worker imports only the standard library, numpy and
lava-nc, plus its sibling module ``processes.py``.
"""
