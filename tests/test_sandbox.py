"""The file sandbox: lexical rules for every path flavour, then what the real server reads, refuses and sends."""

from __future__ import annotations

import base64
import ctypes
import errno
import json
import os
import threading
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from lms_mcp.sandbox import MACOS, POSIX, WINDOWS, FileRefused, Opened, PathFlavour, Sandbox, opening, policy
from lms_mcp.sandbox.lexical import LexicalRefusal, absolute, beneath, check_names, is_system_dir, system_dirs
from lms_mcp.sandbox.opening import Method
from lms_mcp.sandbox.refusals import permission_advice
from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator
from tests.support import GEMMA as MODEL  # loaded, and a vision model
from tests.support import PNG, chat_bodies, child_env, lms_mcp_command, text_of, wait_for

pytestmark = pytest.mark.anyio

OUTSIDE = "OUTSIDE-SECRET-41c2"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 24
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"/>'
METHODS: list[Method] = ["openat2", "walk", "name"]


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def nothing_outside_sent(sim: Simulator) -> bool:
    return OUTSIDE not in json.dumps([r.body for r in sim.requests])


# --- the lexical check: pure, for every flavour --------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "base", "flavour", "expected"),
    [
        ("notes.txt", "/p", POSIX, "/p/notes.txt"),
        ("src/../notes.txt", "/p", POSIX, "/p/notes.txt"),
        ("../../etc/passwd", "/p", POSIX, "/etc/passwd"),
        ("/a/./b/../c/", "/p", POSIX, "/a/c"),
        ("src/a.py", "C:\\p", WINDOWS, "C:\\p\\src\\a.py"),
        ("C:/p/x/../y", "C:\\p", WINDOWS, "C:\\p\\y"),
        ("\\notes.txt", "C:\\p", WINDOWS, "C:\\notes.txt"),
        ("//host/share/x", "C:\\p", WINDOWS, "\\\\host\\share\\x"),
        ("D:\\x", "C:\\p", WINDOWS, "D:\\x"),
        ("C:notes.txt", "C:\\p", WINDOWS, "C:\\p\\notes.txt"),
    ],
)
def test_a_path_is_made_absolute_and_normalised_without_the_file_system(
    given: str, base: str, flavour: PathFlavour, expected: str
) -> None:
    assert absolute(given, base, flavour) == expected


@pytest.mark.parametrize(
    ("given", "flavour", "kind"),
    [("D:notes.txt", WINDOWS, "not_allowed"), ("notes\x00.txt", POSIX, "unreadable")],
)
def test_drive_relative_paths_and_nul_characters_are_refused(given: str, flavour: PathFlavour, kind: str) -> None:
    with pytest.raises(LexicalRefusal) as refusal:
        absolute(given, "C:\\p" if flavour is WINDOWS else "/p", flavour)
    assert refusal.value.kind == kind


