"""How to read a leaderboard or report: what C@1, C@5 and V@1 mean, each benchmark's chance levels (saying when C@5
is trivial), the protocol of the runs shown (from the records' fields) and the author's notes, as Markdown or HTML."""

import html

from avnoisebench.report.entries import BenchmarkTable, Protocol, markdown_row

METRIC_NOTES = {
    "C@1": "top-1 accuracy (%) over every (test clip, view) prediction: each of a test video's views (10 uniformly "
    "spaced clips) counts on its own",
    "C@5": "top-5 accuracy (%) over the same predictions: the true class is among the 5 highest scores (100 by "
    "construction when the benchmark has 5 classes or fewer)",
    "V@1": "top-1 accuracy (%) of each test video's mean softmax over its views",
}
CHANCE_NOTE = (
    "Chance level: guessing uniformly among a benchmark's K classes scores 100/K on C@1 and V@1 and 100·min(5, K)/K "
    "on C@5."
)
PROTOCOL_HEADER = ["benchmark", "model", "initial weights", "epochs", "lr", "batch size", "track", "rows"]


def chance_text(classes: int | None) -> str:
    """A benchmark's chance levels, saying when C@5 is trivial (K ≤ 5); a note when K is unknown."""
    if classes is None:
        return "Chance: 100/K for C@1 and V@1 (K, the number of classes, is not known from these records)"
    text = f"K = {classes} classes: chance is {100 / classes:.2f} for C@1 and V@1"
    if classes <= 5:
        return f"{text}; C@5 is trivial here (100 for any model: with K ≤ 5 the true class is always in the top 5)"
    return f"{text}, {500 / classes:.2f} for C@5"


def protocols(tables: list[BenchmarkTable]) -> list[tuple[str, Protocol, int]]:
    """The training protocols of the measured rows shown: (benchmark build, protocol, number of rows), in order."""
    found: dict[tuple[str, Protocol], int] = {}
    for table in tables:
        for entry in table.entries:
            if entry.protocol is not None:
                key = (table.title, entry.protocol)
                found[key] = found.get(key, 0) + 1
    return [(title, protocol, rows) for (title, protocol), rows in found.items()]


def protocol_cells(title: str, protocol: Protocol, rows: int) -> list[str]:
    """A protocol as the cells of PROTOCOL_HEADER."""
    values = (protocol.model, protocol.init, protocol.epochs, protocol.lr, protocol.batch_size, protocol.track)
    shown = ["" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return [title, *shown, str(rows)]


def _chances(tables: list[BenchmarkTable]) -> list[tuple[str, str]]:
    return [(table.title, chance_text(table.classes)) for table in tables]


def reading_markdown(tables: list[BenchmarkTable], notes: str = "") -> list[str]:
    """Markdown sections: how to read the numbers (metrics, chance per benchmark), the author's `notes`, the protocol
    of the measured runs."""
    metrics = "\n".join(f"- **{name}**: {text}." for name, text in METRIC_NOTES.items())
    chances = "\n".join(f"- {html.escape(title, quote=False)}: {text}." for title, text in _chances(tables))
    parts = ["## How to read the numbers", f"{metrics}\n\n{CHANCE_NOTE}\n\n{chances}".rstrip()]
    parts += [notes.strip()] if notes.strip() else []
    found = protocols(tables)
    if found:
        rule = "|" + "---|" * (len(PROTOCOL_HEADER) - 1) + "---:|"
        rows = [markdown_row(protocol_cells(*p)) for p in found]
        parts += ["## Protocol of the runs shown", "\n".join([markdown_row(PROTOCOL_HEADER), rule, *rows])]
    return parts


def notes_html(notes: str) -> str:
    """The author's Markdown notes as HTML (raw HTML in them is shown as text)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(notes)


def reading_html(tables: list[BenchmarkTable], notes: str = "") -> list[str]:
    """HTML sections: how to read the numbers (metrics, chance per benchmark), the author's `notes` (Markdown), the
    protocol of the measured runs."""
    metrics = "".join(f"<dt>{name}</dt><dd>{html.escape(text)}.</dd>" for name, text in METRIC_NOTES.items())
    chances = "".join(f"<li>{html.escape(title)}: {html.escape(text)}.</li>" for title, text in _chances(tables))
    body = ["<h2>How to read the numbers</h2>", f"<dl>{metrics}</dl>", f"<p>{html.escape(CHANCE_NOTE)}</p>"]
    body += [f"<ul>{chances}</ul>"] if chances else []
    body += [f'<section class="notes">\n{notes_html(notes)}</section>'] if notes.strip() else []
    found = protocols(tables)
    if found:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in PROTOCOL_HEADER)
        rows = "\n".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in protocol_cells(*p)) + "</tr>" for p in found
        )
        body += ["<h2>Protocol of the runs shown</h2>", f"<table>\n<tr>{head}</tr>\n{rows}\n</table>"]
    return body
