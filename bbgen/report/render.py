"""Pure renderers: sections -> ``report.json`` dict, ``index.html`` text, ``summary.md`` text.

Every number in the HTML and markdown is formatted from ``Section.numbers``, which is written to
``report.json`` unrounded, so the JSON holds every number the report shows.
"""
from __future__ import annotations

import html
from typing import Sequence

from .labels import format_value, format_with_unit, label_of
from .sections import JSONValue, Section

__all__ = ["report_dict", "render_html", "render_markdown", "format_value"]

_INLINE_LIST = 12
_OPEN_TABLE_ROWS = 25

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#20303f;color:#fff;padding:18px 32px}header h1{margin:0 0 4px;font-size:1.5em}
header p{margin:2px 0;opacity:.85;font-size:.92em}main{max-width:1180px;margin:0 auto;padding:8px 24px 40px}
.banner{background:#fff3cd;border:2px solid #e0a800;color:#5c4400;padding:10px 16px;margin:16px 0;
border-radius:6px;font-weight:600}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:8px 22px 18px;margin:18px 0}
h2{font-size:1.2em;border-bottom:1px solid #e5e8ec;padding-bottom:6px}
.figs{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;flex:1 1 420px;max-width:560px}
figure img{width:100%;height:auto;border:1px solid #eceff2}figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;font-size:.88em;margin:6px 0}td,th{border:1px solid #e1e4e8;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f1f3f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.hl{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}.hl div{background:#eef4fb;border-radius:6px;padding:6px 12px}
.hl b{display:block;font-size:1.1em}.mono{font-family:ui-monospace,monospace;font-size:.8em;white-space:pre;
overflow-x:auto}details summary{cursor:pointer;color:#2a5d9f}header a{color:#bfe0ff}
.read{background:#f3f7f1;border-left:4px solid #6a9f58;padding:6px 12px;margin:8px 0;font-size:.93em}
figure.wide{flex-basis:100%;max-width:100%}th small{color:#777;font-weight:normal;font-family:ui-monospace,monospace;font-size:.8em}
"""


def report_dict(title: str, meta: dict[str, JSONValue], sections: Sequence[Section],
                figure_files: dict[tuple[str, str], str]) -> dict[str, JSONValue]:
    """The ``report.json`` content.

    Parameters
    ----------
    title : str
        Report title.
    meta : dict
        JSON-plain metadata (``source``, ``synthetic``, ``bbgen_version``).
    sections : sequence of Section
        The built sections.
    figure_files : dict of (section key, figure name) to str
        Relative path of each figure's PNG.
    """
    return {
        "title": title,
        **meta,
        "sections": {
            s.key: {"title": s.title, "text": s.text, "how_to_read": s.how_to_read, "numbers": s.numbers,
                    "figures": [{"file": figure_files[(s.key, f.name)], "title": f.title, "caption": f.caption}
                                for f in s.figures]}
            for s in sections
        },
    }


def _esc(v: object) -> str:
    return html.escape(str(v), quote=True)


def _is_scalar(v: object) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _value_html(v: JSONValue) -> str:
    if _is_scalar(v):
        return _esc(format_value(v))
    if isinstance(v, dict):
        if not v:
            return "none"
        rows = "".join(f"<tr><th>{_esc(k)}</th><td class=num>{_value_html(x)}</td></tr>" for k, x in v.items())
        return f"<table>{rows}</table>"
    if isinstance(v, list):
        if not v:
            return "none"
        if all(_is_scalar(x) for x in v):
            text = ", ".join(format_value(x) for x in v)
            if len(v) <= _INLINE_LIST:
                return _esc(f"[{text}]")
            return f"<details><summary>{len(v)} values</summary><div class=mono>{_esc(text)}</div></details>"
        if all(isinstance(x, dict) for x in v):
            cols = list(dict.fromkeys(k for x in v for k in x))
            head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
            body = "".join("<tr>" + "".join(f"<td class=num>{_value_html(x.get(c))}</td>" for c in cols) + "</tr>"
                           for x in v)
            opened = " open" if len(v) <= _OPEN_TABLE_ROWS else ""
            return f"<details{opened}><summary>{len(v)} rows</summary><table><tr>{head}</tr>{body}</table></details>"
        rows = "\n".join(" ".join(format_value(y) for y in x) if isinstance(x, list) else format_value(x) for x in v)
        return f"<details><summary>{len(v)} rows</summary><div class=mono>{_esc(rows)}</div></details>"
    raise TypeError(f"report numbers must be JSON plain data, got {type(v).__name__}")


def _highlight_html(key: str, v: JSONValue) -> str:
    label = label_of(key)
    if isinstance(v, dict) and all(_is_scalar(x) for x in v.values()):
        return "".join(f"<div>{_esc(label.text)} · {_esc(label.parts.get(k, k))}"
                       f"<b>{_esc(format_with_unit(x, label.unit))}</b></div>" for k, x in v.items())
    if _is_scalar(v):
        return f"<div>{_esc(label.text)}<b>{_esc(format_with_unit(v, label.unit))}</b></div>"
    return f"<div>{_esc(label.text)}<b>{_value_html(v)}</b></div>"


def _number_row(key: str, v: JSONValue) -> str:
    label = label_of(key)
    name = _esc(key) if label.text == key else f"{_esc(label.text)} <small>{_esc(key)}</small>"
    return f"<tr><th>{name}</th><td class=num>{_value_html(v)}</td></tr>"


def _section_html(s: Section, figure_files: dict[tuple[str, str], str]) -> str:
    parts = [f'<section id="{_esc(s.key)}"><h2>{_esc(s.title)}</h2>']
    if s.how_to_read:
        parts.append(f'<p class="read"><b>How to read this.</b> {_esc(s.how_to_read)}</p>')
    if s.highlights:
        parts.append('<div class="hl">' + "".join(_highlight_html(k, s.numbers[k]) for k in s.highlights) + "</div>")
    if s.text:
        parts.append(f"<p>{_esc(s.text)}</p>")
    if s.figures:
        parts.append('<div class="figs">')
        for f in s.figures:
            src = figure_files[(s.key, f.name)]
            cap = _esc(f.title + (f" — {f.caption}" if f.caption else ""))
            wide = ' class="wide"' if f.wide else ""
            parts.append(f'<figure{wide}><img src="{_esc(src)}" alt="{_esc(f.title)}"><figcaption>{cap}</figcaption></figure>')
        parts.append("</div>")
    rows = "".join(_number_row(k, v) for k, v in s.numbers.items())
    parts.append(f"<details><summary>All numbers ({len(s.numbers)}; also in "
                 f'<a href="report.json">report.json</a>)</summary><table>{rows}</table></details></section>')
    return "".join(parts)


def render_html(title: str, meta: dict[str, JSONValue], sections: Sequence[Section],
                figure_files: dict[tuple[str, str], str]) -> str:
    """A self-contained page (inline CSS, no scripts, no network); images are relative PNG paths.

    Parameters
    ----------
    title : str
        Page title.
    meta, sections, figure_files
        As for :func:`report_dict`.
    """
    banner = ""
    if meta.get("synthetic"):
        banner = ('<div class="banner">Synthetic data: this report profiles the embedded synthetic default '
                  "dataset (bbgen.datasets.synthetic), not real annotations. Pass a dataset path to profile "
                  "your own data.</div>")
    nav = " · ".join(f'<a href="#{_esc(s.key)}">{_esc(s.title)}</a>' for s in sections)
    body = "".join(_section_html(s, figure_files) for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{_esc(title)}</title><style>{_CSS}</style></head><body>'
        f"<header><h1>{_esc(title)}</h1><p>source: {_esc(meta.get('source', ''))}</p>"
        f"<p>bbgen {_esc(meta.get('bbgen_version', ''))} · every number: <a href=\"report.json\">report.json</a>"
        " · short summary: <a href=\"summary.md\">summary.md</a></p></header>"
        f"<main>{banner}<p>{nav}</p>{body}</main></body></html>\n"
    )


def _md_value(v: JSONValue, unit: str = "") -> str:
    if isinstance(v, dict):
        if not v:
            return "none"
        return ", ".join(f"{k} {_md_value(x, unit)}" for k, x in v.items())
    if isinstance(v, list):
        if len(v) <= _INLINE_LIST and all(_is_scalar(x) for x in v):
            return "[" + ", ".join(format_value(x) for x in v) + "]"
        return f"{len(v)} entries (see report.json)"
    return format_with_unit(v, unit)


def render_markdown(title: str, meta: dict[str, JSONValue], sections: Sequence[Section],
                    figure_files: dict[tuple[str, str], str]) -> str:
    """``summary.md``: the scalar numbers of every section and links to the figures.

    Parameters
    ----------
    title : str
        Report title.
    meta, sections, figure_files
        As for :func:`report_dict`.
    """
    lines = [f"# {title}", "", f"Source: `{meta.get('source', '')}`", "",
             "Every number: [report.json](report.json); figures and explanations: [index.html](index.html).", ""]
    if meta.get("synthetic"):
        lines += ["> **Synthetic data** — the embedded default dataset, not real annotations.", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        if s.how_to_read:
            lines += [f"*How to read this.* {s.how_to_read}", ""]
        if s.text:
            lines += [s.text, ""]
        lines += ["| quantity | value |", "|---|---|"]
        for k, v in s.numbers.items():
            if isinstance(v, list) and len(v) > _INLINE_LIST:
                continue
            label = label_of(k)
            name = k if label.text == k else f"{label.text} (`{k}`)"
            lines.append(f"| {name} | {_md_value(v, label.unit)} |")
        lines.append("")
        lines += [f"![{f.title}]({figure_files[(s.key, f.name)]})" for f in s.figures]
        if s.figures:
            lines.append("")
    return "\n".join(lines)
