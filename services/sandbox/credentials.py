"""The trainer's credentials sheet: CSV for a spreadsheet, HTML to print (one slip per account,
to cut and hand out), and PDF when WeasyPrint is installed.

The sheet is the only place passwords are written; the files are readable by their owner only.
"""
from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path

from services.cells import csv_cell
from services.sandbox.layout import Sandbox

COLUMNS = ("username", "password", "kind", "role", "institution", "for", "address", "start_page", "expires")

_STYLE = """
@page { size: A4; margin: 12mm; }
body { font-family: "DejaVu Sans", "Noto Sans", "Noto Naskh Arabic", Arial, sans-serif; font-size: 10pt; }
h1 { font-size: 14pt; margin: 0 0 2mm; }
p.meta { margin: 0 0 5mm; color: #333; }
/* Inline blocks and tables, not flex or grid: WeasyPrint lays them out ten times faster. */
.slip { display: inline-block; vertical-align: top; width: 88mm; box-sizing: border-box; border: 1px dashed #777;
        padding: 4mm; margin: 0 2mm 3mm 0; page-break-inside: avoid; break-inside: avoid; }
.slip h2 { font-size: 11pt; margin: 0 0 2mm; }
.slip table { border-collapse: collapse; }
.slip th { color: #555; font-weight: normal; text-align: start; padding: 0.5mm 3mm 0.5mm 0; width: 22mm; }
.slip td { font-family: "DejaVu Sans Mono", monospace; word-break: break-all; padding: 0.5mm 0; }
.slip.trainer, .slip.roleplay { border-style: solid; }
"""


def rows(sb: Sandbox, passwords: dict[str, str]) -> list[dict]:
    out = []
    for a in sb.accounts:
        out.append({
            "username": a.username, "password": passwords[a.username], "kind": a.kind, "role": a.role,
            "institution": a.institution, "for": a.label, "address": sb.url,
            # Trainees start from their exercises; trainers from their progress page.
            "start_page": sb.url + ("progress" if a.kind == "trainer" else "exercises"),
            "expires": sb.expires,
        })
    return out


def _private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def to_csv(records: list[dict]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    # Usernames, labels and addresses come from the trainer's input: they stay text (services.cells).
    writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in records)
    return buf.getvalue().encode("utf-8-sig")


def to_html(sb: Sandbox, records: list[dict]) -> str:
    e = html.escape
    slips = []
    for r in records:
        slips.append(f"""<div class="slip {e(r['kind'])}">
<h2>Marsad · {e(sb.name)} · {e(r['for'])}</h2>
<table>
<tr><th scope="row">Address</th><td>{e(r['start_page'])}</td></tr>
<tr><th scope="row">Username</th><td>{e(r['username'])}</td></tr>
<tr><th scope="row">Password</th><td>{e(r['password'])}</td></tr>
<tr><th scope="row">Role</th><td>{e(r['role'])} · {e(r['institution'])}</td></tr>
<tr><th scope="row">Until</th><td>{e(r['expires'])}</td></tr>
</table></div>""")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Marsad sandbox {e(sb.name)}: credentials</title>
<style>{_STYLE}</style></head>
<body>
<h1>Training sandbox {e(sb.name)} — credentials</h1>
<p class="meta">{len(records)} accounts · {e(sb.institution)} · portal {e(sb.url)} · expires {e(sb.expires)} ·
keep this sheet private; cut along the dashed lines and hand each trainee their slip.</p>
<div class="slips">
{''.join(slips)}
</div>
</body></html>
"""


def pdf_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except Exception:  # noqa: BLE001 - missing, or its system libraries (Pango) are
        return False
    return True


def write_sheet(sb: Sandbox, passwords: dict[str, str], *, pdf: bool = True) -> list[Path]:
    """credentials.csv and .html (and .pdf when asked and WeasyPrint works); returns the paths."""
    records = rows(sb, passwords)
    written = []
    csv_path, html_path = sb.folder / "credentials.csv", sb.folder / "credentials.html"
    _private(csv_path, to_csv(records))
    page = to_html(sb, records)
    _private(html_path, page.encode("utf-8"))
    written += [csv_path, html_path]
    if pdf and pdf_available():
        from weasyprint import HTML

        pdf_path = sb.folder / "credentials.pdf"
        _private(pdf_path, HTML(string=page).write_pdf())
        written.append(pdf_path)
    return written
