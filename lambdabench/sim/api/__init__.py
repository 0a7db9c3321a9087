"""The simulated Lambda Cloud API: state and rules (core), instance types (catalog), scenarios, WSGI app, HTTP server."""
