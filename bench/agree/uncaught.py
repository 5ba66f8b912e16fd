"""Reads a config that is not there, tries a socket, runs /bin/true, then
dies of an uncaught exception (exit 1)."""

import contextlib
import json
import os
import socket
import subprocess


def load(path: str) -> dict[str, object]:
    with open(path) as f:
        return dict(json.load(f))


def main() -> None:
    os.stat("/etc/agree") if os.path.exists("/etc/agree") else None
    with contextlib.suppress(FileNotFoundError):
        load("/etc/agree/settings.json")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with contextlib.suppress(ConnectionRefusedError):
        s.connect(("127.0.0.1", 9))
    s.close()
    subprocess.run(["/bin/true"], check=True)  # vfork and exec, where Python can
    config = load("/etc/agree/required.json")
    print(config)


main()
