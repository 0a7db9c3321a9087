"""The shipped playbooks, installed as the package `lambdabench._playbooks` (see setup.py)."""
