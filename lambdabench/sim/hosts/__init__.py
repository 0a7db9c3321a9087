"""The machines behind simulated instances: one real sshd per instance (manager) and the instance image (image/)."""
