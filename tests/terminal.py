"""Commands run with their stderr on a real pseudo-terminal, where progress bars are drawn."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios


def run_on_terminal(command: list[str], *, timeout: float = 120) -> tuple[int, str, str]:
    """Run ``command`` with stderr on a 100-column pseudo-terminal and stdout piped: its exit status,
    its stdout, and everything it sent the terminal."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:       # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out.decode(), shown.decode()


def screen(shown: str) -> list[str]:
    """The non-empty lines a terminal shows at the end: escape sequences applied as erasures and each
    line's carriage-return rewrites as overwrites (a bar that was cleared leaves nothing)."""
    lines = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).split("\r")[-1].rstrip()
             for line in shown.replace("\r\n", "\n").split("\n")]
    return [line for line in lines if line]