@pytest.mark.parametrize(
    ("path", "root", "flavour", "parts", "exact"),
    [
        ("/p/src/a.py", "/p", POSIX, ("src", "a.py"), True),
        ("/p", "/p", POSIX, (), True),
        ("/p2/a.py", "/p", POSIX, None, None),
        ("/P/a.py", "/p", POSIX, None, None),
        ("/users/me/proj/a.txt", "/Users/me/Proj", MACOS, ("a.txt",), False),
        (unicodedata.normalize("NFC", "/p/Café/x"), unicodedata.normalize("NFD", "/p/Café"), MACOS, ("x",), False),
        (unicodedata.normalize("NFC", "/p/Café/x"), unicodedata.normalize("NFD", "/p/Café"), POSIX, None, None),
        ("c:\\users\\me\\proj\\a.txt", "C:\\Users\\Me\\Proj", WINDOWS, ("a.txt",), False),
        ("C:\\Users\\Me\\Proj\\a.txt", "C:\\Users\\Me\\Proj", WINDOWS, ("a.txt",), True),
        ("C:\\Users\\Me\\Project\\a.txt", "C:\\Users\\Me\\Proj", WINDOWS, None, None),
        # UNC and device forms only match an allowed directory given in that same form.
        ("\\\\host\\share\\p\\a.txt", "C:\\p", WINDOWS, None, None),
        ("\\\\?\\C:\\p\\a.txt", "C:\\p", WINDOWS, None, None),
        ("\\\\.\\C:\\p\\a.txt", "C:\\p", WINDOWS, None, None),
        ("\\\\.\\pipe\\p", "C:\\p", WINDOWS, None, None),
        ("\\\\?\\C:\\p\\a.txt", "\\\\?\\C:\\p", WINDOWS, ("a.txt",), True),
        ("\\\\host\\share\\p\\a.txt", "\\\\HOST\\share\\p", WINDOWS, ("a.txt",), False),
    ],
)
def test_a_path_matches_an_allowed_directory_part_by_part_the_volumes_way(
    path: str, root: str, flavour: PathFlavour, parts: tuple[str, ...] | None, exact: bool | None
) -> None:
    found = beneath(path, root, flavour)
    assert (found.parts, found.exact) == (parts, exact) if found else parts is None


@pytest.mark.parametrize("name", ["NUL", "nul.txt", "COM1", "con .log", "CONOUT$", "a.txt:secret", "notes.", "x "])
def test_windows_devices_streams_and_trailing_dots_are_refused(name: str) -> None:
    with pytest.raises(LexicalRefusal):
        check_names(["src", name], WINDOWS)
    check_names(["src", name.replace(":", "_").rstrip(". ") or "x"], POSIX)


@pytest.mark.parametrize(
    ("path", "system"),
    [
        ("C:\\Windows\\System32", True),
        ("c:\\windows\\system32\\drivers", True),
        ("C:\\Program Files\\App", True),
        ("C:\\Program Files (x86)", True),
        ("C:\\ProgramData\\Vendor", True),
        ("C:\\", True),
        ("D:\\", True),
        ("\\\\host\\share", True),
        ("C:\\Users", True),
        ("C:\\Users\\me\\proj", False),
        ("D:\\work\\proj", False),
    ],
)
def test_windows_system_directories_give_no_default_folder(path: str, system: bool) -> None:
    assert is_system_dir(path, WINDOWS, *system_dirs(WINDOWS, {})) is system


def test_windows_system_directories_follow_the_environment() -> None:
    dirs = system_dirs(WINDOWS, {"SystemRoot": "E:\\WinNT", "SystemDrive": "E:"})
    assert is_system_dir("E:\\WinNT\\System32", WINDOWS, *dirs)
    assert is_system_dir("E:\\Users", WINDOWS, *dirs)
    assert not is_system_dir("C:\\Windows\\System32", WINDOWS, *dirs)


@pytest.mark.parametrize(
    ("path", "system"),
    [
        ("/", True),
        ("/usr", True),
        ("/usr/bin", True),
        ("/usr/share/doc", True),
        ("/etc/nginx", True),
        ("/System/Library", True),
        ("/Library/Application Support", True),
        ("/home", True),
        ("/Users", True),
        ("/tmp", True),
        ("/usr/local/src/app", False),
        ("/home/me/proj", False),
        ("/Users/me/Proj", False),
        ("/tmp/build", False),
    ],
)
def test_posix_system_directories_give_no_default_folder(path: str, system: bool) -> None:
    assert is_system_dir(path, POSIX, *system_dirs(POSIX, {})) is system


def test_a_server_started_in_a_windows_system_directory_gets_no_folder() -> None:
    sandbox = Sandbox.create((), 100, 100, cwd="C:\\Windows\\System32", flavour=WINDOWS, environ={})
    assert sandbox.roots == ()
    with pytest.raises(FileRefused) as refusal:
        sandbox.locate("C:\\Windows\\System32\\config\\SAM")
    assert refusal.value.kind == "not_allowed" and "C:\\Windows\\System32" in str(refusal.value)


