"""`isaaclab` / `python -m isaaclab` (the real entry point: isaaclab/__main__.py:6-10 of the 3.0.0 wheel)."""


def main() -> None:
    """Run the (simulated) Isaac Lab CLI."""
    from isaaclab._standin.cli import cli

    cli()


if __name__ == "__main__":
    main()
