"""One Office document to PDF with LibreOffice headless, isolated per run.

Every run gets its own temporary folder holding a fresh LibreOffice profile (so runs never share
a lock, a cache or settings), the input and the output. The profile starts from
`registrymodifications.xcu` (macros disabled, no link updates) and fontconfig reads `fonts.conf`
(Chinese Office fonts -> Noto CJK SC). The process runs in its own process group, in a network
namespace of its own when the kernel allows it (`unshare -rn`; otherwise HTTP goes to a dead
proxy), and the whole group is killed when it passes the time limit. Nothing of a run outlives
it: the folder is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FONTS_CONF = HERE / "fonts.conf"
REGISTRY = HERE / "registrymodifications.xcu"


class ConversionError(Exception):
    """LibreOffice could not convert; `code` is one of CONVERSION codes (see errors.py)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@functools.cache
def _unshare_prefix() -> tuple[str, ...]:
    """`unshare -rn` (no network at all) when this kernel lets an unprivileged process do it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        probe = subprocess.run(  # noqa: S603 - fixed arguments
            [unshare, "-rn", "true"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (unshare, "-rn") if probe.returncode == 0 else ()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def convert_to_pdf(
    data: bytes, extension: str, *, timeout: float, work_dir: str | None = None
) -> bytes:
    """The PDF LibreOffice makes of `data` (a file with `extension`, e.g. '.pptx').

    Raises ConversionError: `conversion_unavailable` (no LibreOffice installed),
    `conversion_timeout` (killed after `timeout` seconds), `conversion_failed` (LibreOffice
    produced no PDF: a damaged, password-protected or unsupported file).
    """
    soffice = soffice_path()
    if soffice is None:
        raise ConversionError("conversion_unavailable", "LibreOffice (soffice) is not installed")
    with tempfile.TemporaryDirectory(prefix="portal-convert-", dir=work_dir) as tmp:
        root = Path(tmp)
        profile = root / "profile"
        (profile / "user").mkdir(parents=True)
        shutil.copyfile(REGISTRY, profile / "user" / "registrymodifications.xcu")
        source = root / f"source{extension}"
        source.write_bytes(data)
        out = root / "out"
        out.mkdir()
        home = root / "home"
        home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "TMPDIR": str(root),
            "LANG": "C.UTF-8",
            "FONTCONFIG_FILE": str(FONTS_CONF),
            "SAL_USE_VCLPLUGIN": "svp",
            # with no network namespace, anything that still tries HTTP(S) gets nowhere
            "http_proxy": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
            "no_proxy": "",
        }
        command = [
            *_unshare_prefix(),
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--invisible",
            "--nologo",
            "--norestore",
            "--nolockcheck",
            "--nodefault",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(source),
        ]
        process = subprocess.Popen(  # noqa: S603 - no shell; our own arguments and file names
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills soffice.bin too
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise ConversionError(
                "conversion_timeout", f"LibreOffice took longer than {timeout:g} s"
            ) from None
        finally:
            _kill_group(process)  # whatever it left behind (an oosplash child) goes too
        pdf = out / "source.pdf"
        if not pdf.is_file() or pdf.stat().st_size == 0:
            detail = output.decode("utf-8", "replace").strip()[-500:]
            raise ConversionError("conversion_failed", detail or f"exit {process.returncode}")
        return pdf.read_bytes()