def test_permission_advice_names_what_to_do_on_each_system() -> None:
    assert "Files and Folders" in permission_advice("darwin") and "Full Disk Access" in permission_advice("darwin")
    assert "another program" in permission_advice("win32")
    assert "permissions" in permission_advice("linux")


# --- the server: fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "Proj"
    (root / "src").mkdir(parents=True)
    (root / "notes.txt").write_text("inside\n", encoding="utf-8")
    (root / "src" / "app.py").write_text("print('inside')\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text(OUTSIDE, encoding="utf-8")
    return root


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Method:
    """Each way of opening files, forced (the best one is chosen by default)."""
    chosen: Method = request.param
    monkeypatch.setattr(policy, "default_method", lambda: chosen)
    return chosen


def serving(settings: Settings, *dirs: Path, **changes: Any) -> Client:
    return Client(build_server(replace(settings, allowed_dirs=tuple(map(str, dirs)), **changes)))


@pytest.fixture
async def client(settings: Settings, project: Path) -> AsyncIterator[Client]:
    async with serving(settings, project) as connected:
        yield connected


async def chat(client: Client, **arguments: Any) -> tuple[bool, str]:
    result = await client.call_tool("chat", {"prompt": "Go.", "model": MODEL, **arguments})
    return bool(result.is_error), text_of(result)


# --- 1. symlinks: inside ones work, outward ones never, whichever way files are opened ---------------------------


async def test_symlinks_that_stay_inside_work_and_outward_ones_are_refused(
    settings: Settings, sim: Simulator, project: Path, tmp_path: Path, method: Method
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "shared.md").write_text("shared\n", encoding="utf-8")
    (project / "abs_in").symlink_to(project / "notes.txt")  # absolute: openat2 hands it to the walk
    (project / "rel_in").symlink_to("src/../notes.txt")
    (project / "srcdir").symlink_to("src")
    (project / "to_other").symlink_to(other / "shared.md")  # into another allowed directory
    (project / "out").symlink_to(tmp_path / "secret.txt")
    (project / "out_rel").symlink_to("../secret.txt")
    (project / "outdir").symlink_to(tmp_path)
    (project / "via_out").symlink_to(tmp_path / "Proj" / ".." / "Proj" / "notes.txt")
    async with serving(settings, project, other) as client:
        for path in ["abs_in", "rel_in", "srcdir/app.py", "to_other"]:
            failed, text = await chat(client, files=[path])
            assert not failed, (path, text)
        for path in ["out", "out_rel", "outdir/secret.txt", "outdir/Proj/notes.txt/../../secret.txt"]:
            failed, text = await chat(client, files=[path])
            assert failed and text.startswith("FILE_NOT_ALLOWED: "), (path, text)
        failed, _text = await chat(client, files=["via_out"])
        assert not failed  # its target is spelled through `..` but lies inside
    labels = [item["content"].split("\n", 1)[0] for body in chat_bodies(sim) for item in body["input"][:-1]]
    assert labels == [
        f'<file path="{project / "notes.txt"}">',
        f'<file path="{project / "notes.txt"}">',
        f'<file path="{project / "src" / "app.py"}">',
        f'<file path="{other / "shared.md"}">',
        f'<file path="{project / "notes.txt"}">',
    ]
    assert nothing_outside_sent(sim)


async def test_a_symlink_loop_is_unreadable_and_a_dangling_link_out_is_not_allowed(
    client: Client, sim: Simulator, project: Path, method: Method
) -> None:
    (project / "loop_a").symlink_to("loop_b")
    (project / "loop_b").symlink_to("loop_a")
    (project / "dangling_out").symlink_to("/nonexistent-lms-mcp/x")
    (project / "dangling_in").symlink_to("missing.txt")
    expected = {"loop_a": "FILE_UNREADABLE", "dangling_out": "FILE_NOT_ALLOWED", "dangling_in": "FILE_NOT_FOUND"}
    for path, code in expected.items():
        failed, text = await chat(client, files=[path])
        assert failed and text.startswith(f"{code}: "), (path, text)
    assert chat_bodies(sim) == []


# --- 2. outside is outside, whether or not it exists ---------------------------------------------------------


async def test_outside_paths_get_the_same_answer_whether_or_not_they_exist(
    client: Client, sim: Simulator, project: Path, tmp_path: Path
) -> None:
    (project / "link_to_missing").symlink_to(tmp_path / "missing.txt")
    (project / "link_to_secret").symlink_to(tmp_path / "secret.txt")
    pairs = [
        ("/etc/shadow", "/nonexistent-lms-mcp/shadow"),
        ("../secret.txt", "../missing.txt"),
        (str(tmp_path / "secret.txt"), str(tmp_path / "missing.txt")),
        ("link_to_secret", "link_to_missing"),
    ]
    for existing, missing in pairs:
        texts = [(await chat(client, files=[path]))[1].replace(repr(path), "PATH") for path in (existing, missing)]
        assert texts[0] == texts[1] and texts[0].startswith("FILE_NOT_ALLOWED: PATH is outside"), texts
    assert chat_bodies(sim) == []


@pytest.mark.parametrize("start", ["/", "/usr/bin", "/etc"])
async def test_started_in_a_system_directory_no_directory_is_readable(
    settings: Settings, sim: Simulator, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    monkeypatch.chdir(start)
    async with Client(build_server(settings)) as client:
        failed, text = await chat(client, files=["hostname" if start == "/etc" else "/etc/hostname"])
    assert failed and text.startswith(f"FILE_NOT_ALLOWED: No directory may be read: the server was started in {start}")
    assert "--allow-dir" in text
    assert chat_bodies(sim) == []


# --- 4. case and Unicode: as the volume compares, never looser --------------------------------------------------


@pytest.fixture
def macos_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compare names the way macOS volumes do (case- and normalisation-insensitive), on this machine."""

    def macos(_platform: str) -> PathFlavour:
        return MACOS

    monkeypatch.setattr(policy, "flavour_of", macos)


def spelled(project: Path, name: str) -> Path:
    return project.parent / name


async def test_another_case_of_the_allowed_directory_is_refused_on_a_case_sensitive_volume(
    client: Client, sim: Simulator, project: Path
) -> None:
    other = spelled(project, "proj")
    other.mkdir()
    (other / "notes.txt").write_text(OUTSIDE, encoding="utf-8")
    failed, text = await chat(client, files=[str(other / "notes.txt")])
    assert failed and text.startswith("FILE_NOT_ALLOWED: ")
    assert nothing_outside_sent(sim)


@pytest.mark.parametrize("name", ["Proj", "proj", "PROJ"])
async def test_with_macos_rules_another_spelling_of_the_allowed_directory_reads_it(
    settings: Settings, sim: Simulator, project: Path, macos_rules: None, name: str
) -> None:
    # What a case-insensitive volume does: both spellings name the one directory.
    if name != "Proj":
        spelled(project, name).symlink_to(project)
    async with serving(settings, project) as client:
        failed, text = await chat(client, files=[str(spelled(project, name) / "notes.txt")])
    assert not failed, text
    assert chat_bodies(sim)[0]["input"][0]["content"].startswith(f'<file path="{project / "notes.txt"}">\ninside')


@pytest.mark.parametrize("name", ["proj", "PROJ"])
async def test_with_macos_rules_a_look_alike_directory_that_is_another_one_is_refused(
    settings: Settings, sim: Simulator, project: Path, macos_rules: None, name: str
) -> None:
    # What a case-sensitive APFS volume does: `proj` is a directory of its own, outside.
    other = spelled(project, name)
    other.mkdir()
    (other / "notes.txt").write_text(OUTSIDE, encoding="utf-8")
    async with serving(settings, project) as client:
        failed, text = await chat(client, files=[str(other / "notes.txt")])
        missing = await chat(client, files=[str(spelled(project, "pRoJ") / "notes.txt")])
    assert failed and text.startswith("FILE_NOT_ALLOWED: ")
    assert missing[0] and missing[1].startswith("FILE_NOT_ALLOWED: ")
    assert nothing_outside_sent(sim)


async def test_with_macos_rules_nfc_and_nfd_spellings_are_checked_by_identity(
    settings: Settings, sim: Simulator, tmp_path: Path, macos_rules: None
) -> None:
    nfd, nfc = (unicodedata.normalize(form, "Café") for form in ("NFD", "NFC"))
    allowed = tmp_path / nfd
    allowed.mkdir()
    (allowed / "menu.txt").write_text("soup\n", encoding="utf-8")
    (tmp_path / nfc).symlink_to(allowed)  # a normalisation-insensitive volume: one directory
    async with serving(settings, allowed) as client:
        ok = await chat(client, files=[str(tmp_path / nfc / "menu.txt")])
        (tmp_path / nfc).unlink()
        (tmp_path / nfc).mkdir()  # a volume that keeps both: two directories
        (tmp_path / nfc / "menu.txt").write_text(OUTSIDE, encoding="utf-8")
        refused = await chat(client, files=[str(tmp_path / nfc / "menu.txt")])
    assert not ok[0], ok
    assert refused[0] and refused[1].startswith("FILE_NOT_ALLOWED: ")
    assert nothing_outside_sent(sim)


# --- 5. errors from the file system become FILE_UNREADABLE with advice ---------------------------------------------


async def test_a_permission_error_at_open_is_file_unreadable_with_advice(
    client: Client, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*_args: Any) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(policy, "open_beneath", denied)
    for key in ("files", "images"):
        failed, text = await chat(client, **{key: ["notes.txt"]})
        assert failed and text.startswith("FILE_UNREADABLE: 'notes.txt' cannot be read: Permission denied."), text
        assert permission_advice("linux") in text
    assert chat_bodies(sim) == []


async def test_an_io_error_while_reading_is_file_unreadable(
    client: Client, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(_opened: Opened, _limit: int) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(Opened, "read", failing)
    failed, text = await chat(client, files=["notes.txt"])
    assert failed and text.startswith("FILE_UNREADABLE: 'notes.txt' cannot be read: Input/output error."), text
    assert chat_bodies(sim) == []


# --- 6. reads run off the event loop ------------------------------------------------------------------------------


async def test_a_slow_read_does_not_hold_up_other_calls(
    client: Client, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    real_read: Callable[[Opened, int], bytes] = Opened.read

    def slow_read(opened: Opened, limit: int) -> bytes:
        started.set()
        release.wait(10)
        return real_read(opened, limit)

    monkeypatch.setattr(Opened, "read", slow_read)
    outcome: list[tuple[bool, str]] = []

    async def slow_call() -> None:
        outcome.append(await chat(client, files=["notes.txt"]))

    async with anyio.create_task_group() as group:
        group.start_soon(slow_call)
        try:
            await wait_for(started.is_set)
            with anyio.fail_after(5):
                other = await chat(client, prompt="Meanwhile.")
                listing = await client.call_tool("list_models", {})
            assert not other[0] and not listing.is_error
            assert not outcome  # the read is still blocked
        finally:
            release.set()
    assert outcome and not outcome[0][0], outcome


# --- 7. one budget per call: prompt, files and images ---------------------------------------------------------------


@pytest.fixture
async def small(settings: Settings, project: Path) -> AsyncIterator[Client]:
    """A server whose calls may send 1000 bytes, 600 of them per file."""
    (project / "half.txt").write_text("h" * 500, encoding="utf-8")
    (project / "pixel.png").write_bytes(PNG + b"\x00" * 470)  # 502 bytes
    async with serving(settings, project, max_file_bytes=600, max_total_file_bytes=1000) as connected:
        yield connected


async def test_image_data_urls_count_toward_the_per_call_budget(small: Client, sim: Simulator) -> None:
    image = data_url(PNG + b"\x00" * 470)
    failed, text = await chat(small, images=[image, image])
    assert failed and text.startswith("FILE_TOO_LARGE: Image 2 (a data URL) has 502 bytes, more than the 495 left")
    assert "LMS_MCP_MAX_TOTAL_FILE_BYTES" in text and "fewer or smaller images" in text
    mixed = await chat(small, files=["half.txt"], images=["pixel.png"])
    assert mixed[0] and "'pixel.png' has 502 bytes" in mixed[1]
    too_big = await chat(small, images=[data_url(PNG + b"\x00" * 700)])
    assert too_big[0] and too_big[1].startswith("FILE_TOO_LARGE: Image 1 (a data URL) has ")
    assert "LMS_MCP_MAX_FILE_BYTES" in too_big[1]
    assert not (await chat(small, images=[image]))[0]
    assert len(chat_bodies(sim)) == 1


async def test_the_prompt_counts_toward_the_per_call_budget(small: Client, sim: Simulator) -> None:
    failed, text = await chat(small, prompt="é" * 501)  # 1002 bytes in UTF-8
    assert failed and text.startswith("INVALID_ARGUMENT: The prompt has 1002 bytes, more than the 1000 left")
    assert "LMS_MCP_MAX_TOTAL_FILE_BYTES" in text and "shorter prompt" in text
    huge = await chat(small, prompt="x" * 50_000)
    assert huge[0] and huge[1].startswith("INVALID_ARGUMENT: The prompt has 50000 bytes")
    with_file = await chat(small, prompt="p" * 600, files=["half.txt"])
    assert with_file[0] and with_file[1].startswith("FILE_TOO_LARGE: 'half.txt' has 500 bytes, more than the 400 left")
    assert chat_bodies(sim) == []
    assert not (await chat(small, prompt="p" * 400, files=["half.txt"]))[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (data_url(SVG, "image/svg+xml"), "is not a PNG, JPEG, GIF or WebP image"),
        (data_url(b"hello", "text/plain"), "must be a path or a base64 image data URL"),
        ("data:image/png;base64,!!!", "is not valid base64"),
        ("data:image/png," + "x" * 10, "must be a path or a base64 image data URL"),
        (data_url(PNG)[:-4] + " \n" + data_url(PNG)[-4:], "is not valid base64"),
    ],
)
async def test_image_data_urls_must_really_be_images(client: Client, sim: Simulator, url: str, expected: str) -> None:
    failed, text = await chat(client, images=[url])
    assert failed and text.startswith("INVALID_ARGUMENT: Image 1 (a data URL) ") and expected in text, text
    assert chat_bodies(sim) == []


async def test_an_image_data_url_is_sent_with_the_type_its_bytes_show(client: Client, sim: Simulator) -> None:
    failed, text = await chat(client, images=[data_url(JPEG, "image/png"), data_url(PNG, "IMAGE/PNG")])
    assert not failed, text
    sent = [item["data_url"] for item in chat_bodies(sim)[0]["input"][:2]]
    assert sent == [data_url(JPEG, "image/jpeg"), data_url(PNG)]


async def test_over_stdio_a_prompt_over_the_budget_is_refused_before_lm_studio(sim_url: str, sim: Simulator) -> None:
    env = child_env(LMSTUDIO_BASE_URL=sim_url, LMS_MCP_MAX_TOTAL_FILE_BYTES="100000")
    async with Client(StdioServerParameters(command=lms_mcp_command(), env=env)) as client:
        result = await client.call_tool("chat", {"prompt": "x" * 200_000, "model": MODEL})
        assert result.is_error and text_of(result).startswith("INVALID_ARGUMENT: The prompt has 200000 bytes")
        fits = await client.call_tool("chat", {"prompt": "x" * 90_000, "model": MODEL})
        assert not fits.is_error
    assert [len(body["input"]) for body in chat_bodies(sim)] == [90_000]


# --- the sandbox API other tools build on ------------------------------------------------------------------------


def test_opening_gives_the_descriptor_real_path_and_stat(project: Path, method: Method) -> None:
    sandbox = Sandbox.create((str(project),), 1000, 1000)
    (project / "link").symlink_to("notes.txt")
    with sandbox.open("link") as opened:
        assert opened.path == str(project / "notes.txt")
        assert opened.stat.st_size == len("inside\n") and opened.read(3) == b"ins"
        fd = opened.fd
    with pytest.raises(OSError):
        os.fstat(fd)  # closed on leaving the block
    with sandbox.open("src", directory=True) as opened:
        assert opened.path == str(project / "src")
    with pytest.raises(FileRefused) as refusal:
        sandbox.open("notes.txt", directory=True)
    assert refusal.value.kind == "unreadable"


def test_listing_a_directory_reports_symlinks_without_following_them(
    project: Path, tmp_path: Path, method: Method
) -> None:
    (project / "out").symlink_to(tmp_path / "secret.txt")
    (project / "outdir").symlink_to(tmp_path)
    os.mkfifo(project / "pipe")
    sandbox = Sandbox.create((str(project),), 1000, 1000)
    path, entries = sandbox.list_dir(".")
    assert path == str(project)
    assert [(e.name, e.kind, e.size) for e in entries] == [
        ("notes.txt", "file", 7),
        ("out", "symlink", 0),
        ("outdir", "symlink", 0),
        ("pipe", "other", 0),
        ("src", "directory", 0),
    ]
    with pytest.raises(FileRefused) as refusal:
        sandbox.list_dir("outdir")
    assert refusal.value.kind == "not_allowed"
    assert sandbox.list_dir("src")[1][0].name == "app.py"


def test_no_file_system_access_before_the_lexical_check_passes(
    project: Path, monkeypatch: pytest.MonkeyPatch, method: Method
) -> None:
    sandbox = Sandbox.create((str(project),), 1000, 1000)
    touched: list[str] = []

    def opening(*_args: object) -> tuple[int, str]:
        touched.append("open")
        raise AssertionError("opened")

    def comparing(*_args: object) -> bool:
        touched.append("stat")
        return False

    monkeypatch.setattr(policy, "open_beneath", opening)
    monkeypatch.setattr(policy, "_same_file", comparing)
    for path in ["/etc/shadow", "../secret.txt", "//host/share/x", str(project) + "2/x"]:
        with pytest.raises(FileRefused):
            sandbox.open(path)
    assert touched == []


def test_on_a_kernel_without_openat2_the_walk_takes_over(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    def missing(_dir_fd: int, path: bytes, _how: object) -> int:
        calls.append(path)
        ctypes.set_errno(errno.ENOSYS)
        return -1

    monkeypatch.setattr(opening, "_openat2", missing)
    sandbox = Sandbox.create((str(project),), 1000, 1000)
    for _ in range(2):
        with sandbox.open("src/app.py") as opened:
            assert opened.read(5) == b"print"
    assert calls == [b"src/app.py"]  # asked once, then not again
    assert opening.default_method() == "walk"


def test_without_the_systems_word_on_where_a_file_lives_only_a_file_opened_by_name_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unknown(_fd: int) -> str | None:
        return None

    monkeypatch.setattr(policy, "descriptor_path", unknown)
    sandbox = Sandbox.create((str(project),), 1000, 1000)
    (project / "link").symlink_to("src/app.py")
    with replace(sandbox, method="walk").open("link") as opened:
        assert opened.path == str(project / "src" / "app.py")  # the walk knows the real path
    with pytest.raises(FileRefused) as refusal:
        replace(sandbox, method="name").open("notes.txt")
    assert refusal.value.kind == "unreadable" and "cannot be read safely here" in str(refusal.value)
