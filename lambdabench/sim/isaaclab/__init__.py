"""Isaac Lab stand-ins: local git repositories (repo, from template/) and the Isaac Lab 3 pip closure (isaaclab3/)."""
