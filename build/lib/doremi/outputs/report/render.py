"""The report rendered: sections of (title, parts), where a part is a paragraph, a table (header, rows) or an
image dict, as Markdown and as one self-contained HTML page."""

from __future__ import annotations

import html


def md_text(text: str) -> str:
    """Text that may hold data (domain and source names) made inert in Markdown: no line breaks (a new
    line could start a heading), no links or images (`[`, `](`), as the HTML report escapes it."""
    text = " ".join(str(text).splitlines())
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace("<", "&lt;")


def md_cell(text: str) -> str:
    return md_text(text).replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(map(md_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(md_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.replace('**', ''))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_markdown(title: str, parts: list[tuple[str, list]]) -> str:
    lines = [f"# {md_text(title)}", ""]
    for heading, items in parts:
        lines += [f"## {md_text(heading)}", ""]
        for item in items:
            if isinstance(item, str):
                lines.append(md_text(item))
            elif isinstance(item, dict):
                lines.append(f"![{md_text(item['alt'])}]({item['src']})")
            else:
                lines.append(_md_table(*item))
            lines.append("")
    return "\n".join(lines)


def to_html(title: str, parts: list[tuple[str, list]]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for heading, items in parts:
        body.append(f"<h2>{html.escape(heading)}</h2>")
        for item in items:
            if isinstance(item, str):
                text = html.escape(item)
                while "**" in text:
                    text = text.replace("**", "<b>", 1).replace("**", "</b>", 1)
                body.append(f"<p>{text}</p>")
            elif isinstance(item, dict):
                body.append(f'<img src="{item["src"]}" alt="{html.escape(item["alt"])}">')
            else:
                body.append(_html_table(*item))
    style = "body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}img{max-width:100%}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"
