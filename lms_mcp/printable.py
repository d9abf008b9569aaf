"""Text a caller or a model wrote that is shown back to a host must stay on its line and read as written."""

# Control characters, and the marks and overrides that reorder text (bidi) or hide in it (zero-width).
UNPRINTABLE = r"\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
