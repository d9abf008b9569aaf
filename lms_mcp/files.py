"""The file sandbox under the names the server was first built with (see `lms_mcp.sandbox`)."""

from .sandbox import FileRefused, Sandbox, decode_text, image_data_url, label_file

FilePolicy = Sandbox

__all__ = ["FilePolicy", "FileRefused", "decode_text", "image_data_url", "label_file"]
