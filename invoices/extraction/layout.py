"""Page layout model shared by the text layer and OCR: words -> lines -> segments.

Coordinates are in the unit of the source (PDF points for the text layer, pixels for OCR);
every threshold is relative to the text height so both work the same. ``top`` grows downwards.
A *segment* is a run of words on one line separated by normal spaces; a wide gap (a table
column, a label/value gap) starts a new segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    conf: float = 1.0  # OCR word confidence 0-1; 1.0 for the text layer

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 0.1)


@dataclass
class Segment:
    words: list[Word]
    page: int
    line_no: int = 0  # index into Document.lines
    text: str = ""
    x0: float = 0.0
    x1: float = 0.0
    top: float = 0.0
    bottom: float = 0.0

    def __post_init__(self) -> None:
        self.text = " ".join(w.text for w in self.words)
        self.x0 = min(w.x0 for w in self.words)
        self.x1 = max(w.x1 for w in self.words)
        self.top = min(w.top for w in self.words)
        self.bottom = max(w.bottom for w in self.words)

    @property
    def height(self) -> float:
        return median(w.height for w in self.words)

    @property
    def conf(self) -> float:
        return min(w.conf for w in self.words)

    def overlaps_x(self, other: Segment, slack: float = 0.0) -> bool:
        return self.x0 - slack < other.x1 and other.x0 - slack < self.x1


@dataclass
class Line:
    segments: list[Segment]
    page: int
    index: int
    top: float
    bottom: float

    @property
    def text(self) -> str:
        return "   ".join(s.text for s in self.segments)

    @property
    def height(self) -> float:
        return median(s.height for s in self.segments)


@dataclass
class Page:
    number: int  # 0-based
    width: float
    height: float
    lines: list[Line] = field(default_factory=list)


@dataclass
class Document:
    pages: list[Page]
    lines: list[Line]  # all pages, reading order (page, top)
    source: str  # "text-layer" | "ocr"

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def word_count(self) -> int:
        return sum(len(s.words) for line in self.lines for s in line.segments)

    def page_of(self, line: Line) -> Page:
        return self.pages[line.page]


def _group_lines(words: list[Word]) -> list[list[Word]]:
    """Cluster words into text lines by vertical overlap of their centres."""
    rows: list[list[Word]] = []
    bounds: list[tuple[float, float]] = []
    for w in sorted(words, key=lambda w: (w.top + w.bottom) / 2):
        centre = (w.top + w.bottom) / 2
        if rows:
            top, bottom = bounds[-1]
            slack = 0.15 * (bottom - top)
            if top - slack <= centre <= bottom + slack:
                rows[-1].append(w)
                # keep the line band from growing with tall glyphs
                bounds[-1] = (min(top, w.top) if w.height < 2 * (bottom - top) else top, bottom)
                continue
        rows.append([w])
        bounds.append((w.top, w.bottom))
    return rows


def build_document(
    pages_words: list[tuple[float, float, list[Word]]], source: str, gap_factor: float = 0.9
) -> Document:
    """Build the layout from per-page ``(width, height, words)``.

    ``gap_factor``: a horizontal gap wider than this many text heights starts a new segment.
    """
    pages: list[Page] = []
    all_lines: list[Line] = []
    for page_no, (width, height, words) in enumerate(pages_words):
        page = Page(page_no, width, height)
        words = [w for w in words if w.text.strip()]
        if source == "ocr" and words:
            # OCR noise from rules, boxes and logos: very tall or unreadable non-words
            typical = median(w.height for w in words)
            words = [
                w
                for w in words
                if w.height <= 2.5 * typical and (w.conf >= 0.3 or any(c.isalnum() for c in w.text))
            ]
            if not words:
                pages.append(page)
                continue
        for row in _group_lines(words):
            row.sort(key=lambda w: w.x0)
            h = median(w.height for w in row)
            segments: list[list[Word]] = [[row[0]]]
            for prev, w in zip(row, row[1:], strict=False):
                if w.x0 - prev.x1 > gap_factor * h:
                    segments.append([w])
                else:
                    segments[-1].append(w)
            idx = len(all_lines)
            segs = [Segment(ws, page_no, idx) for ws in segments]
            line = Line(segs, page_no, idx, min(s.top for s in segs), max(s.bottom for s in segs))
            page.lines.append(line)
            all_lines.append(line)
        pages.append(page)
    return Document(pages, all_lines, source)
