"""The Lambda Cloud simulator, in three rooms behind one door (`lambdabench.simulate`).

api/ the HTTP API (core state and rules, catalog, scenarios, WSGI app, server) · hosts/ one real sshd
per instance and the instance image · isaaclab/ the Isaac Lab stand-ins (git repositories, the 3.x closure).
"""
