"""How things are shown back to a host: text on its own line, read as written; sizes as people read them."""

# Control characters, and the marks and overrides that reorder text (bidi) or hide in it (zero-width): text a
# caller or a model wrote must not carry them into what a host shows.
UNPRINTABLE = r"\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"


def human_bytes(size: int | None) -> str:
    """A byte count as people read it: 812 B, 2.1 kB, 1.4 MB, 4.7 GB ("?" when unknown)."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
