"""The sandbox: the mechanism API, the static gate, the in-sandbox harness, backends, runner.

:mod:`sandbox.api` is what generated code imports; it must import without the rest of the
project, inside the sandbox image.
"""
