"""The file sandbox: what `chat`'s files and images (and later `delegate`'s tools) may read, and how.

The policy, in the order it is applied:

1. **Spelling first.** A path is made absolute (relative paths start at the first allowed directory),
   normalised (`.` and `..` folded away) and matched part by part against the allowed directories before
   the file system is touched. Anything outside is FILE_NOT_ALLOWED, whether or not it exists, so nothing
   is learnt about the rest of the disk. Windows UNC and device forms (`\\\\host\\share`, `\\\\?\\`,
   `\\\\.\\`) only match a directory given in that form; device names (`NUL`, `COM1`), streams (`a:b`) and
   names with trailing dots or spaces are refused.
2. **Case and Unicode as the volume sees them.** On macOS and Windows names compare case-insensitively
   (and, on macOS, NFC equal to NFD). Such a match counts only when the caller's spelling of the allowed
   directory is that very directory (same device and inode): the check is never looser than the volume.
3. **Opened beneath the directory, race-free.** The file is opened from a descriptor of the allowed
   directory: Linux's openat2 with RESOLVE_BENEATH, or one name at a time with O_NOFOLLOW. Symlinks that
   stay inside the allowed directories are followed (each target is checked again like a new path); one
   that leads outside is refused. A writer swapping a file, a directory or a symlink meanwhile cannot
   make the server read outside. On Windows the path of the open handle is checked instead.
4. **The descriptor is checked, not the name.** Type (only regular files; a FIFO or device opens without
   blocking and is refused), size and real path come from the open descriptor.
5. **Everything a call sends is counted.** Each file is capped (LMS_MCP_MAX_FILE_BYTES) and the prompt,
   files and images together are capped per call (LMS_MCP_MAX_TOTAL_FILE_BYTES). Image data URLs are
   decoded and must really be PNG, JPEG, GIF or WebP.
6. **No default directory in system places.** Without --allow-dir the working directory is allowed,
   unless it is a filesystem root or a system directory (`/usr`, `/etc`, `C:\\Windows\\System32`, ...).

Reads are blocking calls: run them in a worker thread (`anyio.to_thread`), never on the event loop.
"""

from .content import (
    CallBudget,
    checked_data_url,
    decode_text,
    image_data_url,
    image_type,
    is_data_url,
    label_file,
)
from .lexical import MACOS, POSIX, WINDOWS, PathFlavour
from .opening import Method, Target
from .policy import Entry, Opened, Root, Sandbox
from .refusals import FileRefused

__all__ = [
    "MACOS",
    "POSIX",
    "WINDOWS",
    "CallBudget",
    "Entry",
    "FileRefused",
    "Method",
    "Opened",
    "PathFlavour",
    "Root",
    "Sandbox",
    "Target",
    "checked_data_url",
    "decode_text",
    "image_data_url",
    "image_type",
    "is_data_url",
    "label_file",
]
