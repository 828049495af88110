"""Charts as inline SVG, drawn on the server: nothing to load, readable without JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from html import escape

from jobclock.refs import AttemptBucket

_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP = 960, 200, 40, 22, 8


def attempts_chart(buckets: Sequence[AttemptBucket], width: timedelta, title: str) -> str:
    """Stacked bars per bucket: succeeded (green) under failed (red), with a y axis and
    time labels; the ``<title>`` and ``aria-label`` say the totals for screen readers."""
    completed = sum(bucket.completed for bucket in buckets)
    failed = sum(bucket.failed for bucket in buckets)
    label = f"{title}: {completed} succeeded, {failed} failed"
    peak = max((bucket.completed + bucket.failed for bucket in buckets), default=0)
    top = _nice(peak)
    plot_w = _WIDTH - _LEFT - 4
    plot_h = _HEIGHT - _BOTTOM - _TOP
    step = plot_w / max(len(buckets), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        if (top * fraction) % 1:
            continue  # no half attempts on the axis
        y = _TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - 4}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{round(top * fraction)}</text>"
        )
    for index, bucket in enumerate(buckets):
        x = _LEFT + index * step + step * 0.12
        bar_w = max(step * 0.76, 1)
        ok_h = plot_h * bucket.completed / top if top else 0
        bad_h = plot_h * bucket.failed / top if top else 0
        base = _TOP + plot_h
        when = bucket.start.strftime("%Y-%m-%d %H:%M")
        tip = f"{when} UTC: {bucket.completed} succeeded, {bucket.failed} failed"
        parts.append(f"<g><title>{escape(tip)}</title>")
        if ok_h:
            parts.append(
                f'<rect class="ok" x="{x:.1f}" y="{base - ok_h:.1f}" '
                f'width="{bar_w:.1f}" height="{ok_h:.1f}"/>'
            )
        if bad_h:
            parts.append(
                f'<rect class="bad" x="{x:.1f}" y="{base - ok_h - bad_h:.1f}" '
                f'width="{bar_w:.1f}" height="{bad_h:.1f}"/>'
            )
        parts.append("</g>")
    for index in _label_positions(len(buckets)):
        bucket = buckets[index]
        x = _LEFT + index * step + step / 2
        text = bucket.start.strftime("%H:%M" if width < timedelta(days=1) else "%b %d")
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{_HEIGHT - 6}" text-anchor="middle">{text}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _nice(peak: int) -> int:
    """A round axis maximum at or above ``peak`` (1, 2, 5 × 10^n)."""
    if peak <= 0:
        return 1
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= peak:
                return factor * magnitude
        magnitude *= 10


def _label_positions(count: int) -> list[int]:
    if count == 0:
        return []
    every = max(1, count // 6)
    return list(range(0, count, every))
