"""`export` and `sweep --export`: a sweep's artifacts, run records and report into an S3 bucket."""

from __future__ import annotations

from pathlib import Path

from lambdabench.context import Context
from lambdabench.errors import UsageError


def sweep_dir(ctx: Context, sweep_id: int) -> Path:
    return ctx.settings.home / "runs" / f"sweep-{sweep_id}"


EMBED_LIMIT = 24 * 1024 * 1024  # video bytes embedded in one HTML report; past it, videos are linked


def sweep_videos(ctx: Context, sweep_ids: list[int] | None, *, relative_to: Path | None = None) -> list:  # type: ignore[type-arg]
    """The run videos (training and playback MP4s) pulled for these sweeps, for the HTML report."""
    from lambdabench.report import video_from_file

    if sweep_ids is None:
        latest = ctx.ledger.latest_sweep()
        sweep_ids = [latest.id] if latest else []
    videos, embedded = [], 0
    for sid in sweep_ids:
        for path in sorted(sweep_dir(ctx, sid).rglob("*.mp4")):
            run = next((p.name for p in path.parents if p.name.startswith("run-")), "")
            label = f"{run}: {path.parent.name}/{path.name}" if run else path.name
            size = path.stat().st_size
            embed = embedded + size <= EMBED_LIMIT
            embedded += size if embed else 0
            videos.append(video_from_file(path, label=label, embed=embed, relative_to=relative_to))
    return videos


def write_reports(ctx: Context, sweep_id: int) -> list[Path]:
    """The sweep's report in every machine and human format, written beside its runs."""
    from lambdabench.report import build_report, render

    root = sweep_dir(ctx, sweep_id)
    root.mkdir(parents=True, exist_ok=True)
    report = build_report(ctx.ledger, [sweep_id], videos=sweep_videos(ctx, [sweep_id], relative_to=root))
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
