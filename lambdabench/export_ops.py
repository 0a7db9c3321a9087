"""`export` and `sweep --export`: a sweep's artifacts, run records and report into an S3 bucket."""

from __future__ import annotations

from pathlib import Path

from lambdabench.context import Context
from lambdabench.errors import UsageError


def sweep_dir(ctx: Context, sweep_id: int) -> Path:
    return ctx.settings.home / "runs" / f"sweep-{sweep_id}"


def write_reports(ctx: Context, sweep_id: int) -> list[Path]:
    """The sweep's report in every machine and human format, written beside its runs."""
    from lambdabench.report import build_report, render

    root = sweep_dir(ctx, sweep_id)
    root.mkdir(parents=True, exist_ok=True)
    report = build_report(ctx.ledger, [sweep_id])
    out = []
    for fmt, ext in (("json", "json"), ("md", "md"), ("html", "html"), ("csv", "csv")):
        path = root / f"report.{ext}"
        path.write_text(render(report, fmt))
        out.append(path)
    return out


def export_sweep(ctx: Context, sweep_id: int, uri: str, *, endpoint_url: str | None = None) -> tuple[int, int, int]:
    """Upload everything under the sweep's folder; returns (uploaded, skipped, bytes)."""
    from lambdabench.export import export_to_s3, parse_s3_uri

    parse_s3_uri(uri)
    ctx.ledger.sweep(sweep_id)  # a LedgerError if there is no such sweep
    root = sweep_dir(ctx, sweep_id)
    write_reports(ctx, sweep_id)
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    if not files:
        raise UsageError(f"sweep {sweep_id} has nothing to export", "Run a sweep first.")
    s = ctx.settings
    result = export_to_s3(
        root,
        files,
        uri,
        endpoint_url=endpoint_url or s.get("LAMBDABENCH_S3_ENDPOINT_URL"),
        access_key_id=s.get("LAMBDABENCH_S3_ACCESS_KEY_ID"),
        secret_access_key=s.get("LAMBDABENCH_S3_SECRET_ACCESS_KEY"),
        region=s.get("LAMBDABENCH_S3_REGION"),
        progress=None,
    )
    ctx.notify(f"export: {len(result.uploaded)} uploaded, {len(result.skipped)} already there, "
               f"{result.bytes:,} bytes to {uri}")
    return len(result.uploaded), len(result.skipped), result.bytes
